// Runs the error path's reads of the host on a thread of its own: sock_diag,
// a walk of /proc or a CPU sample cost milliseconds on a busy host, and the
// consumer of the ring buffer must not spend them while a timeout storm
// fills it. Jobs wait in a bounded queue; one that finds it full is refused
// (the caller counts it).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "events/event.hpp"

namespace why502 {

class ProbeWorker {
 public:
  // What a job read, as an event for the engine, or nullopt (nothing to say).
  using Job = std::function<std::optional<Event>()>;
  struct Result {
    uint64_t ticket = 0;
    std::optional<Event> event;
  };

  explicit ProbeWorker(size_t queue_capacity);
  // Lets the job under way finish (a read is not interruptible), then joins.
  ~ProbeWorker();
  ProbeWorker(const ProbeWorker&) = delete;
  ProbeWorker& operator=(const ProbeWorker&) = delete;

  // Queues a job named by ticket (0: its result is not wanted); false when
  // the queue is full.
  bool submit(uint64_t ticket, Job job);
  // Appends the results ready so far to out, in the order they were asked for.
  void take_results(std::vector<Result>& out);
  // Blocks until a result is ready to take or until the deadline; true if one is.
  bool wait_for_result(std::chrono::steady_clock::time_point deadline);

 private:
  struct Request {
    uint64_t ticket;
    Job job;
  };
  void run();

  size_t capacity_;
  std::mutex mutex_;
  std::condition_variable requested_;
  std::condition_variable answered_;
  std::deque<Request> queue_;
  std::vector<Result> results_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts once everything above exists
};

}  // namespace why502

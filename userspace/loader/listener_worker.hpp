// Reads listeners' states on a thread of its own: sock_diag and a walk of
// /proc cost milliseconds on a busy host, and the consumer of the ring buffer
// must not spend them while a timeout storm fills it. Requests wait in a
// bounded queue; one that finds it full is refused (the caller counts it).
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

#include "why502_wire.h"

namespace why502 {

class ListenerWorker {
 public:
  // The listener serving addr as an event stamped ts_ns, or nullopt (none).
  using Probe = std::function<std::optional<w5_listener_state>(const w5_addr& addr, uint64_t ts_ns)>;
  struct Result {
    uint64_t ticket = 0;
    std::optional<w5_listener_state> state;
  };

  ListenerWorker(Probe probe, size_t queue_capacity);
  // Lets the probe under way finish (a probe is not interruptible), then joins.
  ~ListenerWorker();
  ListenerWorker(const ListenerWorker&) = delete;
  ListenerWorker& operator=(const ListenerWorker&) = delete;

  // Queues a probe named by ticket; false when the queue is full.
  bool submit(uint64_t ticket, const w5_addr& addr, uint64_t ts_ns);
  // Appends the results ready so far to out, in the order they were asked for.
  void take_results(std::vector<Result>& out);
  // Blocks until a result is ready to take or until the deadline; true if one is.
  bool wait_for_result(std::chrono::steady_clock::time_point deadline);

 private:
  struct Request {
    uint64_t ticket;
    w5_addr addr;
    uint64_t ts_ns;
  };
  void run();

  Probe probe_;
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

#include "loader/listener_worker.hpp"

namespace why502 {

ListenerWorker::ListenerWorker(Probe probe, size_t queue_capacity)
    : probe_(std::move(probe)), capacity_(queue_capacity), thread_([this] { run(); }) {}

ListenerWorker::~ListenerWorker() {
  {
    std::lock_guard<std::mutex> guard(mutex_);
    stopping_ = true;
  }
  requested_.notify_one();
  thread_.join();
}

bool ListenerWorker::submit(uint64_t ticket, const w5_addr& addr, uint64_t ts_ns) {
  {
    std::lock_guard<std::mutex> guard(mutex_);
    if (queue_.size() >= capacity_) return false;
    queue_.push_back(Request{ticket, addr, ts_ns});
  }
  requested_.notify_one();
  return true;
}

void ListenerWorker::take_results(std::vector<Result>& out) {
  std::lock_guard<std::mutex> guard(mutex_);
  out.insert(out.end(), results_.begin(), results_.end());
  results_.clear();
}

bool ListenerWorker::wait_for_result(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mutex_);
  return answered_.wait_until(lock, deadline, [this] { return !results_.empty(); });
}

void ListenerWorker::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    requested_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    const Request request = queue_.front();
    queue_.pop_front();
    lock.unlock();
    std::optional<w5_listener_state> state = probe_(request.addr, request.ts_ns);
    lock.lock();
    results_.push_back(Result{request.ticket, state});
    answered_.notify_all();
  }
}

}  // namespace why502

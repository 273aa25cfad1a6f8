#include "host/probe_worker.hpp"

namespace why502 {

ProbeWorker::ProbeWorker(size_t queue_capacity) : capacity_(queue_capacity), thread_([this] { run(); }) {}

ProbeWorker::~ProbeWorker() {
  {
    std::lock_guard<std::mutex> guard(mutex_);
    stopping_ = true;
  }
  requested_.notify_one();
  thread_.join();
}

bool ProbeWorker::submit(uint64_t ticket, Job job) {
  {
    std::lock_guard<std::mutex> guard(mutex_);
    if (queue_.size() >= capacity_) return false;
    queue_.push_back(Request{ticket, std::move(job)});
  }
  requested_.notify_one();
  return true;
}

void ProbeWorker::take_results(std::vector<Result>& out) {
  std::lock_guard<std::mutex> guard(mutex_);
  out.insert(out.end(), std::make_move_iterator(results_.begin()), std::make_move_iterator(results_.end()));
  results_.clear();
}

bool ProbeWorker::wait_for_result(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mutex_);
  return answered_.wait_until(lock, deadline, [this] { return !results_.empty(); });
}

void ProbeWorker::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    requested_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    Request request = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    std::optional<Event> event = request.job();
    lock.lock();
    if (request.ticket == 0) continue;  // done for its effect alone
    results_.push_back(Result{request.ticket, std::move(event)});
    answered_.notify_all();
  }
}

}  // namespace why502

#include "loader/listener_pipeline.hpp"

#include <chrono>

#include "events/anonymise.hpp"
#include "output/clock.hpp"

namespace why502 {

ListenerPipeline::ListenerPipeline(Sink sink, ListenerWorker::Probe probe, Options options)
    : sink_(std::move(sink)), options_(options), worker_(std::move(probe), options.queue_capacity) {}

void ListenerPipeline::push(const Event& event, std::span<const uint8_t> bytes, uint64_t now_ns) {
  if (const std::optional<w5_addr> target = watch_.due(event)) {
    const uint64_t ticket = next_ticket_++;
    if (worker_.submit(ticket, *target, header_of(event).ts_ns)) {
      ++counts_.asked;
      held_.push_back(Held{ticket, now_ns + options_.wait_ns, {}});
    } else {
      ++counts_.queue_full;
    }
  }
  if (held_.empty()) {
    sink_(event, bytes);  // the usual case: nothing to wait for, nothing copied
    return;
  }
  held_.push_back(Held{0, 0, event});
  release(now_ns);
}

void ListenerPipeline::pass(const Event& event, std::span<const uint8_t> bytes) {
  if (held_.empty())
    sink_(event, bytes);
  else
    held_.push_back(Held{0, 0, event});
}

void ListenerPipeline::release(uint64_t now_ns) {
  worker_.take_results(taken_);
  for (ListenerWorker::Result& result : taken_) {
    if (given_up_.erase(result.ticket)) {
      // Too late for the event that asked, still news for the next timeouts
      // on that listener: it goes where it is now.
      if (result.state) {
        const Event event = *result.state;
        pass(event, event_bytes(event));
      }
      continue;
    }
    answered_[result.ticket] = result.state;
  }
  taken_.clear();
  while (!held_.empty()) {
    Held& front = held_.front();
    if (front.ticket != 0) {
      if (auto it = answered_.find(front.ticket); it != answered_.end()) {
        ++counts_.in_time;
        const std::optional<w5_listener_state> state = it->second;
        answered_.erase(it);
        held_.pop_front();
        if (state) {
          const Event event = *state;
          sink_(event, event_bytes(event));
        }
        continue;
      }
      if (now_ns < front.deadline_ns && held_.size() <= options_.max_waiting_events) return;
      ++counts_.late;
      given_up_.insert(front.ticket);
      held_.pop_front();
      continue;
    }
    const Event event = std::move(front.event);
    held_.pop_front();
    sink_(event, event_bytes(event));
  }
}

void ListenerPipeline::finish() {
  while (true) {
    const uint64_t now = monotonic_now_ns();
    release(now);
    if (held_.empty()) return;
    // The front is a probe not yet answered: wait for an answer or its deadline.
    const uint64_t left_ns = held_.front().deadline_ns > now ? held_.front().deadline_ns - now : 0;
    if (!worker_.wait_for_result(std::chrono::steady_clock::now() + std::chrono::nanoseconds(left_ns)))
      release(held_.front().deadline_ns);  // gives up on it
  }
}

}  // namespace why502

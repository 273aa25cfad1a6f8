#include "host/probe_pipeline.hpp"

#include <chrono>

#include "events/anonymise.hpp"
#include "output/clock.hpp"

namespace why502 {

ProbePipeline::ProbePipeline(Sink sink, ListenerProbe listener_probe, Options options)
    : sink_(std::move(sink)),
      listener_probe_(std::move(listener_probe)),
      options_(options),
      worker_(options.queue_capacity) {}

void ProbePipeline::ask(ProbeKind kind, ProbeWorker::Job job, uint64_t now_ns) {
  const uint64_t ticket = next_ticket_++;
  if (!worker_.submit(ticket, std::move(job))) {
    ++count(kind).queue_full;
    return;
  }
  ++count(kind).asked;
  held_.push_back(Held{ticket, now_ns + options_.wait_ns, kind, {}});
}

void ProbePipeline::push(const Event& event, std::span<const uint8_t> bytes, uint64_t now_ns) {
  if (const std::optional<w5_addr> target = watch_.due(event)) {
    const uint64_t ts_ns = header_of(event).ts_ns;
    ask(ProbeKind::listener,
        [this, addr = *target, ts_ns]() -> std::optional<Event> {
          if (std::optional<w5_listener_state> state = listener_probe_(addr, ts_ns)) return Event(*state);
          return std::nullopt;
        },
        now_ns);
  }
  hold_or_pass(event, bytes, now_ns);
}

bool ProbePipeline::run_in_background(ProbeWorker::Job job) { return worker_.submit(0, std::move(job)); }

void ProbePipeline::hold_or_pass(const Event& event, std::span<const uint8_t> bytes, uint64_t now_ns) {
  if (held_.empty()) {
    sink_(event, bytes);  // the usual case: nothing to wait for, nothing copied
    return;
  }
  held_.push_back(Held{0, 0, ProbeKind::listener, event});
  release(now_ns);
}

void ProbePipeline::pass(const Event& event, std::span<const uint8_t> bytes) {
  if (held_.empty())
    sink_(event, bytes);
  else
    held_.push_back(Held{0, 0, ProbeKind::listener, event});
}

void ProbePipeline::release(uint64_t now_ns) {
  worker_.take_results(taken_);
  for (ProbeWorker::Result& result : taken_) {
    if (given_up_.erase(result.ticket)) {
      // Too late for the event that asked, still news for what follows (the
      // next timeouts on that listener): it goes where it is now.
      if (result.event) pass(*result.event, event_bytes(*result.event));
      continue;
    }
    answered_[result.ticket] = std::move(result.event);
  }
  taken_.clear();
  while (!held_.empty()) {
    Held& front = held_.front();
    if (front.ticket != 0) {
      if (auto it = answered_.find(front.ticket); it != answered_.end()) {
        ++count(front.kind).in_time;
        const std::optional<Event> read = std::move(it->second);
        answered_.erase(it);
        held_.pop_front();
        if (read) sink_(*read, event_bytes(*read));
        continue;
      }
      if (now_ns < front.deadline_ns && held_.size() <= options_.max_waiting_events) return;
      ++count(front.kind).late;
      given_up_.insert(front.ticket);
      held_.pop_front();
      continue;
    }
    const Event event = std::move(front.event);
    held_.pop_front();
    sink_(event, event_bytes(event));
  }
}

void ProbePipeline::finish() {
  while (true) {
    const uint64_t now = monotonic_now_ns();
    release(now);
    if (held_.empty()) return;
    // The front is a read not yet answered: wait for an answer or its deadline.
    const uint64_t left_ns = held_.front().deadline_ns > now ? held_.front().deadline_ns - now : 0;
    if (!worker_.wait_for_result(std::chrono::steady_clock::now() + std::chrono::nanoseconds(left_ns)))
      release(held_.front().deadline_ns);  // gives up on it
  }
}

}  // namespace why502

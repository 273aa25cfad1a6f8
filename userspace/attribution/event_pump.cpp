#include "attribution/event_pump.hpp"

#include <utility>

#include "events/anonymise.hpp"

namespace why502 {

EventPump::EventPump(Engine& engine, Options options) : engine_(engine), options_(std::move(options)) {}

std::optional<EventPump::Taken> EventPump::take(std::span<const uint8_t> bytes) {
  decoded_ = decode_event(bytes);
  bool rewritten = false;
  if (decoded_) {
    if (const auto* log = std::get_if<w5_ngx_log>(&decoded_.value())) {
      log_repeats_.remember(*log);
    } else if (const auto* repeat = std::get_if<w5_ngx_log_repeat>(&decoded_.value())) {
      Result<w5_ngx_log> whole = log_repeats_.expand(*repeat);
      decoded_ = whole ? Result<Event>{Event{whole.value()}} : Result<Event>{Error{whole.error()}};
      repeats_ += whole.ok();
      rewritten = true;
    }
  }
  if (!decoded_) {
    if (undecodable_++ == 0 && options_.on_first_undecodable) options_.on_first_undecodable(decoded_.error());
    return std::nullopt;
  }
  if (options_.anonymise_clients) {
    anonymise_clients(decoded_.value());
    rewritten = true;
  }
  if (rewritten) bytes = event_bytes(decoded_.value());
  return Taken{decoded_.value(), bytes};
}

void EventPump::deliver(const Event& event, std::span<const uint8_t> bytes) {
  if (options_.on_event) options_.on_event(bytes);
  if (options_.lag_clock) lag_.add(header_of(event).ts_ns, options_.lag_clock());
  engine_.handle(event, records_);
}

void EventPump::flush(uint64_t now_ns) { engine_.flush(now_ns, records_); }

void EventPump::finish() { engine_.finish(records_); }

std::vector<Record> EventPump::take_records() { return std::exchange(records_, {}); }

}  // namespace why502

#include "cli/host_reads.hpp"

#include <cerrno>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "events/address.hpp"
#include "events/anonymise.hpp"
#include "host/listener_probe.hpp"
#include "host/nginx_format.hpp"
#include "output/clock.hpp"

namespace why502 {
namespace {

// Pending requests are read in nginx's memory once a second when they were
// last logged this long ago (a retry that works takes less), at most this
// many a second (a few system calls per worker for all of them).
constexpr uint64_t kPendingCheckMinAgeNs = 1'000'000'000ull;
constexpr size_t kPendingChecksPerSecond = 8192;

}  // namespace

HostReads::HostReads(ProbePipeline::Sink deliver, bool anonymise_clients)
    : anonymise_clients_(anonymise_clients),
      pipeline_(
          std::move(deliver),
          [prober = ListenerProber()](const w5_addr& addr, uint64_t ts_ns) mutable { return prober.probe(addr, ts_ns); },
          ProbePipeline::Options{}) {}

void HostReads::push_made(const Event& made, uint64_t now_ns) { pipeline_.push(made, event_bytes(made), now_ns); }

void HostReads::push(const Event& event, std::span<const uint8_t> bytes) {
  // nginx's words the uprobe could not read: read where they stay, before
  // anything (a recording included) takes the event.
  if (const auto* log = std::get_if<w5_ngx_log>(&event); log && format_unread(*log)) {
    w5_ngx_log read = *log;
    if (read_unread_format(read)) {
      const Event completed = read;
      push_read(completed, event_bytes(completed));
      return;
    }
  }
  push_read(event, bytes);
}

void HostReads::push_read(const Event& event, std::span<const uint8_t> bytes) {
  const uint64_t now_ns = monotonic_now_ns();
  // An nginx process seen for the first time: its cgroup goes first, once.
  if (std::holds_alternative<w5_ngx_log>(event) || std::holds_alternative<w5_ngx_error_page>(event) ||
      std::holds_alternative<w5_client_response>(event)) {
    const w5_header& h = header_of(event);
    if (auto cgroup = backends_.first_sight(h.tgid, h.ts_ns)) push_made(*cgroup, now_ns);
  }
  // A timeout: what the backend is doing is read now, off this thread,
  // and reaches the engine before nginx's words (once a second per worker
  // and upstream at most, by the kernel's clock: events arrive in batches).
  if (const auto* log = std::get_if<w5_ngx_log>(&event);
      log && log->err == ETIMEDOUT && backends_.due(*log, log->h.ts_ns)) {
    const uint64_t sent_ns = session_ ? session_->in_flight_sent_ns(log->upstream_sk) : 0;
    pipeline_.ask(
        ProbeKind::backend,
        [&backends = backends_, log = *log, sent_ns, anonymise = anonymise_clients_]() -> std::optional<Event> {
          std::optional<w5_backend_state> state = backends.probe(log, monotonic_now_ns(), sent_ns);
          if (!state) return std::nullopt;
          Event made = *state;
          if (anonymise) anonymise_clients(made);
          return made;
        },
        now_ns);
  }
  // No free local port: what holds them is read now, before nginx's words
  // reach the engine (rare, and at most once a second per upstream).
  if (const auto* log = std::get_if<w5_ngx_log>(&event); log && log->err == EADDRNOTAVAIL) {
    if (auto usage = ports_.probe(static_cast<pid_t>(log->h.tgid), wire_view(log->peer), now_ns))
      push_made(*usage, now_ns);
  }
  // A unix socket nginx may not open: what keeps its user out (rare, and at
  // most once a second per socket).
  if (const auto* log = std::get_if<w5_ngx_log>(&event); log && log->err == EACCES) {
    if (auto file = socket_files_.probe(static_cast<pid_t>(log->h.tgid), wire_view(log->peer), now_ns))
      push_made(*file, now_ns);
  }
  pipeline_.push(event, bytes, now_ns);
}

void HostReads::check_pending_requests(const Engine& engine, RequestLiveness& liveness) {
  const uint64_t now_ns = monotonic_now_ns();
  const std::vector<PendingRequestRef> pending =
      engine.pending_older_than(now_ns, kPendingCheckMinAgeNs, kPendingChecksPerSecond);
  if (pending.empty()) return;
  for (const w5_request_ended& ended : liveness.ended(pending, now_ns)) push_made(ended, now_ns);
  if (std::string warning = liveness.take_warning(); !warning.empty())
    std::fprintf(stderr, "why502: warning: %s\n", warning.c_str());
}

void HostReads::read_waiting_backends() {
  if (!session_) return;
  const uint64_t now_ns = monotonic_now_ns();
  for (const WaitingUpstreamRequest& r : session_->waiting_upstream_requests(
           now_ns, BackendProber::kBaselineAfterNs, BackendProber::kBaselinesPerSecond,
           [this](const WaitingUpstreamRequest& w) { return backends_.first_look(w); }))
    pipeline_.run_in_background([&backends = backends_, r]() -> std::optional<Event> {
      backends.note_waiting(r, monotonic_now_ns());
      return std::nullopt;
    });
}

void HostReads::release() { pipeline_.release(monotonic_now_ns()); }

}  // namespace why502

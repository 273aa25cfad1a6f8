// What the live session reads of the host on the error path, as events of
// their own, put into the stream ahead of the event that asked for them: an
// nginx process's cgroup the first time it is seen, what a backend is doing
// when nginx timed out on it (and has used while nginx waited), what holds the
// local ports when none was free, which pending requests are over, and (in
// ProbePipeline) a listener's queue. Slow reads run on the pipeline's worker.
#pragma once

#include <cstdint>
#include <span>

#include "attribution/engine.hpp"
#include "events/event.hpp"
#include "host/backend_state.hpp"
#include "host/port_usage.hpp"
#include "host/probe_pipeline.hpp"
#include "host/socket_file.hpp"
#include "loader/probe_session.hpp"
#include "host/request_liveness.hpp"

namespace why502 {

class HostReads {
 public:
  // deliver: each event in the order the engine is to see it.
  HostReads(ProbePipeline::Sink deliver, bool anonymise_clients);

  // The loaded probes: their slots tell which request is in flight or waiting.
  void use_session(const ProbeSession& session) { session_ = &session; }
  // Without CAP_SYS_ADMIN, what reads another network namespace's port range.
  void read_other_namespaces_with(PortUsageProber::RangeReader reader) {
    ports_.read_other_namespaces_with(std::move(reader));
  }

  // An event from the ring buffer (anonymised when asked), after what it
  // makes worth reading.
  void push(const Event& event, std::span<const uint8_t> bytes);
  // Once a second: the pending requests read to be over leave the engine's
  // table (W5_EV_REQUEST_ENDED, recorded like the rest).
  void check_pending_requests(const Engine& engine, RequestLiveness& liveness);
  // Once a second: requests waiting long on a backend of this host; what it
  // has used so far is read off this thread, so that a timeout can tell its
  // CPU over the wait.
  void read_waiting_backends();

  // As ProbePipeline's.
  void release();
  bool waiting() const { return pipeline_.waiting(); }
  void finish() { pipeline_.finish(); }
  const ProbeCounts& counts(ProbeKind kind) const { return pipeline_.counts(kind); }

 private:
  // An event made here (not from the ring buffer), with its wire bytes.
  void push_made(const Event& made, uint64_t now_ns);
  // push(), once the event is whole.
  void push_read(const Event& event, std::span<const uint8_t> bytes);

  const bool anonymise_clients_;
  const ProbeSession* session_ = nullptr;
  // Used by the pipeline's worker (probe, note_waiting) and by this thread
  // (due, first_look, first_sight): see its header. Outlives the worker.
  BackendProber backends_;
  PortUsageProber ports_;
  SocketFileProber socket_files_;
  ProbePipeline pipeline_;  // last: its worker stops first
};

}  // namespace why502

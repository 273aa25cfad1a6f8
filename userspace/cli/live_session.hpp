// What `trace` and `record` share: check the host, load and attach the probes,
// follow nginx processes, feed every event to the engine, until stopped.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "attribution/engine.hpp"
#include "attribution/record.hpp"
#include "host/probe_pipeline.hpp"
#include "output/consumer_lag.hpp"
#include "output/kernel_tables.hpp"
#include "output/metrics.hpp"

namespace CLI {
class App;
}

namespace why502 {

struct LiveOptions {
  double duration_s = 0;
  std::vector<pid_t> pids;
  std::vector<std::string> nginx_binaries;
  bool no_uprobes = false;  // kernel-only attribution, as with a stripped nginx
  bool measure_connect = false;  // serve --connect-latency
  bool lean = false;  // --lean: only hooks that fire when something fails
  bool capture_request = false;  // --capture-request: the request line in records
  bool anonymise_clients = false;  // --anonymise-clients: client addresses cut to /24 (IPv4), /48 (IPv6)
  size_t max_pending_requests = EngineOptions{}.max_pending_requests;  // serve --max-pending
  int verbosity = 0;
};

// How the session is doing, for views that show it.
struct LiveStatus {
  uint64_t events = 0;
  uint64_t gateway_errors = 0;
  uint64_t lost = 0;  // events that could not be delivered, all reasons
  uint64_t lost_ringbuf_full = 0;
  uint64_t lost_map_full = 0;
  uint64_t lost_slot_taken = 0;
  uint64_t undecodable = 0;
  ConsumerLag lag;  // event to engine
  ProbeCounts listener_probes;
  ProbeCounts backend_probes;
  EngineStats engine;
  size_t max_pending_requests = 0;
  std::vector<NginxBinaryHealth> nginx_binaries;  // read failures and layout checks
};

struct LiveHooks {
  // Every event the engine sees, as wire bytes (those made in userspace too).
  std::function<void(std::span<const uint8_t>)> on_event;
  std::function<void(const Record&)> on_record;
  // After each batch of records handed to on_record (where sinks flush).
  std::function<void()> on_records_delivered;
  // About ten times a second, and once more at the end.
  std::function<void(const LiveStatus&)> on_tick;
  // Asked after each tick: true ends the session (as SIGINT does).
  std::function<bool()> should_stop;
  // Once attached: a function that reads the latency histograms and map fill
  // levels (walking the maps takes milliseconds, so a reader calls it from its
  // own thread, e.g. at scrape time, not the event loop). Called again with
  // an empty function before the probes go away.
  std::function<void(std::function<KernelTables()>)> on_tables_reader;
  // Once every probe is attached (when "ready" is printed).
  std::function<void()> on_ready;
};

// The options `trace` and `record` share.
void add_live_options(CLI::App& command, LiveOptions& options);
// Throws FatalError for what would stop run_live before it traces anything
// (privileges, BTF, --nginx-binary, --pid), so a command can check before it
// creates files.
void check_live_options(const LiveOptions& options);
// Throws FatalError for what the user must fix; returns when stopped.
void run_live(const LiveOptions& options, const LiveHooks& hooks);

}  // namespace why502

// Prometheus metrics for `why502 serve`, in the text exposition format.
// Label cardinality is bounded: past max_upstreams distinct upstreams, new
// ones are counted as "other".
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "attribution/record.hpp"
#include "output/consumer_lag.hpp"
#include "output/kernel_tables.hpp"

namespace why502 {

// The engine's table of requests with failed attempts awaiting their outcome.
struct PendingTable {
  uint64_t requests = 0;
  uint64_t capacity = 0;
  uint64_t evicted = 0;     // dropped because the table was full
  uint64_t superseded = 0;  // ended without an error page (their memory or client socket was reused)
  uint64_t expired = 0;     // older than the engine keeps them
  uint64_t ended = 0;       // read in nginx's memory to be over (no error page)
};

// What the uprobes found of one nginx binary's struct layout.
struct NginxBinaryHealth {
  std::string binary;          // its path
  uint64_t read_failures = 0;  // reads of nginx's memory that failed
  uint64_t checked = 0;        // events whose live layout checks passed
  bool check_failed = false;   // a check failed: uprobes detached, kernel-only
};

struct ProbeHealth {
  uint64_t events = 0;
  uint64_t lost_ringbuf_full = 0;
  uint64_t lost_map_full = 0;
  uint64_t lost_undecodable = 0;
  uint64_t lost_slot_taken = 0;
  ConsumerLag lag;  // event to engine
  uint64_t listener_probes = 0;             // asked of the worker
  uint64_t listener_probes_queue_full = 0;  // skipped: its queue was full
  uint64_t listener_probes_late = 0;        // skipped: the events went on without them
  uint64_t backend_probes = 0;              // the same for reads of what a backend was doing
  uint64_t backend_probes_queue_full = 0;
  uint64_t backend_probes_late = 0;
  PendingTable pending;
  std::vector<NginxBinaryHealth> nginx_binaries;
};

class Metrics {
 public:
  explicit Metrics(size_t max_upstreams = 50) : max_upstreams_(max_upstreams) {}

  void add(const Record& record);
  // The latest read of the kernel's tables (histograms are cumulative there).
  void set_kernel_tables(const KernelTables& tables);
  // The whole exposition; process figures come from /proc/self.
  std::string render(const ProbeHealth& health) const;

 private:
  std::string upstream_label(const std::string& upstream);

  size_t max_upstreams_;
  std::set<std::string> upstreams_;
  std::map<std::tuple<std::string, std::string, std::string>, uint64_t> gateway_errors_;     // status, cause, upstream
  std::map<std::tuple<std::string, std::string, std::string>, uint64_t> upstream_failures_;  // cause, upstream, outcome
  std::map<std::string, uint64_t> records_;                                                  // by type
  std::map<std::pair<uint32_t, std::string>, UpstreamLatency> latencies_;                    // kind, upstream label
  std::vector<MapFill> maps_;
  uint64_t latency_dropped_ = 0;
};

}  // namespace why502

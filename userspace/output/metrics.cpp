#include "output/metrics.hpp"

#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string_view>

namespace why502 {
namespace {

std::string label_value(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

// utime+stime (clock ticks) and resident pages of this process.
std::pair<double, uint64_t> own_cpu_and_rss() {
  double cpu = 0;
  uint64_t rss = 0;
  std::ifstream stat("/proc/self/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  auto close = text.rfind(')');
  if (close != std::string::npos) {
    std::istringstream fields(text.substr(close + 2));
    std::string f;
    unsigned long long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && fields >> f; ++i) {
      if (i == 14) utime = std::stoull(f);
      if (i == 15) stime = std::stoull(f);
    }
    cpu = static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
  }
  std::ifstream statm("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  if (statm >> size >> resident) rss = resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  return {cpu, rss};
}

}  // namespace

std::string Metrics::upstream_label(const std::string& upstream) {
  const std::string name = upstream.empty() ? "-" : upstream;
  if (upstreams_.count(name)) return name;
  if (upstreams_.size() >= max_upstreams_) return "other";
  upstreams_.insert(name);
  return name;
}

void Metrics::add(const Record& r) {
  ++records_[std::string(record_type_name(r.type))];
  if (r.type == RecordType::gateway_error) {
    ++gateway_errors_[{std::to_string(r.status), std::string(cause_name(r.cause)), upstream_label(r.upstream)}];
    // The last attempt failed the client; nginx moved on from the others.
    for (size_t i = 0; i < r.attempts.size(); ++i) {
      const bool last = i + 1 == r.attempts.size();
      ++upstream_failures_[{std::string(cause_name(r.attempts[i].cause)), upstream_label(r.attempts[i].upstream),
                            last ? "error" : "retried"}];
    }
  } else {
    for (const Attempt& a : r.attempts)
      ++upstream_failures_[{std::string(cause_name(a.cause)), upstream_label(a.upstream), std::string(record_type_name(r.type))}];
  }
}

void Metrics::set_kernel_tables(const KernelTables& tables) {
  latencies_.clear();
  for (const UpstreamLatency& l : tables.latencies) {
    UpstreamLatency& folded = latencies_[{l.kind, upstream_label(l.upstream)}];
    for (size_t i = 0; i < l.buckets.size(); ++i) folded.buckets[i] += l.buckets[i];
    folded.sum_ns += l.sum_ns;
  }
  maps_ = tables.maps;
  latency_dropped_ = tables.latency_dropped;
}

namespace {

void render_histograms(std::ostringstream& out, const char* name, const char* help, uint32_t kind,
                       const std::map<std::pair<uint32_t, std::string>, UpstreamLatency>& latencies) {
  out << "# HELP " << name << " " << help << "\n# TYPE " << name << " histogram\n";
  for (const auto& [key, l] : latencies) {
    if (key.first != kind) continue;
    const std::string upstream = label_value(key.second);
    uint64_t cumulative = 0;
    for (size_t i = 0; i < l.buckets.size(); ++i) {
      cumulative += l.buckets[i];
      std::ostringstream le;
      if (i < kLatencyBoundsUs.size())
        le << static_cast<double>(kLatencyBoundsUs[i]) / 1e6;
      else
        le << "+Inf";
      out << name << "_bucket{upstream=\"" << upstream << "\",le=\"" << le.str() << "\"} " << cumulative << "\n";
    }
    out << name << "_sum{upstream=\"" << upstream << "\"} " << static_cast<double>(l.sum_ns) / 1e9 << "\n"
        << name << "_count{upstream=\"" << upstream << "\"} " << cumulative << "\n";
  }
}

void render_lag(std::ostringstream& out, const ConsumerLag& lag) {
  out << "# HELP why502_consumer_lag_seconds Time from an event's BPF timestamp to the engine taking it "
         "(ring-buffer wait and any hold in why502).\n# TYPE why502_consumer_lag_seconds histogram\n";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < lag.buckets().size(); ++i) {
    cumulative += lag.buckets()[i];
    out << "why502_consumer_lag_seconds_bucket{le=\"";
    if (i < ConsumerLag::kBoundsNs.size())
      out << static_cast<double>(ConsumerLag::kBoundsNs[i]) / 1e9;
    else
      out << "+Inf";
    out << "\"} " << cumulative << "\n";
  }
  out << "why502_consumer_lag_seconds_sum " << static_cast<double>(lag.sum_ns()) / 1e9 << "\n"
      << "why502_consumer_lag_seconds_count " << lag.count() << "\n";
}

}  // namespace

std::string Metrics::render(const ProbeHealth& h) const {
  std::ostringstream out;
  out << "# HELP why502_gateway_errors_total Gateway errors nginx sent, by status, cause and last upstream.\n"
      << "# TYPE why502_gateway_errors_total counter\n";
  for (const auto& [key, n] : gateway_errors_)
    out << "why502_gateway_errors_total{status=\"" << label_value(std::get<0>(key)) << "\",cause=\""
        << label_value(std::get<1>(key)) << "\",upstream=\"" << label_value(std::get<2>(key)) << "\"} " << n << "\n";
  out << "# HELP why502_upstream_failures_total Failed upstream attempts; outcome: error (the client got it), "
         "retried (nginx moved on), truncated (cut off after the header).\n"
      << "# TYPE why502_upstream_failures_total counter\n";
  for (const auto& [key, n] : upstream_failures_)
    out << "why502_upstream_failures_total{cause=\"" << label_value(std::get<0>(key)) << "\",upstream=\""
        << label_value(std::get<1>(key)) << "\",outcome=\"" << label_value(std::get<2>(key)) << "\"} " << n << "\n";
  out << "# HELP why502_records_total Records reported, by type.\n# TYPE why502_records_total counter\n";
  for (const auto& [type, n] : records_) out << "why502_records_total{type=\"" << label_value(type) << "\"} " << n << "\n";
  out << "# HELP why502_events_total Events read from the kernel.\n# TYPE why502_events_total counter\n"
      << "why502_events_total " << h.events << "\n"
      << "# HELP why502_events_lost_total Events that could not be delivered, by reason.\n"
      << "# TYPE why502_events_lost_total counter\n"
      << "why502_events_lost_total{reason=\"ringbuf_full\"} " << h.lost_ringbuf_full << "\n"
      << "why502_events_lost_total{reason=\"map_full\"} " << h.lost_map_full << "\n"
      << "why502_events_lost_total{reason=\"slot_taken\"} " << h.lost_slot_taken << "\n"
      << "why502_events_lost_total{reason=\"undecodable\"} " << h.lost_undecodable << "\n";
  render_lag(out, h.lag);
  out << "# HELP why502_listener_probes_total Reads of a listener's accept queue and owners after an upstream "
         "timeout.\n# TYPE why502_listener_probes_total counter\nwhy502_listener_probes_total "
      << h.listener_probes << "\n"
      << "# HELP why502_listener_probes_skipped_total Listener reads the records went without: queue_full (not "
         "read), late (read after the wait).\n# TYPE why502_listener_probes_skipped_total counter\n"
      << "why502_listener_probes_skipped_total{reason=\"queue_full\"} " << h.listener_probes_queue_full << "\n"
      << "why502_listener_probes_skipped_total{reason=\"late\"} " << h.listener_probes_late << "\n"
      << "# HELP why502_backend_probes_total Reads of what a backend on this host was doing after an upstream "
         "timeout.\n# TYPE why502_backend_probes_total counter\nwhy502_backend_probes_total "
      << h.backend_probes << "\n"
      << "# HELP why502_backend_probes_skipped_total Backend reads the records went without: queue_full (not "
         "read), late (read after the wait).\n# TYPE why502_backend_probes_skipped_total counter\n"
      << "why502_backend_probes_skipped_total{reason=\"queue_full\"} " << h.backend_probes_queue_full << "\n"
      << "why502_backend_probes_skipped_total{reason=\"late\"} " << h.backend_probes_late << "\n";
  out << "# HELP why502_pending_requests Requests with a failed upstream attempt whose outcome is not seen yet.\n"
      << "# TYPE why502_pending_requests gauge\nwhy502_pending_requests " << h.pending.requests << "\n"
      << "# HELP why502_pending_requests_capacity Requests the table of pending failures holds at most.\n"
      << "# TYPE why502_pending_requests_capacity gauge\nwhy502_pending_requests_capacity " << h.pending.capacity
      << "\n"
      << "# HELP why502_pending_requests_dropped_total Pending requests dropped, by reason: ended (read in "
         "nginx's memory to be over without an error page, e.g. retried), superseded (their memory or client "
         "socket went to a later request: ended too), expired, evicted (the table was full: a later error page "
         "of theirs lacks nginx's words).\n"
      << "# TYPE why502_pending_requests_dropped_total counter\n"
      << "why502_pending_requests_dropped_total{reason=\"ended\"} " << h.pending.ended << "\n"
      << "why502_pending_requests_dropped_total{reason=\"superseded\"} " << h.pending.superseded << "\n"
      << "why502_pending_requests_dropped_total{reason=\"expired\"} " << h.pending.expired << "\n"
      << "why502_pending_requests_dropped_total{reason=\"evicted\"} " << h.pending.evicted << "\n";
  render_histograms(out, "why502_upstream_connect_seconds",
                    "Time from nginx's TCP connect() to the request sent on that connection, by upstream.",
                    W5_LATENCY_CONNECT, latencies_);
  render_histograms(out, "why502_upstream_header_seconds",
                    "Time from the request sent to the first response bytes read, by upstream.", W5_LATENCY_HEADER,
                    latencies_);
  out << "# HELP why502_latency_samples_dropped_total Latency samples with no room left for their upstream.\n"
      << "# TYPE why502_latency_samples_dropped_total counter\nwhy502_latency_samples_dropped_total "
      << latency_dropped_ << "\n";
  out << "# HELP why502_bpf_map_entries Entries in each bounded BPF map.\n# TYPE why502_bpf_map_entries gauge\n";
  for (const MapFill& m : maps_) out << "why502_bpf_map_entries{map=\"" << label_value(m.name) << "\"} " << m.entries << "\n";
  out << "# HELP why502_bpf_map_capacity Capacity of each bounded BPF map (LRU maps evict the oldest when full).\n"
      << "# TYPE why502_bpf_map_capacity gauge\n";
  for (const MapFill& m : maps_) out << "why502_bpf_map_capacity{map=\"" << label_value(m.name) << "\"} " << m.capacity << "\n";
  out << "# HELP why502_nginx_read_failures_total Reads of nginx's memory that failed in the uprobes, by "
         "binary (a wrong struct offset shows here first).\n# TYPE why502_nginx_read_failures_total counter\n";
  for (const NginxBinaryHealth& b : h.nginx_binaries)
    out << "why502_nginx_read_failures_total{binary=\"" << label_value(b.binary) << "\"} " << b.read_failures << "\n";
  out << "# HELP why502_nginx_layout_check The live check of each binary's struct layout, one-hot by state: "
         "unchecked (no error seen yet), passed, failed (its uprobes detached: kernel-only attribution).\n"
      << "# TYPE why502_nginx_layout_check gauge\n";
  for (const NginxBinaryHealth& b : h.nginx_binaries) {
    const char* state = b.check_failed ? "failed" : b.checked ? "passed" : "unchecked";
    for (const char* s : {"unchecked", "passed", "failed"})
      out << "why502_nginx_layout_check{binary=\"" << label_value(b.binary) << "\",state=\"" << s << "\"} "
          << (std::string_view(s) == state ? 1 : 0) << "\n";
  }
  out << "# HELP why502_upstream_label_values Distinct upstream label values in use (capped; the rest is other).\n"
      << "# TYPE why502_upstream_label_values gauge\nwhy502_upstream_label_values " << upstreams_.size() << "\n";
  const auto [cpu, rss] = own_cpu_and_rss();
  out << "# HELP why502_process_cpu_seconds_total CPU time of why502 itself.\n"
      << "# TYPE why502_process_cpu_seconds_total counter\nwhy502_process_cpu_seconds_total " << cpu << "\n"
      << "# HELP why502_process_resident_memory_bytes Resident memory of why502 itself.\n"
      << "# TYPE why502_process_resident_memory_bytes gauge\nwhy502_process_resident_memory_bytes " << rss << "\n";
  return out.str();
}

}  // namespace why502

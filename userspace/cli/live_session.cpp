#include "cli/live_session.hpp"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "attribution/engine.hpp"
#include "attribution/event_pump.hpp"
#include "cli/cpu_courtesy.hpp"
#include "cli/host_reads.hpp"
#include "cli/nginx_follower.hpp"
#include "cli/option_checks.hpp"
#include "common/fatal_error.hpp"
#include "events/event.hpp"
#include "loader/capabilities.hpp"
#include "host/cgroup_id.hpp"
#include "host/nginx_discovery.hpp"
#include "host/nginx_layout.hpp"
#include "host/privileges.hpp"
#include "loader/probe_session.hpp"
#include "host/request_liveness.hpp"
#include "loader/uprobe_broker.hpp"
#include "output/clock.hpp"

namespace why502 {
namespace {

std::atomic<bool> g_stop{false};

void request_stop(int) { g_stop = true; }

// Hands the placing of later uprobes to a helper that alone keeps
// CAP_SYS_ADMIN; false (after a warning) when it cannot, and this process
// keeps CAP_SYS_ADMIN instead.
bool start_uprobe_broker(ProbeSession& session, int verbosity) {
  if (!has_capability(effective_capabilities(), kCapSysAdmin)) return false;  // uprobes are refused anyway
  Result<std::unique_ptr<UprobeBroker>> broker = UprobeBroker::start();
  if (!broker) {
    std::fprintf(stderr, "why502: warning: no uprobe helper (%s): why502 keeps CAP_SYS_ADMIN itself\n",
                 broker.error().c_str());
    return false;
  }
  if (verbosity > 0)
    std::fprintf(stderr, "why502: uprobe helper pid %d keeps CAP_SYS_ADMIN; this process drops it\n",
                 static_cast<int>(broker.value()->pid()));
  session.use_uprobe_broker(std::move(broker).value());
  return true;
}

void install_signal_handlers() {
  struct sigaction sa{};
  sa.sa_handler = request_stop;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}


// $WHY502_LAYOUT_OVERRIDE, a testing aid; throws FatalError when malformed.
std::optional<LayoutOverride> checked_layout_override() {
  auto parsed = layout_override_from_environment();
  if (!parsed) throw FatalError(parsed.error());
  return parsed.value();
}

// What run_live needs of its options, checked once.
struct CheckedOptions {
  std::vector<NginxProcess> chosen;  // --pid's processes
  std::optional<LayoutOverride> layout_override;
};

// Throws FatalError for what would stop run_live before it traces anything.
CheckedOptions check(const LiveOptions& options) {
  CheckedOptions checked;
  checked.layout_override = checked_layout_override();
  if (auto checked = check_privileges(); !checked) throw FatalError(checked.error());
  if (auto checked = check_btf(); !checked) throw FatalError(checked.error());
  for (const auto& path : options.nginx_binaries)
    if (auto checked = check_nginx_binary(path); !checked)
      throw FatalError("--nginx-binary " + path + ": " + checked.error() + "; give the path of an nginx executable");
  for (pid_t pid : options.pids) {
    auto p = nginx_process(pid);
    if (!p) throw FatalError("--pid " + std::to_string(pid) + ": " + p.error());
    checked.chosen.push_back(p.value());
  }
  return checked;
}

// chosen: --pid's processes, checked; none: every nginx.
std::vector<NginxProcess> processes_to_trace(const LiveOptions& options, std::vector<NginxProcess> chosen) {
  BinaryInodes forks = inodes_of(options.nginx_binaries);
  if (options.pids.empty()) return find_nginx_processes(forks);
  // Workers of a chosen master count as chosen: they run its binary, whatever their command.
  for (const NginxProcess& p : chosen) forks.insert({p.dev, p.ino});
  for (const NginxProcess& p : find_nginx_processes(forks)) {
    for (pid_t pid : options.pids)
      if (p.ppid == pid) chosen.push_back(p);
  }
  return chosen;
}

ProbeOptions probe_options_of(const LiveOptions& options) {
  ProbeOptions probe_options;
  probe_options.only_listed_processes = !options.pids.empty();
  probe_options.verbosity = options.verbosity;
  probe_options.measure_connect = options.measure_connect;
  probe_options.lean = options.lean;
  probe_options.capture_request_line = options.capture_request;
  return probe_options;
}

// The nginx running now, the binaries named, or (neither) the one on PATH.
void attach_first(NginxFollower& nginx, const LiveOptions& options, const std::vector<NginxProcess>& processes) {
  for (const NginxProcess& p : processes) nginx.follow(p.pid, "start");
  for (const auto& path : options.nginx_binaries) nginx.attach_named(path);
  if (processes.empty() && options.nginx_binaries.empty()) {
    auto on_path = find_nginx_on_path();
    if (!on_path) throw FatalError("no nginx is running and none is on PATH; use --nginx-binary PATH");
    nginx.attach_named(*on_path);
  }
  if (options.lean && nginx.attached() == 0)
    throw FatalError("--lean needs nginx's uprobes and no nginx binary could take them (see above); run without --lean");
}

// Attached: from here on only what attaching to later nginx binaries needs,
// and CAP_SYS_ADMIN only in the helper that places their uprobes.
void drop_capabilities(ProbeSession& session, HostReads& reads, const LiveOptions& options) {
  const bool broker_placing_uprobes = !options.no_uprobes && start_uprobe_broker(session, options.verbosity);
  // Without CAP_SYS_ADMIN only the broker may join another network namespace.
  if (broker_placing_uprobes)
    reads.read_other_namespaces_with([broker = session.uprobe_broker()](int netns, uint32_t* low, uint32_t* high) {
      return broker->port_range(netns, low, high);
    });
  // Where the host mounts no cgroup2, the mount of our own that names the
  // cgroups of nginx processes found later needs CAP_SYS_ADMIN: made now.
  unified_cgroup_root();
  if (Result<void> dropped = keep_only_needed_capabilities(!options.no_uprobes && !broker_placing_uprobes);
      !dropped)
    std::fprintf(stderr, "why502: warning: could not drop capabilities: %s\n", dropped.error().c_str());
}

LiveStatus live_status(const LiveOptions& options, const ProbeSession& session, const Engine& engine,
                       const EventPump& pump, const HostReads& reads, const NginxFollower& nginx) {
  LiveStatus s;
  const LostCounts lost = session.lost();
  s.events = engine.stats().events;
  s.gateway_errors = engine.stats().records;
  s.lost_ringbuf_full = lost.ringbuf_full;
  s.lost_map_full = lost.map_full;
  s.lost_slot_taken = lost.slot_taken;
  s.undecodable = pump.undecodable();
  s.lost = lost.total() + pump.undecodable();
  s.lag = pump.lag();
  s.listener_probes = reads.counts(ProbeKind::listener);
  s.backend_probes = reads.counts(ProbeKind::backend);
  s.engine = engine.stats();
  s.max_pending_requests = options.max_pending_requests;
  s.nginx_binaries = nginx.health();
  return s;
}

// The records the engine made since the last call, then the hook after a batch.
void deliver_records(EventPump& pump, const LiveHooks& hooks) {
  bool any = false;
  pump.drain_records([&](const Record& r) {
    hooks.on_record(r);
    any = true;
  });
  if (any && hooks.on_records_delivered) hooks.on_records_delivered();
}

// The end of the run, on stderr.
void print_summary(const LostCounts& lost, const EngineStats& stats, const EventPump& pump, const HostReads& reads,
                   int verbosity) {
  std::fprintf(stderr,
               "why502: %llu gateway errors, %llu retried, %llu truncated from %llu events; %llu events lost "
               "(ring buffer full %llu, map full %llu, request slot taken %llu)\n",
               static_cast<unsigned long long>(stats.records), static_cast<unsigned long long>(stats.retried),
               static_cast<unsigned long long>(stats.truncated), static_cast<unsigned long long>(stats.events),
               static_cast<unsigned long long>(lost.total() + pump.undecodable()),
               static_cast<unsigned long long>(lost.ringbuf_full), static_cast<unsigned long long>(lost.map_full),
               static_cast<unsigned long long>(lost.slot_taken));
  for (const auto& [kind, name] : {std::pair{ProbeKind::listener, "listener"}, std::pair{ProbeKind::backend, "backend"}}) {
    const ProbeCounts& probes = reads.counts(kind);
    if (probes.asked + probes.queue_full > 0)
      std::fprintf(stderr, "why502: %llu %s probes; skipped %llu (worker queue full %llu, too late %llu)\n",
                   static_cast<unsigned long long>(probes.asked), name,
                   static_cast<unsigned long long>(probes.queue_full + probes.late),
                   static_cast<unsigned long long>(probes.queue_full), static_cast<unsigned long long>(probes.late));
  }
  if (verbosity > 0) {
    std::fprintf(stderr, "why502: %llu nginx failures came as repeats of their thread's one before\n",
                 static_cast<unsigned long long>(pump.repeats()));
    const ConsumerLag& lag = pump.lag();
    auto ms = [](uint64_t ns) {
      char text[32] = "> 10 s";
      if (ns != UINT64_MAX) std::snprintf(text, sizeof(text), "%.3f ms", static_cast<double>(ns) / 1e6);
      return std::string(text);
    };
    std::fprintf(stderr, "why502: consumer lag (event to engine): median <= %s, p99 <= %s, max %s\n",
                 ms(lag.quantile_bound_ns(0.5)).c_str(), ms(lag.quantile_bound_ns(0.99)).c_str(),
                 ms(lag.max_ns()).c_str());
  }
}

}  // namespace

// --duration: past a year it is a typo.
constexpr double kMaxDurationS = 365.0 * 24 * 3600;

void add_live_options(CLI::App& command, LiveOptions& o) {
  command.add_option("--duration", o.duration_s, "Stop after this many seconds")
      ->check(seconds_up_to(kMaxDurationS, "31536000 (a year)"));
  command.add_option("--pid", o.pids, "Trace only this nginx process (master or worker); repeatable");
  command.add_option("--nginx-binary", o.nginx_binaries, "Also attach to this nginx binary; repeatable");
  command.add_flag("--no-uprobes", o.no_uprobes,
                   "Kernel-only attribution (what a stripped nginx gets): plain HTTP/1.x clients only");
  command.add_flag("--capture-request", o.capture_request,
                   "Put the request line (method, URI with its query string, protocol) in each record nginx "
                   "built an error page for; off by default: URIs may carry personal data");
  command.add_flag("--anonymise-clients,--anonymize-clients", o.anonymise_clients,
                   "Cut client addresses to their /24 (IPv4) or /48 (IPv6) before anything is attributed, "
                   "recorded or printed");
  command.add_flag("--lean", o.lean,
                   "Only hooks that fire when something fails, for always-on use (no BPF program on every "
                   "socket send and receive): needs nginx's symbols; does not see the upstream's own 5xx, "
                   "error_page rewrites or retried attempts, and keeps no latency histograms")
      ->excludes(command.get_option("--no-uprobes"));
  command.add_flag("-v,--verbose", o.verbosity, "More diagnostics on stderr (-vv: libbpf debug)");
}

void check_live_options(const LiveOptions& options) { check(options); }

void run_live(const LiveOptions& options, const LiveHooks& hooks) {
  const CheckedOptions checked = check(options);

  Engine engine(EngineOptions{.max_pending_requests = options.max_pending_requests});
  EventPump pump(engine, {.anonymise_clients = options.anonymise_clients,
                          .on_event = hooks.on_event,
                          .on_first_undecodable =
                              [](const std::string& error) {
                                std::fprintf(stderr, "why502: warning: %s\n", error.c_str());
                              },
                          .lag_clock = monotonic_now_ns});
  // Every event the engine sees passes through it, what the host reads made
  // included.
  HostReads reads([&pump](const Event& event, std::span<const uint8_t> bytes) { pump.deliver(event, bytes); },
                  options.anonymise_clients);
  NginxFollower* follower = nullptr;  // once attached
  CpuCourtesy courtesy;
  ProbeSession session(probe_options_of(options), [&](std::span<const uint8_t> bytes) {
    const std::optional<EventPump::Taken> taken = pump.take(bytes);
    if (!taken) return;
    courtesy.after_event(header_of(taken->event).ts_ns);
    // Between the pump's halves: following nginx, then the host reads.
    // An nginx just started (a binary upgrade's new master): attached at
    // once, not after the rest of the batch. Its workers serve within tens
    // of milliseconds, and what they fail before the uprobes are in place
    // is not seen.
    if (const auto* exec = std::get_if<w5_process_exec>(&taken->event); exec && follower)
      follower->follow(exec->h.tgid, "exec");
    // A layout that failed its check just now: this response is already
    // attributed kernel-only, as the request's uprobe events were dropped.
    if (follower && std::holds_alternative<w5_client_response>(taken->event)) follower->check_layouts();
    reads.push(taken->event, taken->bytes);
  });
  reads.use_session(session);
  for (const auto& warning : session.warnings()) std::fprintf(stderr, "why502: warning: %s\n", warning.c_str());
  // Scanned after the fork tracepoint is attached, so no new worker slips by.
  const std::vector<NginxProcess> processes = processes_to_trace(options, checked.chosen);

  engine.set_client_echo_expected(!options.lean);
  NginxFollower nginx(session, engine,
                      {.use_uprobes = !options.no_uprobes, .lean = options.lean,
                       .only_listed = !options.pids.empty(), .verbose = options.verbosity > 0,
                       .layout_override = checked.layout_override});
  follower = &nginx;
  attach_first(nginx, options, processes);

  install_signal_handlers();
  drop_capabilities(session, reads, options);
  std::fprintf(stderr, "ready: %zu kernel probes, nginx uprobes on %zu binar%s, %zu nginx process%s%s\n",
               session.kernel_probes(), nginx.attached(), nginx.attached() == 1 ? "y" : "ies",
               nginx.processes(), nginx.processes() == 1 ? "" : "es",
               processes.empty() ? " (none runs yet; waiting for one)" : "");
  // Revoked before the session goes, however run_live ends (the reader's thread
  // must not walk maps that are gone).
  struct RevokeTablesReader {
    const LiveHooks& hooks;
    ~RevokeTablesReader() {
      if (hooks.on_tables_reader) hooks.on_tables_reader({});
    }
  } revoke{hooks};
  if (hooks.on_tables_reader) hooks.on_tables_reader([&session] { return session.read_tables(); });
  if (hooks.on_ready) hooks.on_ready();

  RequestLiveness liveness([&nginx](pid_t pid) { return nginx.layout_of_process(pid); });
  auto status = [&] { return live_status(options, session, engine, pump, reads, nginx); };
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  auto last_scan = start;
  while (!g_stop) {
    // Events waiting for a listener's state go on as soon as it is read.
    int n = session.poll(reads.waiting() ? 2 : 100);
    if (n < 0 && n != -EINTR) throw FatalError("reading the ring buffer failed: " + std::string(std::strerror(-n)));
    reads.release();
    // Held records wait for an echo that may be among the events still waiting.
    if (!reads.waiting()) pump.flush(monotonic_now_ns());
    deliver_records(pump, hooks);
    if (hooks.on_tick) hooks.on_tick(status());
    if (hooks.should_stop && hooks.should_stop()) break;
    const auto now = Clock::now();

    if (options.duration_s > 0 && std::chrono::duration<double>(now - start).count() >= options.duration_s) break;
    // nginx started after us or from another binary, and binaries no longer run.
    if (now - last_scan >= std::chrono::seconds(1)) {
      last_scan = now;
      nginx.scan();
      reads.check_pending_requests(engine, liveness);
      reads.read_waiting_backends();
    }
  }
  session.poll(0);  // flush what is pending
  reads.finish();
  pump.finish();
  deliver_records(pump, hooks);
  if (hooks.on_tick) hooks.on_tick(status());
  print_summary(session.lost(), engine.stats(), pump, reads, options.verbosity);
}

}  // namespace why502

#include "cli/live_session.hpp"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>

#include "attribution/engine.hpp"
#include "cli/option_checks.hpp"
#include "events/anonymise.hpp"
#include "events/event.hpp"
#include "loader/capabilities.hpp"
#include "common/fatal_error.hpp"
#include "loader/listener_watch.hpp"
#include "loader/nginx_discovery.hpp"
#include "loader/nginx_layout.hpp"
#include "loader/privileges.hpp"
#include "loader/probe_session.hpp"
#include "output/clock.hpp"

namespace why502 {
namespace {

std::atomic<bool> g_stop{false};

void request_stop(int) { g_stop = true; }


void install_signal_handlers() {
  struct sigaction sa{};
  sa.sa_handler = request_stop;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}


// The traced binaries, by inode: a binary replaced on disk is a new one.
class NginxBinaries {
 public:
  NginxBinaries(ProbeSession& session, Engine& engine, bool use_uprobes, bool lean, bool verbose)
      : session_(session), engine_(engine), use_uprobes_(use_uprobes), lean_(lean), verbose_(verbose) {
    if (!use_uprobes_) engine_.set_kernel_only_fallback(true);
  }

  // Attaches the uprobes to the binary unless already done; reports problems.
  // found_by: how the binary came to our attention ("start", "exec", "scan").
  void attach(const std::string& path, const char* found_by = "start") {
    struct stat st{};
    if (stat(path.c_str(), &st) != 0) {
      std::fprintf(stderr, "why502: warning: cannot read nginx binary %s\n", path.c_str());
      return;
    }
    if (!seen_.insert({st.st_dev, st.st_ino}).second || !use_uprobes_) return;
    std::string problem = unusable_nginx_symbols(path);
    NginxLayout layout;
    if (problem.empty()) {
      layout = nginx_layout_for(path);
      problem = session_.attach_nginx_binary(path, layout);
    }
    if (!problem.empty()) {
      // Kernel-only attribution reads what nginx sends: --lean left those hooks out.
      std::fprintf(stderr, "why502: warning: %s; %s\n", problem.c_str(),
                   lean_ ? "--lean sees no gateway error of this nginx (run without --lean)"
                         : "kernel-only attribution (plain HTTP/1.x clients only)");
      if (!lean_) engine_.set_kernel_only_fallback(true);
      return;
    }
    ++attached_;
    if (verbose_)
      std::fprintf(stderr, "why502: attached to %s (%s), found at %s\n", path.c_str(), layout.description.c_str(),
                   found_by);
  }
  size_t attached() const { return attached_; }

 private:
  ProbeSession& session_;
  Engine& engine_;
  bool use_uprobes_;
  bool lean_;
  bool verbose_;
  std::set<std::pair<dev_t, ino_t>> seen_;
  size_t attached_ = 0;
};

std::vector<NginxProcess> processes_to_trace(const LiveOptions& options) {
  if (options.pids.empty()) return find_nginx_processes();
  std::vector<NginxProcess> chosen;
  for (pid_t pid : options.pids) {
    std::string why;
    auto p = nginx_process(pid, &why);
    if (!p) throw FatalError("--pid " + std::to_string(pid) + ": " + why);
    chosen.push_back(*p);
  }
  // Workers of a chosen master count as chosen.
  for (const NginxProcess& p : find_nginx_processes()) {
    for (pid_t pid : options.pids)
      if (p.ppid == pid) chosen.push_back(p);
  }
  return chosen;
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

void check_live_options(const LiveOptions& options) {
  if (auto missing = missing_privileges(); !missing.empty()) throw FatalError(missing);
  if (auto missing = missing_btf(); !missing.empty()) throw FatalError(missing);
  for (const auto& path : options.nginx_binaries)
    if (std::string why = why_not_nginx_binary(path); !why.empty())
      throw FatalError("--nginx-binary " + path + ": " + why + "; give the path of an nginx executable");
  for (pid_t pid : options.pids) {
    std::string why;
    if (!nginx_process(pid, &why)) throw FatalError("--pid " + std::to_string(pid) + ": " + why);
  }
}

void run_live(const LiveOptions& options, const LiveHooks& hooks) {
  check_live_options(options);

  Engine engine;
  ListenerWatch listeners;
  std::vector<Record> records;
  uint64_t decode_errors = 0;
  ProbeOptions probe_options;
  probe_options.only_listed_processes = !options.pids.empty();
  probe_options.verbosity = options.verbosity;
  probe_options.measure_connect = options.measure_connect;
  probe_options.lean = options.lean;
  probe_options.capture_request_line = options.capture_request;
  std::vector<pid_t> executed;  // nginx binaries just started: attached after this poll
  ProbeSession session(probe_options, [&](std::span<const uint8_t> bytes) {
    DecodeResult decoded = decode_event(bytes);
    if (!decoded.ok) {
      if (decode_errors++ == 0) std::fprintf(stderr, "why502: warning: %s\n", decoded.error.c_str());
      return;
    }
    if (const auto* exec = std::get_if<w5_process_exec>(&decoded.event)) executed.push_back(exec->h.tgid);
    if (auto listener = listeners.before(decoded.event)) {
      if (hooks.on_event)
        hooks.on_event(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&*listener), sizeof(*listener)));
      engine.handle(*listener, records);
    }
    if (options.anonymise_clients) {
      anonymise_clients(decoded.event);
      if (hooks.on_event) hooks.on_event(event_bytes(decoded.event));
    } else if (hooks.on_event) {
      hooks.on_event(bytes);
    }
    engine.handle(decoded.event, records);
  });
  for (const auto& warning : session.warnings()) std::fprintf(stderr, "why502: warning: %s\n", warning.c_str());
  // Scanned after the fork tracepoint is attached, so no new worker slips by.
  const std::vector<NginxProcess> processes = processes_to_trace(options);

  engine.set_client_echo_expected(!options.lean);
  NginxBinaries binaries(session, engine, !options.no_uprobes, options.lean, options.verbosity > 0);
  std::set<pid_t> traced;
  for (const NginxProcess& p : processes) {
    session.trace_process(p.pid);
    traced.insert(p.pid);
    binaries.attach(p.exe);
  }
  for (const auto& path : options.nginx_binaries) binaries.attach(path);
  if (processes.empty() && options.nginx_binaries.empty()) {
    auto on_path = find_nginx_on_path();
    if (!on_path) throw FatalError("no nginx is running and none is on PATH; use --nginx-binary PATH");
    binaries.attach(*on_path);
  }
  if (options.lean && binaries.attached() == 0)
    throw FatalError("--lean needs nginx's uprobes and no nginx binary could take them (see above); run without --lean");

  install_signal_handlers();
  // Attached: from here on only what attaching to later nginx binaries needs.
  if (std::string error = keep_only_needed_capabilities(); !error.empty())
    std::fprintf(stderr, "why502: warning: could not drop capabilities: %s\n", error.c_str());
  std::fprintf(stderr, "ready: %zu kernel probes, nginx uprobes on %zu binar%s, %zu nginx process%s%s\n",
               session.kernel_probes(), binaries.attached(), binaries.attached() == 1 ? "y" : "ies",
               traced.size(), traced.size() == 1 ? "" : "es",
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

  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  auto last_scan = start;
  auto status = [&] {
    LiveStatus s;
    const LostCounts lost = session.lost();
    s.events = engine.stats().events;
    s.gateway_errors = engine.stats().records;
    s.lost_ringbuf_full = lost.ringbuf_full;
    s.lost_map_full = lost.map_full;
    s.lost_slot_taken = lost.slot_taken;
    s.undecodable = decode_errors;
    s.lost = lost.total() + decode_errors;
    return s;
  };
  while (!g_stop) {
    int n = session.poll(100);
    if (n < 0 && n != -EINTR) throw FatalError("reading the ring buffer failed: " + std::string(std::strerror(-n)));
    for (pid_t pid : executed) {
      const std::string exe = "/proc/" + std::to_string(pid) + "/exe";
      traced.insert(pid);
      binaries.attach(exe, "exec");  // by inode: a binary seen before is not attached twice
    }
    executed.clear();
    engine.flush(monotonic_now_ns(), records);
    for (const Record& r : records) hooks.on_record(r);
    records.clear();
    if (hooks.on_tick) hooks.on_tick(status());
    if (hooks.should_stop && hooks.should_stop()) break;
    const auto now = Clock::now();

    if (options.duration_s > 0 && std::chrono::duration<double>(now - start).count() >= options.duration_s) break;
    // New nginx processes (started after us, or from another binary).
    if (options.pids.empty() && now - last_scan >= std::chrono::seconds(1)) {
      last_scan = now;
      for (const NginxProcess& p : find_nginx_processes()) {
        if (traced.insert(p.pid).second) {
          session.trace_process(p.pid);
          binaries.attach(p.exe, "scan");
        }
      }
    }
  }
  session.poll(0);  // flush what is pending
  engine.finish(records);
  for (const Record& r : records) hooks.on_record(r);
  if (hooks.on_tick) hooks.on_tick(status());

  const LostCounts lost = session.lost();
  const EngineStats stats = engine.stats();
  std::fprintf(stderr,
               "why502: %llu gateway errors, %llu retried, %llu truncated from %llu events; %llu events lost "
               "(ring buffer full %llu, map full %llu, request slot taken %llu)\n",
               static_cast<unsigned long long>(stats.records), static_cast<unsigned long long>(stats.retried),
               static_cast<unsigned long long>(stats.truncated), static_cast<unsigned long long>(stats.events),
               static_cast<unsigned long long>(lost.total() + decode_errors),
               static_cast<unsigned long long>(lost.ringbuf_full), static_cast<unsigned long long>(lost.map_full),
               static_cast<unsigned long long>(lost.slot_taken));
}

}  // namespace why502

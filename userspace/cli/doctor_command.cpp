#include "cli/doctor_command.hpp"

#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "host/cgroup_id.hpp"
#include "host/nginx_build_info.hpp"
#include "host/nginx_discovery.hpp"
#include "host/nginx_layout.hpp"
#include "host/privileges.hpp"
#include "loader/probe_session.hpp"

namespace why502 {
namespace {

enum class Verdict { ok, warn, fail };

struct Row {
  std::string check;
  Verdict verdict;
  std::string detail;
};

// Returns the loaded session (for the uprobe checks), or null.
std::unique_ptr<ProbeSession> check_kernel(std::vector<Row>& rows) {
  const Result<void> btf = check_btf();
  rows.push_back({"kernel BTF", btf.ok() ? Verdict::ok : Verdict::fail,
                  btf.ok() ? "/sys/kernel/btf/vmlinux" : btf.error()});
  const uint64_t caps = effective_capabilities();
  const Result<void> privileges = check_privileges();
  rows.push_back({"privileges to load BPF", privileges.ok() ? Verdict::ok : Verdict::fail,
                  privileges.ok() ? "CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN)" : privileges.error()});
  const bool sys_admin = has_capability(caps, kCapSysAdmin);
  rows.push_back({"privileges for uprobes", sys_admin ? Verdict::ok : Verdict::warn,
                  sys_admin ? "CAP_SYS_ADMIN"
                            : "no CAP_SYS_ADMIN: the kernel may refuse nginx uprobes (kernel-only attribution)"});
  const bool ptrace = has_capability(caps, kCapSysPtrace), dac = has_capability(caps, kCapDacReadSearch);
  rows.push_back({"privileges to read /proc", ptrace && dac ? Verdict::ok : Verdict::warn,
                  ptrace && dac ? "CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH"
                                : "missing CAP_SYS_PTRACE or CAP_DAC_READ_SEARCH: other users' nginx and backends "
                                  "may be unreadable"});

  // How the kernel side knows nginx's sockets while another process runs.
  const std::string& cgroups = unified_cgroup_root();
  rows.push_back({"cgroup2 filesystem", cgroups.empty() ? Verdict::warn : Verdict::ok,
                  cgroups.empty() ? "none mounted, and none can be without CAP_SYS_ADMIN: a reset of an upstream "
                                    "connection that reaches nginx's socket while another process runs loses its "
                                    "kernel line under --lean or on an idle pooled connection, and backends' cgroup "
                                    "CPU throttling goes unread"
                  : cgroups.starts_with("/proc/self/fd/")
                      ? "none mounted: why502 mounts its own, detached, which only it reaches"
                      : "at " + cgroups});

  // What trace keeps once attached (keep_only_needed_capabilities), said exactly.
  rows.push_back({"privileges kept while tracing", Verdict::ok,
                  "of CAP_BPF CAP_PERFMON CAP_DAC_READ_SEARCH CAP_SYS_PTRACE, those held; every other one is dropped "
                  "once attached (CAP_SYS_PTRACE also reads nginx workers' memory to see that a request nginx "
                  "recovered from is over). CAP_SYS_ADMIN stays only in a helper process, why502-uprobes, that holds "
                  "nothing else and only places the uprobes of nginx binaries started later (an upgrade, another "
                  "path), which the kernel refuses without it, and reads the port range of another network "
                  "namespace (ports_exhausted)"});
  if (!privileges) return nullptr;  // the kernel would refuse the rest for that reason alone
  const int ring = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "w5_doctor", 0, 0, 4096, nullptr);
  rows.push_back({"ring buffer maps", ring >= 0 ? Verdict::ok : Verdict::fail,
                  ring >= 0 ? "supported" : std::string("refused: ") + std::strerror(errno)});
  if (ring >= 0) close(ring);
  try {
    // What trace does: load the object and attach every program (those of
    // --connect-latency too), each one reported with what is lost without it.
    auto session = std::make_unique<ProbeSession>(ProbeOptions{.measure_connect = true}, [](std::span<const uint8_t>) {});
    rows.push_back({"why502's BPF programs", Verdict::ok,
                    "loaded; " + std::to_string(session->kernel_probes()) + " tracepoint programs attached"});
    for (const KernelProgram& p : session->kernel_programs()) {
      rows.push_back({"program " + p.name, p.attached ? Verdict::ok : Verdict::warn,
                      p.attached ? "attached to " + p.hook : p.hook + ": " + p.problem});
    }
    const Result<void> uprobes = session->check_uprobes();
    rows.push_back({"uprobes", uprobes.ok() ? Verdict::ok : Verdict::warn,
                    uprobes.ok() ? "a uprobe attaches (tested on why502 itself)"
                                 : uprobes.error() + ": kernel-only attribution"});
    return session;
  } catch (const std::exception& e) {
    rows.push_back({"why502's BPF programs", Verdict::fail, e.what()});
    return nullptr;
  }
}

// How many of processes run the binary at path, and what it says it is when
// it is not plain nginx (a fork).
std::string what_runs(const std::string& path, const std::vector<NginxProcess>& processes) {
  size_t running = 0;
  for (const auto& inode : inodes_of({path}))
    for (const NginxProcess& p : processes) running += p.dev == inode.first && p.ino == inode.second;
  std::string what;
  if (const Result<NginxBuildInfo> build = read_nginx_build_info(path);
      build && !build->server.empty() && build->server != "nginx")
    what = build->server + " " + build->version + ", an nginx-compatible build (its processes are known by this binary); ";
  return what + (running ? std::to_string(running) + " process" + (running == 1 ? "" : "es") + " run it; "
                         : "no process runs it; ");
}

void check_nginx(std::vector<Row>& rows, ProbeSession* session, const std::vector<std::string>& named) {
  BinaryInodes seen;
  std::vector<std::string> binaries;
  for (const std::string& path : named) {
    if (const Result<void> binary = check_nginx_binary(path); !binary) {
      rows.push_back({"nginx " + path, Verdict::fail, binary.error()});
      continue;
    }
    for (const auto& inode : inodes_of({path}))
      if (seen.insert(inode).second) binaries.push_back(path);
  }
  const std::vector<NginxProcess> processes = find_nginx_processes(seen);
  for (const NginxProcess& p : processes)
    if (seen.insert({p.dev, p.ino}).second) binaries.push_back(p.exe);
  if (binaries.empty() && named.empty()) {
    if (auto on_path = find_nginx_on_path()) binaries.push_back(*on_path);
  }
  if (binaries.empty() && named.empty()) {
    rows.push_back({"nginx", Verdict::warn, "no nginx runs and none is on PATH (use --nginx-binary with trace)"});
    return;
  }
  const Result<std::optional<LayoutOverride>> override_read = layout_override_from_environment();
  if (!override_read) rows.push_back({"layout override", Verdict::warn, override_read.error() + " (ignored)"});
  const std::optional<LayoutOverride> override = override_read ? override_read.value() : std::nullopt;
  for (const std::string& path : binaries) {
    Row row{"nginx " + path, Verdict::ok, ""};
    if (const Result<void> usable = check_nginx_symbols(path); !usable) {
      row = {row.check, Verdict::warn, what_runs(path, processes) + usable.error() + ": kernel-only attribution"};
    } else {
      NginxLayout layout = nginx_layout_for(path);
      if (override && layout_override_applies(*override, path)) apply_layout_override(*override, layout);
      const Result<uint32_t> slot = session ? session->attach_nginx_binary(path, layout) : Result<uint32_t>(0u);
      if (!slot) {
        row = {row.check, Verdict::warn, slot.error() + ": kernel-only attribution"};
      } else {
        row.detail = what_runs(path, processes) + (session ? "uprobes attach" : "symbols usable") +
                     "; layout: " + layout.description;
        if (session) {
          // doctor lives a moment: the check runs on error responses, which
          // trace and serve see; any seen meanwhile are judged here.
          const w5_layout_health health = session->layout_health(slot.value());
          if (health.failed) {
            row.verdict = Verdict::warn;
            row.detail += "; live layout check FAILED: " + layout_check_failures(health, layout.offsets) +
                          ": kernel-only attribution";
          } else {
            row.detail += health.checked ? "; live layout check passed on " + std::to_string(health.checked) + " events"
                                         : "; live layout check: not yet checked (no error response seen)";
          }
          row.detail += "; read failures " + std::to_string(health.read_failures);
        }
      }
    }
    rows.push_back(row);
  }
}

const char* verdict_name(Verdict v) { return v == Verdict::ok ? "ok" : v == Verdict::warn ? "warn" : "FAIL"; }

}  // namespace

void add_doctor_command(CLI::App& app, DoctorOptions& options) {
  CLI::App* doctor = app.add_subcommand("doctor", "Check that this host can run why502: kernel, privileges, nginx");
  doctor->add_option("--nginx-binary", options.nginx_binaries,
                     "Also check this nginx binary (a fork under another name, or an nginx not running yet); "
                     "repeatable");
}

int run_doctor(const DoctorOptions& options) {
  std::vector<Row> rows;
  std::unique_ptr<ProbeSession> session = check_kernel(rows);
  check_nginx(rows, session.get(), options.nginx_binaries);
  size_t width = 0;
  for (const Row& r : rows) width = std::max(width, r.check.size());
  bool fails = false;
  for (const Row& r : rows) {
    std::printf("%-*s  %-4s  %s\n", static_cast<int>(width), r.check.c_str(), verdict_name(r.verdict), r.detail.c_str());
    fails = fails || r.verdict == Verdict::fail;
  }
  std::printf("%s\n", fails ? "why502 cannot trace on this host (see FAIL above)"
                            : "why502 can trace on this host");
  return fails ? 1 : 0;
}

}  // namespace why502

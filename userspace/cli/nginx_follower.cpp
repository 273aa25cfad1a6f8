#include "cli/nginx_follower.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "attribution/engine.hpp"
#include "host/nginx_format.hpp"
#include "host/nginx_layout.hpp"
#include "loader/probe_session.hpp"

namespace why502 {
namespace {

// Binaries not run for this many scans (seconds) are released.
constexpr int kScansBeforeRelease = 2;

// /proc/PID/exe resolved to the binary's path, for messages and metrics.
std::string shown_path(const std::string& path) {
  if (path.rfind("/proc/", 0) != 0) return path;
  char target[4096];
  const ssize_t n = readlink(path.c_str(), target, sizeof(target) - 1);
  return n > 0 ? std::string(target, static_cast<size_t>(n)) : path;
}

struct Descriptor {
  int fd;
  ~Descriptor() {
    if (fd >= 0) close(fd);
  }
};

}  // namespace

NginxFollower::NginxFollower(ProbeSession& session, Engine& engine, Options options)
    : session_(session), engine_(engine), options_(options) {
  if (!options_.use_uprobes) engine_.set_kernel_only_fallback(true);
}

NginxFollower::Inode NginxFollower::binary_of(pid_t pid) {
  struct stat st{};
  if (stat(("/proc/" + std::to_string(pid) + "/exe").c_str(), &st) != 0) return {0, 0};
  return {st.st_dev, st.st_ino};
}

void NginxFollower::follow(pid_t pid, const char* found_by) {
  const Inode binary = binary_of(pid);
  auto [it, first] = followed_.try_emplace(pid, binary);
  if (first)
    session_.trace_process(pid);
  else if (it->second == binary)
    return;
  // nginx's format strings where the log uprobe can read them.
  if (options_.use_uprobes) map_read_only_data(pid);
  it->second = binary;
  attach("/proc/" + std::to_string(pid) + "/exe", found_by, false);
}

void NginxFollower::attach_named(const std::string& path) {
  // Known by its inode, attached or not: a stripped fork is still followed
  // (kernel-only), and the kernel side adopts what executes it.
  for (const auto& [dev, ino] : inodes_of({path})) {
    if (!named_binaries_.insert({dev, ino}).second) continue;
    if (const Result<void> adopted = session_.adopt_processes_running(dev, ino); !adopted)
      std::fprintf(stderr, "why502: warning: processes of %s are found by the next scan, not at their exec: %s\n",
                   path.c_str(), adopted.error().c_str());
  }
  attach(path, "start", true);
}

bool NginxFollower::attach(const std::string& path, const char* found_by, bool named) {
  if (!options_.use_uprobes) return true;
  const Descriptor binary{open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  struct stat st{};
  if (binary.fd < 0 || fstat(binary.fd, &st) != 0) {
    // The process is gone already; the next one running its binary (its
    // daemonized child, say) brings it back.
    if (options_.verbose)
      std::fprintf(stderr, "why502: cannot open nginx binary %s: %s\n", path.c_str(), std::strerror(errno));
    return false;
  }
  const Inode inode{st.st_dev, st.st_ino};
  if (auto it = binaries_.find(inode); it != binaries_.end()) {
    it->second.named = it->second.named || named;
    it->second.scans_unused = 0;
    return true;
  }
  const std::string held = "/proc/self/fd/" + std::to_string(binary.fd);
  Result<void> usable = check_nginx_symbols(held);
  NginxLayout layout;
  Binary attached;
  attached.named = named;
  if (usable) {
    layout = nginx_layout_for(held);
    if (options_.layout_override && layout_override_applies(*options_.layout_override, held))
      apply_layout_override(*options_.layout_override, layout);
    if (binaries_.size() >= W5_MAX_LAYOUTS) {
      // Every layout slot is taken: free those of binaries nothing runs now,
      // without waiting for the scans (binaries may come and go faster).
      std::set<Inode> running;
      for (const NginxProcess& p : find_nginx_processes(named_binaries())) running.insert({p.dev, p.ino});
      release_unused(running, 1);
    }
    if (const Result<uint32_t> slot = session_.attach_nginx_binary(held, layout))
      attached.slot = slot.value();
    else
      usable = Error{slot.error()};
  }
  if (!usable) {
    std::string problem = usable.error();
    for (size_t at; (at = problem.find(held)) != std::string::npos;) problem.replace(at, held.size(), path);
    // Said once per binary; tried again with each new process that runs it.
    if (warned_.insert(inode).second)
      std::fprintf(stderr, "why502: warning: %s; %s\n", problem.c_str(),
                   options_.lean ? "--lean sees no gateway error of this nginx (run without --lean)"
                                 : "kernel-only attribution (plain HTTP/1.x clients only)");
    // Kernel-only attribution reads what nginx sends: --lean left those hooks out.
    if (!options_.lean) engine_.set_kernel_only_fallback(true);
    return false;
  }
  attached.path = shown_path(path);
  attached.layout = layout;
  binaries_.emplace(inode, attached);
  if (options_.verbose)
    std::fprintf(stderr, "why502: attached to %s (%s; inode %llu:%llu, layout slot %u), found at %s\n", path.c_str(),
                 layout.description.c_str(), static_cast<unsigned long long>(inode.first),
                 static_cast<unsigned long long>(inode.second), attached.slot, found_by);
  return true;
}

std::optional<w5_nginx_layout> NginxFollower::layout_of_process(pid_t pid) const {
  auto it = binaries_.find(binary_of(pid));
  if (it == binaries_.end()) return std::nullopt;
  // A layout that failed the live check is trusted for nothing.
  if (it->second.rejected) return std::nullopt;
  return it->second.layout.offsets;
}

void NginxFollower::check_layouts() {
  for (auto& [inode, b] : binaries_) {
    if (b.rejected) continue;
    const w5_layout_health health = session_.layout_health(b.slot);
    if (!health.failed) continue;
    // The BPF side emits nothing more for the slot; free it for another binary.
    session_.detach_nginx_binary(b.slot);
    b.rejected = true;
    b.last_health = health;
    if (!options_.lean) engine_.set_kernel_only_fallback(true);
    // Once per binary, if it is released and attached again and fails again.
    if (!layout_warned_.insert(inode).second) continue;
    std::fprintf(stderr, "why502: warning: nginx binary %s (%s) failed the live layout check: %s; detached its uprobes, %s\n",
                 b.path.c_str(), b.layout.description.c_str(),
                 layout_check_failures(health, b.layout.offsets).c_str(),
                 options_.lean ? "--lean sees no gateway error of this nginx (run without --lean)"
                               : "kernel-only attribution (plain HTTP/1.x clients only)");
  }
}

std::vector<NginxBinaryHealth> NginxFollower::health() const {
  std::vector<NginxBinaryHealth> out;
  out.reserve(binaries_.size());
  for (const auto& [inode, b] : binaries_) {
    // A rejected binary's slot may serve another binary now: its counts as they were.
    const w5_layout_health health = b.rejected ? b.last_health : session_.layout_health(b.slot);
    out.push_back({b.path, health.read_failures, health.checked, b.rejected});
  }
  return out;
}

void NginxFollower::scan() {
  check_layouts();
  std::set<Inode> running;
  for (const NginxProcess& p : find_nginx_processes(named_binaries())) {
    running.insert({p.dev, p.ino});
    // With --pid, only what the kernel side traces: the listed processes and
    // what they forked (a daemonized master after its parent's exec).
    if (options_.only_listed && !session_.is_traced(p.pid)) continue;
    follow(p.pid, "scan");
  }
  for (auto it = followed_.begin(); it != followed_.end();)
    it = kill(it->first, 0) == 0 || errno != ESRCH ? std::next(it) : followed_.erase(it);
  release_unused(running, kScansBeforeRelease);
}

void NginxFollower::release_unused(const std::set<Inode>& running, int scans) {
  for (auto it = binaries_.begin(); it != binaries_.end();) {
    Binary& b = it->second;
    b.scans_unused = running.count(it->first) ? 0 : b.scans_unused + 1;
    if (b.named || b.scans_unused < scans) {
      ++it;
      continue;
    }
    if (!b.rejected) session_.detach_nginx_binary(b.slot);
    if (options_.verbose)
      std::fprintf(stderr, "why502: released the uprobes of nginx binary %llu:%llu (layout slot %u): no process runs it\n",
                   static_cast<unsigned long long>(it->first.first), static_cast<unsigned long long>(it->first.second),
                   b.slot);
    it = binaries_.erase(it);
  }
}

}  // namespace why502

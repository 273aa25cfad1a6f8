// Follows nginx for the life of one session: which processes are traced,
// and the uprobes on each binary they run, by inode. A binary is attached
// when a process running it appears (at start, at its exec, or in the scan
// each second), retried with the next process that runs it when an attach
// fails, and released, with its layout slot, once no process runs it. A
// binary whose layout fails the uprobes' live check is detached for good and
// attributed kernel-only.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "host/nginx_discovery.hpp"
#include "why502_wire.h"
#include "host/nginx_layout.hpp"
#include "output/metrics.hpp"

namespace why502 {

class Engine;
class ProbeSession;

class NginxFollower {
 public:
  struct Options {
    bool use_uprobes = true;
    bool lean = false;            // a binary without uprobes is not seen at all
    bool only_listed = false;     // --pid: adopt only processes the kernel side traces
    bool verbose = false;
    std::optional<LayoutOverride> layout_override;  // $WHY502_LAYOUT_OVERRIDE
  };
  NginxFollower(ProbeSession& session, Engine& engine, Options options);

  // Traces the process and attaches to its binary (found_by: "start", "exec",
  // "scan"); again when a process followed already runs another binary since
  // (a binary upgrade's new master, seen by a scan between its fork and its
  // exec, was followed with its parent's binary).
  void follow(pid_t pid, const char* found_by);
  // A binary named by the user (--nginx-binary, or nginx on PATH): attached
  // whether or not it runs, and kept.
  void attach_named(const std::string& path);
  // Each second: nginx processes not followed yet, and binaries nothing runs.
  void scan();

  // Reads each attached binary's layout health; a binary whose live check
  // failed gets one warning, loses its uprobes and is attributed kernel-only.
  // Call it before the engine takes a kernel-only view (a client response),
  // so that the request that failed the check is already attributed so.
  void check_layouts();
  // The binaries followed now: layout health, for metrics.
  std::vector<NginxBinaryHealth> health() const;

  size_t attached() const { return binaries_.size(); }
  // The layout the uprobes read a process's binary with, if it is attached.
  std::optional<w5_nginx_layout> layout_of_process(pid_t pid) const;
  size_t processes() const { return followed_.size(); }
  // The binaries named by the user: their processes are nginx whatever
  // their command (a fork such as Angie or OpenResty).
  const BinaryInodes& named_binaries() const { return named_binaries_; }

 private:
  using Inode = std::pair<dev_t, ino_t>;
  // The binary pid runs now ({0, 0} when it is gone).
  static Inode binary_of(pid_t pid);
  struct Binary {
    uint32_t slot = 0;
    bool named = false;  // kept when no process runs it
    int scans_unused = 0;
    std::string path;    // as the user knows it (/proc/PID/exe resolved)
    NginxLayout layout;
    bool rejected = false;  // failed the live check: detached, slot freed
    w5_layout_health last_health{};  // when it was rejected
  };
  // Attaches through a descriptor opened once: /proc/PID/exe may vanish
  // with its process (a daemonizing nginx exits at once) before the uprobes
  // are placed. Returns false when it must be tried again later.
  bool attach(const std::string& path, const char* found_by, bool named);
  // Releases the binaries (not named ones) no process in running has run
  // for this many calls in a row, this one included.
  void release_unused(const std::set<Inode>& running, int scans);

  BinaryInodes named_binaries_;

  ProbeSession& session_;
  Engine& engine_;
  Options options_;
  std::map<pid_t, Inode> followed_;  // → the binary each was last followed with
  std::map<Inode, Binary> binaries_;
  std::set<Inode> warned_;  // binaries whose failure was said once
  std::set<Inode> layout_warned_;  // binaries whose live layout check failed
};

}  // namespace why502

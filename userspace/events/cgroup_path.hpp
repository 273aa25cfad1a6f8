// Which service a process belongs to, from its cgroup: the parser of
// /proc/PID/cgroup and the names (systemd unit, container) a path shows.
// Used where cgroups are read (loader) and where records name them (engine).
#pragma once

#include <istream>
#include <string>
#include <string_view>

namespace why502 {

// The lines of /proc/PID/cgroup that say where a process is.
struct ProcessCgroups {
  std::string unified;  // "0::PATH" (cgroup v2, or the hybrid's unified tree)
  std::string systemd;  // "N:name=systemd:PATH" (cgroup v1 with systemd)
  std::string cpu;      // "N:...cpu...:PATH" (the v1 hierarchy with the cpu controller)
  bool has_v1_cpu = false;
};
ProcessCgroups cgroups_in(std::istream& proc_pid_cgroup);

// The path that names the process's service best: the first of unified,
// systemd and cpu that is not the root; "/" when all are; empty when none
// was read.
std::string service_cgroup_path(const ProcessCgroups& cgroups);

// What the path shows of its service: "foo.service" (a systemd unit, or a
// scope: "session-4.scope"), "docker:0123456789ab", "containerd:…",
// "cri-o:…", "podman:…" (a container's id, its first 12 hex digits), or
// "pod:UID" (a kubepods path with no container id); empty when none.
std::string service_of_cgroup(std::string_view path);

// The short form for a text line: the service, else the path.
std::string cgroup_short_form(std::string_view path);

}  // namespace why502

// The id of the cgroup a process runs in, as BPF programs see it
// (bpf_get_current_cgroup_id()): how userspace tells the kernel side which
// cgroups nginx's processes found running are in (the nginx_cgroups map).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

namespace why502 {

// Where the unified (cgroup v2) hierarchy can be read, a path to append a
// cgroup's to: where systemd mounts it, else a cgroup2 filesystem of
// why502's own that only its descriptor reaches ("/proc/self/fd/N", on a
// host whose init mounts none); empty when neither can be had.
const std::string& unified_cgroup_root();

// The kernel's id of pid's cgroup v2 (its directory's inode in the cgroup2
// filesystem); nullopt when pid has none there, is gone, or no cgroup2
// filesystem can be read.
std::optional<uint64_t> unified_cgroup_id(pid_t pid);

}  // namespace why502

// The id of the cgroup a process runs in, as BPF programs see it
// (bpf_get_current_cgroup_id()): how userspace tells the kernel side which
// cgroups nginx's processes found running are in (the nginx_cgroups map).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>

namespace why502 {

// The kernel's id of pid's cgroup v2 (its directory's inode in the cgroup2
// filesystem); nullopt when pid has none there, is gone, or no cgroup2
// filesystem is mounted where systemd mounts it.
std::optional<uint64_t> unified_cgroup_id(pid_t pid);

}  // namespace why502

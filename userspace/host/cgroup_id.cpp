#include "host/cgroup_id.hpp"

#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include <fstream>
#include <string>

#include "events/cgroup_path.hpp"

namespace why502 {

std::optional<uint64_t> unified_cgroup_id(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cgroup");
  const ProcessCgroups cgroups = cgroups_in(in);
  if (cgroups.unified.empty()) return std::nullopt;
  for (const char* mount : kUnifiedCgroupMounts) {
    struct statfs fs{};
    struct stat st{};
    // (A v1 hierarchy may be mounted at the same place: its inodes are no ids.)
    if (statfs(mount, &fs) != 0 || fs.f_type != CGROUP2_SUPER_MAGIC) continue;
    if (stat((std::string(mount) + cgroups.unified).c_str(), &st) == 0) return static_cast<uint64_t>(st.st_ino);
  }
  return std::nullopt;
}

}  // namespace why502

#include "host/cgroup_id.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "events/cgroup_path.hpp"

namespace why502 {
namespace {

// Where systemd mounts the unified hierarchy: on its own, or beside v1
// hierarchies (its hybrid layout).
constexpr const char* kUnifiedCgroupMounts[] = {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"};

bool is_cgroup2(const char* path) {
  struct statfs fs{};
  // (A v1 hierarchy or a tmpfs may be mounted there instead: its inodes are no ids.)
  return statfs(path, &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC;
}

// A cgroup2 filesystem mounted on a fresh directory, opened and detached at
// once: from then on only the open directory reaches it, and keeps it for
// why502's life. (Needs CAP_SYS_ADMIN; without it there is none.)
class DetachedCgroup2 {
 public:
  DetachedCgroup2() {
    char dir[] = "/tmp/why502-cgroup2-XXXXXX";
    if (!mkdtemp(dir)) return;
    if (mount("cgroup2", dir, "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) == 0) {
      fd_ = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      umount2(dir, MNT_DETACH);
    }
    rmdir(dir);
  }
  ~DetachedCgroup2() {
    if (fd_ >= 0) close(fd_);
  }
  DetachedCgroup2(const DetachedCgroup2&) = delete;
  DetachedCgroup2& operator=(const DetachedCgroup2&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
};

}  // namespace

const std::string& unified_cgroup_root() {
  static const std::string root = []() -> std::string {
    for (const char* mount : kUnifiedCgroupMounts)
      if (is_cgroup2(mount)) return mount;
    static const DetachedCgroup2 own;
    return own.fd() >= 0 ? "/proc/self/fd/" + std::to_string(own.fd()) : "";
  }();
  return root;
}

std::optional<uint64_t> unified_cgroup_id(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cgroup");
  const ProcessCgroups cgroups = cgroups_in(in);
  const std::string& root = unified_cgroup_root();
  struct stat st{};
  if (cgroups.unified.empty() || root.empty() || stat((root + cgroups.unified).c_str(), &st) != 0) return std::nullopt;
  return static_cast<uint64_t>(st.st_ino);
}

}  // namespace why502

// A security policy denying connect(): a cgroup v2 hierarchy of the test's
// own (mounted on a scratch directory), one cgroup in it with a
// BPF_CGROUP_INET4_CONNECT program that refuses every IPv4 connect(), and
// processes moved into it. connect() then fails at once with EPERM, as a
// container runtime's or a host firewall's cgroup program makes it fail.
// Everything is undone on destruction (the processes go back to the
// hierarchy's root, the program is detached, the mount removed).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace why502::testing {

class DeniedConnects {
 public:
  DeniedConnects();  // throws std::runtime_error, naming the step that failed
  ~DeniedConnects();
  DeniedConnects(const DeniedConnects&) = delete;
  DeniedConnects& operator=(const DeniedConnects&) = delete;

  void add(pid_t pid);  // throws when the process cannot be moved in

 private:
  void set_up();
  void undo();

  std::string mount_dir_;
  std::string cgroup_dir_;
  int cgroup_fd_ = -1;
  int program_fd_ = -1;
  bool attached_ = false;
  std::vector<pid_t> moved_;
};

}  // namespace why502::testing

#include "denied_connects.hpp"

#include <fcntl.h>
#include <linux/bpf.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <stdexcept>

namespace why502::testing {
namespace {

long bpf(int command, bpf_attr& attr) { return syscall(SYS_bpf, command, &attr, sizeof(attr)); }

[[noreturn]] void fail(const std::string& step) {
  throw std::runtime_error("denying connect(): " + step + ": " + std::strerror(errno));
}

// "r0 = 0; exit": the connect4 hook's verdict 0 is EPERM for the caller.
int load_deny_program() {
  const bpf_insn program[] = {
      {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0},
      {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
  };
  static const char license[] = "GPL";
  bpf_attr attr{};
  attr.prog_type = BPF_PROG_TYPE_CGROUP_SOCK_ADDR;
  attr.expected_attach_type = BPF_CGROUP_INET4_CONNECT;
  attr.insns = reinterpret_cast<uint64_t>(program);
  attr.insn_cnt = sizeof(program) / sizeof(program[0]);
  attr.license = reinterpret_cast<uint64_t>(license);
  return static_cast<int>(bpf(BPF_PROG_LOAD, attr));
}

}  // namespace

DeniedConnects::DeniedConnects() {
  try {
    set_up();
  } catch (...) {
    undo();  // a constructor that throws gets no destructor
    throw;
  }
}

void DeniedConnects::set_up() {
  char dir[] = "/tmp/why502-cgroup2-XXXXXX";
  if (!mkdtemp(dir)) fail("mkdtemp");
  if (mount("why502-test", dir, "cgroup2", 0, nullptr) != 0) {
    const int error = errno;
    rmdir(dir);
    errno = error;
    fail("mounting a cgroup2 hierarchy");
  }
  mount_dir_ = dir;
  if (mkdir((mount_dir_ + "/denied").c_str(), 0755) != 0) fail("mkdir " + mount_dir_ + "/denied");
  cgroup_dir_ = mount_dir_ + "/denied";
  cgroup_fd_ = open(cgroup_dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cgroup_fd_ < 0) fail("open " + cgroup_dir_);
  program_fd_ = load_deny_program();
  if (program_fd_ < 0) fail("loading the connect4 program");
  bpf_attr attr{};
  attr.target_fd = static_cast<uint32_t>(cgroup_fd_);
  attr.attach_bpf_fd = static_cast<uint32_t>(program_fd_);
  attr.attach_type = BPF_CGROUP_INET4_CONNECT;
  if (bpf(BPF_PROG_ATTACH, attr) != 0) fail("attaching the connect4 program");
  attached_ = true;
}

void DeniedConnects::add(pid_t pid) {
  std::ofstream procs(cgroup_dir_ + "/cgroup.procs");
  procs << pid << std::flush;
  if (!procs) throw std::runtime_error("denying connect(): cannot move pid " + std::to_string(pid) + " in");
  moved_.push_back(pid);
}

DeniedConnects::~DeniedConnects() { undo(); }

void DeniedConnects::undo() {
  // Back to the root (a process gone by now needs nothing), so that the
  // cgroup is empty and can go.
  for (pid_t pid : moved_) std::ofstream(mount_dir_ + "/cgroup.procs") << pid << std::flush;
  if (attached_) {
    bpf_attr attr{};
    attr.target_fd = static_cast<uint32_t>(cgroup_fd_);
    attr.attach_bpf_fd = static_cast<uint32_t>(program_fd_);
    attr.attach_type = BPF_CGROUP_INET4_CONNECT;
    bpf(BPF_PROG_DETACH, attr);
  }
  if (program_fd_ >= 0) close(program_fd_);
  if (cgroup_fd_ >= 0) close(cgroup_fd_);
  if (!cgroup_dir_.empty()) rmdir(cgroup_dir_.c_str());
  if (!mount_dir_.empty()) {
    umount2(mount_dir_.c_str(), MNT_DETACH);
    rmdir(mount_dir_.c_str());
  }
}

}  // namespace why502::testing

// The one part of why502 that keeps CAP_SYS_ADMIN once tracing: a child
// process that places uprobes and, for the ports_exhausted evidence, reads
// the local port range of another network namespace (setns needs it), and
// does nothing else.
//
// The kernel's uprobe PMU refuses perf_event_open without CAP_SYS_ADMIN, and
// a long-running tracer must attach to nginx binaries started later (an
// upgrade, another path). So the tracer forks this helper while it holds its
// capabilities, and then drops CAP_SYS_ADMIN itself. For each uprobe the
// tracer sends the binary (a descriptor), the function's offset in it, the BPF
// program (a descriptor) and the attach cookie over a socketpair; the helper
// opens the uprobe perf event, links the program to it (BPF_LINK_CREATE) and
// sends the link's descriptor back. The tracer holds the link: closing it
// removes the uprobe. The helper keeps no descriptor of its own, has no other
// capability, runs only system calls (no allocation: it is forked from a
// process that may have threads), and exits when the tracer does.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "common/result.hpp"

namespace why502 {

// A descriptor closed when it goes.
class OwnedFd {
 public:
  OwnedFd() = default;
  explicit OwnedFd(int fd) : fd_(fd) {}
  OwnedFd(OwnedFd&& other) noexcept : fd_(other.release()) {}
  OwnedFd& operator=(OwnedFd&& other) noexcept;
  OwnedFd(const OwnedFd&) = delete;
  OwnedFd& operator=(const OwnedFd&) = delete;
  ~OwnedFd();
  int get() const { return fd_; }
  int release();

 private:
  int fd_ = -1;
};

class UprobeBroker {
 public:
  // Forks the helper; the error says why it cannot run.
  static Result<std::unique_ptr<UprobeBroker>> start();
  ~UprobeBroker();  // the helper sees the socket close and exits; it is reaped here
  UprobeBroker(const UprobeBroker&) = delete;
  UprobeBroker& operator=(const UprobeBroker&) = delete;

  // A uprobe at file_offset of the binary open as binary_fd, running the BPF
  // program prog_fd with that cookie: the link, or why not.
  Result<OwnedFd> attach(int binary_fd, uint64_t file_offset, int prog_fd, uint64_t cookie);
  // net.ipv4.ip_local_port_range of the network namespace open as netns_fd;
  // false when it could not be read.
  bool port_range(int netns_fd, uint32_t* low, uint32_t* high);
  pid_t pid() const { return pid_; }

 private:
  UprobeBroker(int socket, pid_t pid) : socket_(socket), pid_(pid) {}
  OwnedFd socket_;
  pid_t pid_;
};

}  // namespace why502

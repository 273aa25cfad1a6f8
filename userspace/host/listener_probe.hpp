// What the kernel says about a local TCP listener right now: its accept queue
// (NETLINK_SOCK_DIAG, as `ss -lnt` reads it), the processes holding it and
// their descriptor use (/proc). Read only when nginx timed out on an upstream,
// so its cost never lands on a healthy request.
#pragma once

#include <cstdint>
#include <istream>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "why502_wire.h"

namespace why502 {

class ListenerProber {
 public:
  // The listener serving addr (exact address or wildcard, same port), as an
  // event stamped with ts_ns; nullopt when no local listener matches.
  std::optional<w5_listener_state> probe(const w5_addr& addr, uint64_t ts_ns);

 private:
  // What /proc showed of one process: the socket inodes among its descriptors.
  struct Process {
    uint64_t proc_inode = 0;  // of /proc/PID: another process under the same pid has another
    uint64_t read_ns = 0;
    uint64_t generation = 0;  // the last probe that saw it
    std::vector<uint64_t> sockets;  // sorted
  };
  void find_owners(uint64_t inode, w5_listener_state& out);

  // Reading every descriptor of every process costs ~0.2 s with 2000
  // processes of 16 descriptors: each probe reads only what changed.
  std::unordered_map<uint32_t, Process> processes_;
  uint64_t generation_ = 0;
  uint64_t last_unowned_inode_ = 0;  // read afresh once, not on every probe
};

// The parsers behind probe_listener, apart from the kernel they read.

struct TcpListener {
  w5_addr addr{};
  uint32_t queued = 0;
  uint32_t backlog = 0;
  uint64_t inode = 0;
};

// One recv() of a NETLINK_SOCK_DIAG dump of family's listeners: appends them
// to found; true once the dump is over (done or failed).
bool listeners_in_sock_diag_reply(std::span<const uint8_t> reply, int family, std::vector<TcpListener>& found);

// The soft "Max open files" of /proc/PID/limits; 0 when unlimited, absent or
// malformed (no limit known), UINT32_MAX past 32 bits.
uint32_t fd_soft_limit_in_limits(std::istream& limits);

// The socket inodes among the descriptors of process pid (/proc/PID/fd/N
// links to "socket:[inode]"; proc_fd is /proc open), sorted.
std::vector<uint64_t> socket_inodes(int proc_fd, const char* pid);

// TcpExt ListenOverflows of /proc/net/netstat; 0 when absent.
uint64_t listen_overflows_in_netstat(std::istream& netstat);

}  // namespace why502

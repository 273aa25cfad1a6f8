#include "host/listener_probe.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "host/file_text.hpp"
#include "host/sock_diag_query.hpp"
#include "output/clock.hpp"

namespace why502 {
namespace {

constexpr int kTcpListen = 10;

std::vector<TcpListener> tcp_listeners(int family) {
  std::vector<TcpListener> found;
  inet_diag_req_v2 request{};
  request.sdiag_family = static_cast<uint8_t>(family);
  request.sdiag_protocol = IPPROTO_TCP;
  request.idiag_states = 1u << kTcpListen;
  sock_diag_query(request, /*dump=*/true, [&](std::span<const uint8_t> reply) {
    return listeners_in_sock_diag_reply(reply, family, found);
  });
  return found;
}

bool serves(const TcpListener& l, const w5_addr& addr) {
  static const uint8_t zeros[16] = {};
  const size_t len = addr.family == AF_INET ? 4 : 16;
  return l.addr.family == addr.family && l.addr.port == addr.port &&
         (std::memcmp(l.addr.addr, addr.addr, len) == 0 || std::memcmp(l.addr.addr, zeros, len) == 0);
}

uint32_t open_fds(const std::string& proc_dir) {
  uint32_t n = 0;
  if (DIR* d = opendir((proc_dir + "/fd").c_str())) {
    while (dirent* e = readdir(d))
      if (e->d_name[0] != '.') ++n;
    closedir(d);
  }
  return n;
}

uint32_t fd_soft_limit(const std::string& proc_dir) {
  std::ifstream in(proc_dir + "/limits");
  return fd_soft_limit_in_limits(in);
}

uint64_t listen_overflows() {
  std::ifstream in("/proc/net/netstat");
  return listen_overflows_in_netstat(in);
}

}  // namespace

std::vector<uint64_t> socket_inodes(int proc_fd, const char* pid) {
  std::vector<uint64_t> inodes;
  const int fd_dir = openat(proc_fd, (std::string(pid) + "/fd").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd_dir < 0) return inodes;
  DIR* fds = fdopendir(fd_dir);
  if (!fds) {
    close(fd_dir);
    return inodes;
  }
  char link[64];
  constexpr std::string_view kPrefix = "socket:[";
  while (dirent* fd = readdir(fds)) {
    if (fd->d_name[0] == '.') continue;
    const ssize_t len = readlinkat(fd_dir, fd->d_name, link, sizeof(link));
    if (len <= static_cast<ssize_t>(kPrefix.size()) || std::string_view(link, kPrefix.size()) != kPrefix) continue;
    uint64_t inode = 0;
    const char* digits = link + kPrefix.size();
    if (std::from_chars(digits, link + len, inode).ec == std::errc()) inodes.push_back(inode);
  }
  closedir(fds);
  std::sort(inodes.begin(), inodes.end());
  return inodes;
}

bool listeners_in_sock_diag_reply(std::span<const uint8_t> reply, int family, std::vector<TcpListener>& found) {
  // Every length is checked against the bytes received before anything is
  // read (NLMSG_OK alone lets a last, unaligned message step past the end);
  // headers are copied out, so the reply needs no alignment.
  size_t offset = 0;
  while (reply.size() - offset >= sizeof(nlmsghdr)) {
    nlmsghdr h;
    std::memcpy(&h, reply.data() + offset, sizeof(h));
    if (h.nlmsg_len < sizeof(h) || h.nlmsg_len > reply.size() - offset) return true;  // garbled: stop the dump
    if (h.nlmsg_type == NLMSG_DONE || h.nlmsg_type == NLMSG_ERROR) return true;
    if (h.nlmsg_len >= NLMSG_LENGTH(sizeof(inet_diag_msg))) {
      inet_diag_msg msg;
      std::memcpy(&msg, reply.data() + offset + NLMSG_HDRLEN, sizeof(msg));
      TcpListener l;
      l.addr.family = static_cast<uint16_t>(family);
      l.addr.port = ntohs(msg.id.idiag_sport);
      std::memcpy(l.addr.addr, msg.id.idiag_src, family == AF_INET ? 4 : 16);
      l.queued = msg.idiag_rqueue;   // for a listener: connections waiting to be accepted
      l.backlog = msg.idiag_wqueue;  // for a listener: the accept queue's limit
      l.inode = msg.idiag_inode;
      found.push_back(l);
    }
    offset = std::min<size_t>(offset + NLMSG_ALIGN(h.nlmsg_len), reply.size());
  }
  return false;
}

uint32_t fd_soft_limit_in_limits(std::istream& limits) {
  std::string line;
  while (std::getline(limits, line)) {
    if (line.rfind("Max open files", 0) != 0) continue;
    std::istringstream fields(line.substr(14));
    std::string soft;
    fields >> soft;
    uint64_t limit = 0;
    const auto [end, error] = std::from_chars(soft.data(), soft.data() + soft.size(), limit);
    // "unlimited", or anything else that is not a number: no limit known.
    if (error == std::errc::result_out_of_range) return UINT32_MAX;
    if (error != std::errc() || end != soft.data() + soft.size()) return 0;
    return static_cast<uint32_t>(std::min<uint64_t>(limit, UINT32_MAX));
  }
  return 0;
}

uint64_t listen_overflows_in_netstat(std::istream& netstat) {
  // A "TcpExt:" line of names, then one of values.
  std::string names, values;
  while (std::getline(netstat, names) && std::getline(netstat, values)) {
    if (names.rfind("TcpExt:", 0) != 0) continue;
    std::istringstream n(names), v(values);
    std::string name, value;
    while (n >> name && v >> value) {
      if (name != "ListenOverflows") continue;
      uint64_t overflows = 0;
      const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), overflows);
      return error == std::errc() && end == value.data() + value.size() ? overflows : 0;
    }
  }
  return 0;
}

// Processes holding the socket. A process's sockets are read again once they
// are older than kSocketsMaxAgeNs (staggered by pid, so that one probe does
// not re-read them all), or when /proc shows a new process under its pid; a
// listener held by none of the sockets known triggers one fresh read of all.
void ListenerProber::find_owners(uint64_t inode, w5_listener_state& out) {
  constexpr uint64_t kSocketsMaxAgeNs = 10'000'000'000ull;
  const uint64_t now = monotonic_now_ns();
  const int proc_fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (proc_fd < 0) return;
  DIR* proc = fdopendir(proc_fd);
  if (!proc) {
    close(proc_fd);
    return;
  }
  ++generation_;
  struct Candidate {
    uint32_t pid;
    Process* process;
    bool read_now;
  };
  std::vector<Candidate> candidates;
  candidates.reserve(processes_.size() + 64);
  while (dirent* entry = readdir(proc)) {
    uint32_t pid = 0;
    const char* end = entry->d_name + std::strlen(entry->d_name);
    if (std::from_chars(entry->d_name, end, pid).ptr != end || pid == 0) continue;
    Process& p = processes_[pid];
    // /proc's inode for the pid changes with the process that has it.
    const bool fresh = p.proc_inode == entry->d_ino && now - p.read_ns < kSocketsMaxAgeNs + (pid % 8) * kSocketsMaxAgeNs / 8;
    if (!fresh) {
      p.sockets = socket_inodes(proc_fd, entry->d_name);
      p.proc_inode = entry->d_ino;
      p.read_ns = now;
    }
    p.generation = generation_;
    candidates.push_back({pid, &p, !fresh});
  }
  closedir(proc);
  std::erase_if(processes_, [this](const auto& entry) { return entry.second.generation != generation_; });

  auto holds = [inode](const Process& p) { return std::binary_search(p.sockets.begin(), p.sockets.end(), inode); };
  bool any = std::any_of(candidates.begin(), candidates.end(), [&](const Candidate& c) { return holds(*c.process); });
  if (!any && inode != last_unowned_inode_) {
    // Bound since its holder's sockets were read, or held by no process we see.
    last_unowned_inode_ = inode;
    const int again = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    for (Candidate& c : candidates) {
      if (c.read_now || again < 0) continue;
      c.process->sockets = socket_inodes(again, std::to_string(c.pid).c_str());
      c.process->read_ns = now;
    }
    if (again >= 0) close(again);
  }
  for (const Candidate& c : candidates) {
    if (!holds(*c.process)) continue;
    ++out.owners;
    // Report the owner closest to its descriptor limit: the one that cannot accept.
    const std::string dir = "/proc/" + std::to_string(c.pid);
    const uint32_t used = open_fds(dir);
    const uint32_t limit = fd_soft_limit(dir);
    const bool first = out.owner_pid == 0;
    const bool fuller = limit != 0 && (out.fd_limit == 0 || used * 1.0 / limit > out.fds_open * 1.0 / out.fd_limit);
    if (first || fuller) {
      out.owner_pid = c.pid;
      out.fds_open = used;
      out.fd_limit = limit;
      std::string comm = first_line(dir + "/comm");
      std::memset(out.owner_comm, 0, sizeof(out.owner_comm));
      std::memcpy(out.owner_comm, comm.data(), std::min(comm.size(), sizeof(out.owner_comm) - 1));
    }
  }
}

std::optional<w5_listener_state> ListenerProber::probe(const w5_addr& addr, uint64_t ts_ns) {
  if (addr.family != AF_INET && addr.family != AF_INET6) return std::nullopt;
  for (const TcpListener& l : tcp_listeners(addr.family)) {
    if (!serves(l, addr)) continue;
    w5_listener_state e{};
    e.h.type = W5_EV_LISTENER_STATE;
    e.h.size = sizeof(e);
    e.h.ts_ns = ts_ns;
    e.addr = l.addr;
    e.queued = l.queued;
    e.backlog = l.backlog;
    e.listen_overflows = listen_overflows();
    find_owners(l.inode, e);
    return e;
  }
  return std::nullopt;
}

}  // namespace why502

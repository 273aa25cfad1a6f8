#include "host/backend_state.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "events/cgroup_path.hpp"
#include "host/awaited_connection.hpp"
#include "host/blocking_syscalls.hpp"
#include "host/cgroup_id.hpp"
#include "host/file_text.hpp"
#include "host/namespace_tcp.hpp"
#include "host/polled_descriptor.hpp"
#include "host/port_usage.hpp"
#include "host/sock_diag_query.hpp"
#include "host/tcp_socket_diag.hpp"
#include "output/clock.hpp"

namespace why502 {
namespace {

constexpr unsigned kTcpListen = 10;
constexpr size_t kMaxThreads = 1024;  // threads looked at per backend process
constexpr std::chrono::milliseconds kSecondLookPause{5};  // before a running thread is looked at again
constexpr int kMaxSecondLooks = 3;                           // and at most so many times

template <size_t N>
void set_text(char (&dst)[N], std::string_view s) {
  std::memset(dst, 0, N);
  // A path longer than the field keeps its tail: the name at its end matters most.
  if (s.size() > N - 1) {
    std::memcpy(dst, "...", 3);
    s = s.substr(s.size() - (N - 4));
    std::memcpy(dst + 3, s.data(), s.size());
    return;
  }
  std::memcpy(dst, s.data(), s.size());
}

// One of this host's addresses: binding to it works (port 0, so nothing is taken).
bool is_local_address(const w5_addr& a) {
  const int fd = socket(a.family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  int rc = -1;
  if (a.family == AF_INET) {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    std::memcpy(&sa.sin_addr, a.addr, 4);
    rc = bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
  } else {
    sockaddr_in6 sa{};
    sa.sin6_family = AF_INET6;
    std::memcpy(&sa.sin6_addr, a.addr, 16);
    rc = bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
  }
  close(fd);
  return rc == 0;
}

// The TCP sockets of family whose local port is local_port and remote port
// remote_port, from a dump the kernel filters (inet_diag bytecode): the
// backend's end of a connection whose addresses are not known, only its ports.
std::vector<uint64_t> tcp_inodes_with_ports(uint16_t family, uint16_t local_port, uint16_t remote_port) {
  struct {
    nlmsghdr header;
    inet_diag_req_v2 request;
    nlattr attribute;
    inet_diag_bc_op ops[4];  // local port ==, then remote port ==
  } message{};
  message.header.nlmsg_len = sizeof(message);
  message.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  message.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  message.request.sdiag_family = static_cast<uint8_t>(family);
  message.request.sdiag_protocol = IPPROTO_TCP;
  message.request.idiag_states = ~(1u << kTcpListen);
  message.attribute.nla_type = INET_DIAG_REQ_BYTECODE;
  message.attribute.nla_len = static_cast<uint16_t>(NLA_HDRLEN + sizeof(message.ops));
  // A condition that holds steps on (yes = 8 bytes); one that fails jumps
  // past the end (no = what is left + 4), which rejects the socket.
  message.ops[0] = {INET_DIAG_BC_S_EQ, 8, 20};
  message.ops[1].no = local_port;
  message.ops[2] = {INET_DIAG_BC_D_EQ, 8, 12};
  message.ops[3].no = remote_port;
  std::vector<TcpListener> sockets;  // the dump's parser reads any inet socket
  sock_diag_query(std::span(reinterpret_cast<const uint8_t*>(&message), sizeof(message)),
                  [&](std::span<const uint8_t> reply) { return listeners_in_sock_diag_reply(reply, family, sockets); });
  std::vector<uint64_t> inodes;
  for (const TcpListener& s : sockets)
    if (s.inode != 0) inodes.push_back(s.inode);
  return inodes;
}

// The first process holding socket inode: /proc/*/fd, stopping at the first.
uint32_t holder_of(uint64_t inode) {
  if (inode == 0) return 0;
  const int proc_fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (proc_fd < 0) return 0;
  DIR* proc = fdopendir(proc_fd);
  if (!proc) {
    close(proc_fd);
    return 0;
  }
  uint32_t holder = 0;
  const uint32_t self = static_cast<uint32_t>(getpid());
  while (dirent* entry = readdir(proc)) {
    uint32_t pid = 0;
    const char* end = entry->d_name + std::strlen(entry->d_name);
    if (std::from_chars(entry->d_name, end, pid).ptr != end || pid == 0 || pid == self) continue;
    const std::vector<uint64_t> sockets = socket_inodes(proc_fd, entry->d_name);
    if (std::binary_search(sockets.begin(), sockets.end(), inode)) {
      holder = pid;
      break;
    }
  }
  closedir(proc);
  return holder;
}

std::string proc_dir(uint32_t pid) { return "/proc/" + std::to_string(pid); }

// The process holding socket inode, as the thread's wait names it: the
// listener at a connection's other end, or a unix connection's peer.
void name_other_end(uint64_t inode, w5_backend_state& e) {
  if (const uint32_t holder = holder_of(inode)) {
    e.wait_listener_pid = holder;
    set_text(e.wait_listener_comm, first_line(proc_dir(holder) + "/comm"));
  }
}

// The accepted ends of the unix connections to path whose other end is one
// of peers (a worker's socket inodes), from a unix_diag dump with names
// and peers: an accepted socket carries its listener's path.
std::vector<uint64_t> unix_server_ends(const std::string& path, const std::vector<uint64_t>& peers) {
  std::vector<uint64_t> found;
  unix_diag_req request{};
  request.sdiag_family = AF_UNIX;
  request.udiag_states = 1u << 1;  // TCP_ESTABLISHED: connected stream sockets
  request.udiag_show = UDIAG_SHOW_NAME | UDIAG_SHOW_PEER;
  request.udiag_cookie[0] = INET_DIAG_NOCOOKIE;
  request.udiag_cookie[1] = INET_DIAG_NOCOOKIE;
  sock_diag_query(request, /*dump=*/true, [&](std::span<const uint8_t> reply) {
    bool done = false;
    unix_sockets_in_diag_reply(reply, path, peers, found, done);
    return done;
  });
  return found;
}

// The TCP socket of inode among the sockets of pid's network namespace, and
// whether its local end is one of that namespace's listeners (accepted).
struct TcpEnds {
  w5_addr local{};
  w5_addr remote{};
  bool server_side = false;
  uint64_t listener_inode = 0;  // the local listener at remote, when there is one
};
std::optional<TcpEnds> tcp_ends_of(uint32_t pid, uint64_t inode) {
  const NamespaceTcp tcp = read_namespace_tcp(pid, [&](const ProcNetTcpSocket& s) { return s.inode == inode; });
  if (tcp.kept.empty()) return std::nullopt;  // a unix or UDP socket, or a listener
  const ProcNetTcpSocket& mine = tcp.kept.front();
  const ProcNetTcpSocket* server = tcp.listener_at(mine.remote);
  return TcpEnds{mine.local, mine.remote, tcp.listener_at(mine.local) != nullptr, server ? server->inode : 0};
}

std::optional<SyscallState> task_syscall(const std::string& task) {
  return syscall_state_in(first_line(task + "/syscall"));
}

// Whether pid's descriptor fd is a listening socket: asked of a copy of it
// (pidfd_getfd, under the ptrace check /proc/PID/task/*/syscall already
// passed). nullopt when the copy is refused.
std::optional<bool> is_listening_socket(uint32_t pid, int fd) {
  const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) return std::nullopt;
  const int copy = static_cast<int>(syscall(SYS_pidfd_getfd, pidfd, fd, 0));
  close(pidfd);
  if (copy < 0) return std::nullopt;
  int listening = 0;
  socklen_t len = sizeof(listening);
  const bool asked = getsockopt(copy, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) == 0;
  close(copy);
  if (!asked) return std::nullopt;
  return listening != 0;
}

// Whether what a poll() or select() of one descriptor waits on is one thing
// this request may wait for (a connection, a file), not new connections (a
// listener) or a wakeup (a pipe, an eventfd), or not known.
bool waits_on_one_thing(uint32_t pid, int fd) {
  char link[64];
  const std::string fd_path = proc_dir(pid) + "/fd/" + std::to_string(fd);
  const ssize_t len = readlink(fd_path.c_str(), link, sizeof(link) - 1);
  if (len <= 0) return false;
  const std::string_view target(link, static_cast<size_t>(len));
  if (target.starts_with('/')) return true;
  return target.starts_with("socket:[") && is_listening_socket(pid, fd) == false;
}

// What a thread was doing, ranked by how telling it is of what held the
// request up: stopped, in the disk, running; then blocked on one descriptor
// (a socket, a file: waited_fd); then asleep, or waiting for a child or a
// semaphore; last, waiting for any work. A thread pool's handler asleep or
// on its database so goes before the main thread's event loop and the idle
// threads beside it; among equals the main thread goes first.
struct ThreadWait {
  int rank = 1;
  int waited_fd = -1;
};
ThreadWait wait_of(uint32_t pid, char state, const std::optional<SyscallState>& call) {
  ThreadWait w;
  const bool in_call = call && !call->running && call->nr >= 0;
  const BlockedOn on = in_call ? blocked_on(call->nr) : BlockedOn::any_work;
  if (on == BlockedOn::descriptor && call->args[0] <= 1u << 30) {
    w.waited_fd = static_cast<int>(call->args[0]);
  } else if (on == BlockedOn::polled) {
    const std::optional<int> fd = polled_descriptor(pid, call->nr, call->args);
    if (fd && waits_on_one_thing(pid, *fd)) w.waited_fd = *fd;
  }
  if (state == 'T' || state == 't') w.rank = 6;
  else if (state == 'D') w.rank = 5;
  else if (state == 'R') w.rank = 4;
  else if (w.waited_fd >= 0) w.rank = 3;
  else if (on == BlockedOn::other) w.rank = 2;
  else w.rank = 1;  // any work, a poll of many or of a listener, not in a call
  return w;
}

// The unix socket with inode, asked of unix_diag by its inode (no dump).
std::optional<UnixDiagSocket> unix_socket(uint64_t inode) {
  if (inode == 0 || inode > UINT32_MAX) return std::nullopt;  // unix_diag numbers inodes in 32 bits
  unix_diag_req request{};
  request.sdiag_family = AF_UNIX;
  request.udiag_states = ~0u;
  request.udiag_ino = static_cast<uint32_t>(inode);
  request.udiag_show = UDIAG_SHOW_NAME | UDIAG_SHOW_PEER;
  request.udiag_cookie[0] = INET_DIAG_NOCOOKIE;
  request.udiag_cookie[1] = INET_DIAG_NOCOOKIE;
  std::optional<UnixDiagSocket> found;
  sock_diag_query(request, /*dump=*/false, [&](std::span<const uint8_t> reply) {
    unix_diag_sockets_in_reply(reply, [&](const UnixDiagSocket& s) {
      if (s.inode == inode) found = s;
    });
    return true;  // one datagram: the socket, or an error
  });
  return found;
}

// A unix socket waited on (a UDP one, or one of a socketpair, says nothing
// more): the path of its connection (the peer's name when it connected; its
// own when it was accepted) and the process at the other end.
void describe_unix_wait(uint64_t inode, w5_backend_state& e) {
  const std::optional<UnixDiagSocket> mine = unix_socket(inode);
  if (!mine) return;
  const bool accepted = !mine->name.empty();
  std::string path = mine->name;
  if (!accepted && mine->peer != 0)
    if (const std::optional<UnixDiagSocket> peer = unix_socket(mine->peer)) path = peer->name;
  if (path.empty()) return;
  e.wait_kind = W5_WAIT_UNIX_SOCKET;
  e.wait_server_side = accepted ? W5_SERVER_SIDE : 0;
  set_text(e.wait_path, path);
  name_other_end(mine->peer, e);
}

void describe_wait(uint32_t pid, int fd, w5_backend_state& e) {
  if (fd < 0) return;
  e.wait_fd = fd;
  char link[256];
  const std::string fd_path = proc_dir(pid) + "/fd/" + std::to_string(fd);
  const ssize_t len = readlink(fd_path.c_str(), link, sizeof(link) - 1);
  if (len <= 0) return;
  const std::string_view target(link, static_cast<size_t>(len));
  constexpr std::string_view kSocket = "socket:[";
  if (target.starts_with(kSocket)) {
    uint64_t inode = 0;
    std::from_chars(target.data() + kSocket.size(), target.data() + target.size(), inode);
    const std::optional<TcpEnds> ends = tcp_ends_of(pid, inode);
    if (!ends) {
      describe_unix_wait(inode, e);
      return;
    }
    e.wait_kind = W5_WAIT_SOCKET;
    e.wait_local = ends->local;
    e.wait_remote = ends->remote;
    e.wait_server_side = ends->server_side ? W5_SERVER_SIDE : 0;
    name_other_end(ends->listener_inode, e);
    return;
  }
  if (target.starts_with('/')) {
    e.wait_kind = W5_WAIT_FILE;
    set_text(e.wait_path, target);
  }
}

// When the backend got nginx's request (CLOCK_MONOTONIC): its end of the
// connection, asked at asked_ns, last received data then (it reads no more
// while it works on it); else, when the kernel's in-flight table has it,
// when nginx sent it.
std::optional<uint64_t> request_arrival_ns(const std::optional<TcpActivity>& backend_end, uint64_t asked_ns,
                                           uint64_t sent_ns) {
  if (backend_end && backend_end->received_any != false) {
    const uint64_t ago_ns = uint64_t{backend_end->last_received_ms} * 1'000'000;
    if (asked_ns > ago_ns) return asked_ns - ago_ns;
  }
  if (sent_ns != 0) return sent_ns;
  return std::nullopt;
}

// A backend asleep with no thread blocked on one descriptor (an event
// loop, a thread pool): the connection it opened and sent on since it got
// nginx's request (at arrival_ns), unanswered since.
void note_awaited_connection(w5_backend_state& e, std::optional<uint64_t> arrival_ns) {
  if (!arrival_ns || e.wait_kind != W5_WAIT_NONE || (e.state != 'S' && e.state != 'D')) return;
  const std::optional<AwaitedConnection> c = awaited_connection(e.pid, *arrival_ns);
  if (!c) return;
  e.wait_kind = W5_WAIT_AWAITED_SOCKET;
  e.wait_local = c->local;
  e.wait_remote = c->remote;
  name_other_end(c->listener_inode, e);
}

struct CgroupFiles {
  std::string dir;  // the cgroup's directory in the cpu hierarchy
  bool v1 = false;
};
CgroupFiles cpu_cgroup_dir(const ProcessCgroups& c) {
  if (c.has_v1_cpu) {
    for (const char* mount : {"/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpuacct,cpu"})
      if (access((std::string(mount) + c.cpu + "/cpu.stat").c_str(), R_OK) == 0) return {mount + c.cpu, true};
    return {};
  }
  const std::string& root = unified_cgroup_root();
  if (!c.unified.empty() && !root.empty() && access((root + c.unified + "/cpu.stat").c_str(), R_OK) == 0)
    return {root + c.unified, false};
  return {};
}

std::optional<CpuThrottling> throttling_of(const CgroupFiles& cg) {
  if (cg.dir.empty()) return std::nullopt;
  std::ifstream in(cg.dir + "/cpu.stat");
  return cpu_stat_in(in);
}

std::optional<SchedStat> schedstat_of(const std::string& task) {
  std::ifstream in(task + "/schedstat");
  return schedstat_in(in);
}

void read_quota(const CgroupFiles& cg, w5_backend_state& e) {
  e.quota_us = -1;
  if (cg.dir.empty()) return;
  if (cg.v1) {
    std::ifstream quota(cg.dir + "/cpu.cfs_quota_us"), period(cg.dir + "/cpu.cfs_period_us");
    int64_t q = -1;
    uint64_t p = 0;
    if (quota >> q && period >> p) {
      e.quota_us = q;
      e.period_us = p;
    }
    return;
  }
  std::ifstream max(cg.dir + "/cpu.max");
  int64_t quota = -1;
  uint64_t period = 0;
  if (cpu_max_in(max, &quota, &period)) {
    e.quota_us = quota;
    e.period_us = period;
  }
}

// The process's threads, the most telling one chosen; state and system call
// as they were at once (before any sample).
void describe_process(uint32_t pid, w5_backend_state& e) {
  e.pid = pid;
  const std::string dir = proc_dir(pid);
  set_text(e.comm, first_line(dir + "/comm"));
  e.syscall_nr = -1;
  int best_rank = -1;
  DIR* tasks = opendir((dir + "/task").c_str());
  if (!tasks) return;  // gone: state stays 0
  std::vector<uint32_t> tids;
  while (dirent* t = readdir(tasks)) {
    uint32_t tid = 0;
    const char* end = t->d_name + std::strlen(t->d_name);
    if (std::from_chars(t->d_name, end, tid).ptr == end && tid != 0) tids.push_back(tid);
  }
  closedir(tasks);
  std::sort(tids.begin(), tids.end());  // the main thread first among equals
  e.threads = static_cast<uint32_t>(tids.size());
  if (tids.size() > kMaxThreads) tids.resize(kMaxThreads);
  struct ThreadLook {
    uint32_t tid = 0;
    TaskStat stat;
    std::optional<SyscallState> call;
    ThreadWait wait;
  };
  auto look_at = [&](uint32_t tid) -> std::optional<ThreadLook> {
    const std::string task = dir + "/task/" + std::to_string(tid);
    std::optional<TaskStat> stat = task_stat_in(read_text(task + "/stat"));
    if (!stat) return std::nullopt;
    std::optional<SyscallState> call = task_syscall(task);
    const ThreadWait wait = wait_of(pid, stat->state, call);
    return ThreadLook{tid, std::move(*stat), call, wait};
  };
  std::vector<ThreadLook> looks;
  bool some_running = false;
  for (uint32_t tid : tids)
    if (std::optional<ThreadLook> look = look_at(tid)) {
      some_running |= look->stat.state == 'R';
      looks.push_back(std::move(*look));
    }
  // A thread seen running may only have woken for a moment (an event loop's
  // timeout, a timer, or nginx's own close as it gives up, which wakes a
  // single-threaded event loop): one asleep again a little later counts as
  // asleep, so that it does not hide the thread the request waits in or what
  // the loop waits on. One that runs (on the CPU, or waiting for one, as on
  // a busy host) is still running after a few looks.
  for (int second_looks = 0; some_running && second_looks < kMaxSecondLooks; ++second_looks) {
    std::this_thread::sleep_for(kSecondLookPause);
    some_running = false;
    for (ThreadLook& look : looks)
      if (look.stat.state == 'R') {
        if (std::optional<ThreadLook> again = look_at(look.tid); again && again->stat.state != 'R')
          look = std::move(*again);
        else
          some_running = true;
      }
  }
  int waited_fd = -1;
  for (const ThreadLook& look : looks) {
    if (look.wait.rank <= best_rank) continue;
    best_rank = look.wait.rank;
    waited_fd = look.wait.waited_fd;
    e.tid = look.tid;
    e.state = static_cast<uint32_t>(static_cast<unsigned char>(look.stat.state));
    set_text(e.thread_comm, look.stat.comm);
    e.syscall_nr = look.call && !look.call->running ? look.call->nr : -1;
    set_text(e.syscall_name, e.syscall_nr >= 0 ? blocking_syscall_name(e.syscall_nr) : "");
  }
  if (e.syscall_nr >= 0 && waited_fd >= 0) {
    // Still in that call: what it waits on is read now.
    const std::optional<SyscallState> call = task_syscall(dir + "/task/" + std::to_string(e.tid));
    if (call && call->nr == e.syscall_nr) describe_wait(pid, waited_fd, e);
  }
  std::ifstream cgroup(dir + "/cgroup");
  const ProcessCgroups cgroups = cgroups_in(cgroup);
  set_text(e.cgroup, service_cgroup_path(cgroups));
}

// CPU time and throttling over kSampleNs, from now.
void sample(w5_backend_state& e) {
  const std::string task = proc_dir(e.pid) + "/task/" + std::to_string(e.tid);
  std::ifstream cgroup(proc_dir(e.pid) + "/cgroup");
  const CgroupFiles cg = cpu_cgroup_dir(cgroups_in(cgroup));
  read_quota(cg, e);
  const auto start = std::chrono::steady_clock::now();
  const std::optional<SchedStat> run0 = schedstat_of(task);
  const std::optional<CpuThrottling> cpu0 = throttling_of(cg);
  std::this_thread::sleep_for(std::chrono::nanoseconds(BackendProber::kSampleNs));
  const std::optional<SchedStat> run1 = schedstat_of(task);
  const std::optional<CpuThrottling> cpu1 = throttling_of(cg);
  const uint64_t elapsed = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count());
  if (run0 && run1 && run1->run_ns >= run0->run_ns) {
    e.sample_ns = elapsed;
    e.run_ns = run1->run_ns - run0->run_ns;
    e.runqueue_ns = run1->wait_ns >= run0->wait_ns ? run1->wait_ns - run0->wait_ns : 0;
  }
  if (cpu0 && cpu1) {
    e.sample_ns = elapsed;
    e.periods = cpu1->periods - std::min(cpu0->periods, cpu1->periods);
    e.throttled_periods = cpu1->throttled_periods - std::min(cpu0->throttled_periods, cpu1->throttled_periods);
    e.throttled_ns = cpu1->throttled_ns - std::min(cpu0->throttled_ns, cpu1->throttled_ns);
    e.total_periods = cpu1->periods;
    e.total_throttled_periods = cpu1->throttled_periods;
    e.total_throttled_ns = cpu1->throttled_ns;
  }
}

// What a backend's threads and cgroup had used so far.
BackendBaseline read_baseline(uint32_t pid, uint64_t ts_ns) {
  BackendBaseline b;
  b.ts_ns = ts_ns;
  b.pid = pid;
  const std::string dir = proc_dir(pid);
  DIR* tasks = opendir((dir + "/task").c_str());
  if (!tasks) return b;
  while (dirent* t = readdir(tasks)) {
    uint32_t tid = 0;
    const char* end = t->d_name + std::strlen(t->d_name);
    if (std::from_chars(t->d_name, end, tid).ptr != end || tid == 0) continue;
    if (const std::optional<SchedStat> run = schedstat_of(dir + "/task/" + t->d_name))
      b.threads.emplace_back(tid, *run);
    if (b.threads.size() >= kMaxThreads) break;
  }
  closedir(tasks);
  std::sort(b.threads.begin(), b.threads.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  std::ifstream cgroup(dir + "/cgroup");
  b.cpu = throttling_of(cpu_cgroup_dir(cgroups_in(cgroup)));
  return b;
}

}  // namespace

bool apply_baseline(const BackendBaseline& base, uint64_t sent_ns, uint64_t now_ns,
                    const std::optional<SchedStat>& run, const std::optional<CpuThrottling>& cpu,
                    w5_backend_state& e) {
  if (sent_ns == 0 || base.sent_ns != sent_ns || base.pid != e.pid) return false;
  // Read just before nginx gave up, it would say less than the sample does.
  if (now_ns < base.ts_ns + BackendProber::kSampleNs) return false;
  const auto thread = std::lower_bound(base.threads.begin(), base.threads.end(), e.tid,
                                       [](const auto& t, uint32_t tid) { return t.first < tid; });
  if (thread == base.threads.end() || thread->first != e.tid || !run || run->run_ns < thread->second.run_ns)
    return false;
  e.sample_ns = now_ns - base.ts_ns;
  e.sample_in_wait = 1;
  e.run_ns = run->run_ns - thread->second.run_ns;
  e.runqueue_ns = run->wait_ns >= thread->second.wait_ns ? run->wait_ns - thread->second.wait_ns : 0;
  if (base.cpu && cpu) {
    e.periods = cpu->periods - std::min(base.cpu->periods, cpu->periods);
    e.throttled_periods = cpu->throttled_periods - std::min(base.cpu->throttled_periods, cpu->throttled_periods);
    e.throttled_ns = cpu->throttled_ns - std::min(base.cpu->throttled_ns, cpu->throttled_ns);
    e.total_periods = cpu->periods;
    e.total_throttled_periods = cpu->throttled_periods;
    e.total_throttled_ns = cpu->throttled_ns;
  }
  return true;
}

bool unix_diag_sockets_in_reply(std::span<const uint8_t> reply,
                                const std::function<void(const UnixDiagSocket&)>& on_socket) {
  // Lengths are checked against the bytes received before anything is read;
  // headers are copied out, so the reply needs no alignment.
  size_t offset = 0;
  while (reply.size() - offset >= sizeof(nlmsghdr)) {
    nlmsghdr h;
    std::memcpy(&h, reply.data() + offset, sizeof(h));
    if (h.nlmsg_len < sizeof(h) || h.nlmsg_len > reply.size() - offset || h.nlmsg_type == NLMSG_DONE ||
        h.nlmsg_type == NLMSG_ERROR)
      return true;
    if (h.nlmsg_len >= NLMSG_LENGTH(sizeof(unix_diag_msg))) {
      unix_diag_msg msg;
      std::memcpy(&msg, reply.data() + offset + NLMSG_HDRLEN, sizeof(msg));
      UnixDiagSocket socket;
      socket.inode = msg.udiag_ino;
      size_t at = offset + NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(msg));
      const size_t end = offset + h.nlmsg_len;
      while (at + sizeof(nlattr) <= end) {
        nlattr a;
        std::memcpy(&a, reply.data() + at, sizeof(a));
        if (a.nla_len < sizeof(a) || a.nla_len > end - at) break;
        const uint8_t* payload = reply.data() + at + NLA_HDRLEN;
        const size_t len = a.nla_len - NLA_HDRLEN;
        if (a.nla_type == UNIX_DIAG_NAME) {
          std::string_view name(reinterpret_cast<const char*>(payload), len);
          if (!name.empty() && name.back() == '\0') name.remove_suffix(1);
          socket.name = name;
          if (!socket.name.empty() && socket.name[0] == '\0') socket.name[0] = '@';  // an abstract name
        } else if (a.nla_type == UNIX_DIAG_PEER && len >= 4) {
          uint32_t inode = 0;
          std::memcpy(&inode, payload, 4);
          socket.peer = inode;
        }
        at += NLA_ALIGN(a.nla_len);
      }
      on_socket(socket);
    }
    offset = std::min<size_t>(offset + NLMSG_ALIGN(h.nlmsg_len), reply.size());
  }
  return false;
}

void unix_sockets_in_diag_reply(std::span<const uint8_t> reply, std::string_view path,
                                const std::vector<uint64_t>& peers, std::vector<uint64_t>& found, bool& done) {
  done = unix_diag_sockets_in_reply(reply, [&](const UnixDiagSocket& s) {
    // nginx may have closed its end by now (it closes right after logging):
    // a peer gone reads as inode 0.
    if (s.name == path && (s.peer == 0 || std::find(peers.begin(), peers.end(), s.peer) != peers.end()))
      found.push_back(s.inode);
  });
}

std::optional<SyscallState> syscall_state_in(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  if (text == "running") return SyscallState{true, -1, {}};
  SyscallState s;
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, s.nr);
  if (ec != std::errc() || s.nr < -1) return std::nullopt;
  if (s.nr == -1) return s;  // "-1 sp pc": in the kernel, but not in a system call
  if (p == end || *p != ' ') return std::nullopt;
  ++p;
  // Arguments are "0x…", one space apart; the first must be there.
  for (size_t i = 0; i < s.args.size(); ++i) {
    if (end - p < 3 || p[0] != '0' || p[1] != 'x') return i == 0 ? std::nullopt : std::optional(s);
    const auto [next, error] = std::from_chars(p + 2, end, s.args[i], 16);
    if (error != std::errc()) return i == 0 ? std::nullopt : std::optional(s);
    if (next == end || *next != ' ') break;
    p = next + 1;
  }
  return s;
}

std::optional<TaskStat> task_stat_in(std::string_view text) {
  // The comm is in parentheses and may hold any byte, ')' too: the last one closes it.
  const size_t open = text.find('(');
  const size_t close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open || close + 2 >= text.size())
    return std::nullopt;
  TaskStat s;
  s.comm = std::string(text.substr(open + 1, close - open - 1));
  s.state = text[close + 2];
  if (s.state < 'A' || s.state > 'z') return std::nullopt;
  return s;
}

std::optional<SchedStat> schedstat_in(std::istream& in) {
  SchedStat s;
  if (!(in >> s.run_ns >> s.wait_ns)) return std::nullopt;
  return s;
}

std::optional<CpuThrottling> cpu_stat_in(std::istream& in) {
  CpuThrottling t;
  bool throttled_seen = false;
  std::string key;
  uint64_t value = 0;
  while (in >> key >> value) {
    if (key == "nr_periods") t.periods = value;
    else if (key == "nr_throttled") {
      t.throttled_periods = value;
      throttled_seen = true;
    } else if (key == "throttled_time") t.throttled_ns = value;           // v1: ns
    else if (key == "throttled_usec") t.throttled_ns = value * 1000;     // v2: µs
  }
  if (!throttled_seen) return std::nullopt;  // v2 without the cpu controller: no throttling counted
  return t;
}

bool cpu_max_in(std::istream& in, int64_t* quota_us, uint64_t* period_us) {
  std::string quota;
  uint64_t period = 0;
  if (!(in >> quota >> period)) return false;
  if (quota == "max") {
    *quota_us = -1;
  } else {
    int64_t q = 0;
    if (std::from_chars(quota.data(), quota.data() + quota.size(), q).ec != std::errc()) return false;
    *quota_us = q;
  }
  *period_us = period;
  return true;
}

namespace {
bool unix_upstream_of(const w5_ngx_log& log, std::string_view* peer) {
  *peer = std::string_view(log.peer, strnlen(log.peer, sizeof(log.peer)));
  return log.upstream.family == AF_UNIX && peer->starts_with("unix:");
}
}  // namespace

bool BackendProber::due(const w5_ngx_log& log, uint64_t ts_ns) {
  const w5_addr& upstream = log.upstream;
  std::string_view peer;
  const bool unix_upstream = unix_upstream_of(log, &peer);
  if (upstream.family != AF_INET && upstream.family != AF_INET6 && !unix_upstream) return false;
  return pacing_.due({log.h.tgid, upstream.family, upstream.port,
                      unix_upstream ? std::string(peer) : std::string(reinterpret_cast<const char*>(upstream.addr), 16)},
                     ts_ns);
}

bool BackendProber::first_look(const WaitingUpstreamRequest& r) {
  if (looked_at_.size() >= 4096) looked_at_.clear();  // then some are read again: still bounded per second
  return looked_at_.insert({r.sk, r.sent_ns}).second;
}

void BackendProber::note_waiting(const WaitingUpstreamRequest& r, uint64_t now_ns) {
  std::vector<uint64_t> ends = tcp_inodes_with_ports(r.family, r.upstream_port, r.local_port);
  uint32_t pid = 0;
  for (uint64_t inode : ends)
    if ((pid = holder_of(inode)) != 0) break;
  if (pid == 0) return;  // not accepted, gone, or not on this host: the timeout says which
  if (baselines_.size() >= kMaxBaselines) {
    auto oldest = std::min_element(baselines_.begin(), baselines_.end(),
                                   [](const auto& x, const auto& y) { return x.second.ts_ns < y.second.ts_ns; });
    baselines_.erase(oldest);
  }
  BackendBaseline& b = baselines_[{r.tgid, r.sk}] = read_baseline(pid, now_ns);
  b.sent_ns = r.sent_ns;
}

std::optional<w5_backend_state> BackendProber::probe(const w5_ngx_log& log, uint64_t ts_ns, uint64_t sent_ns) {
  const w5_addr& upstream = log.upstream;
  std::string_view peer;
  const bool unix_upstream = unix_upstream_of(log, &peer);
  if (upstream.family != AF_INET && upstream.family != AF_INET6 && !unix_upstream) return std::nullopt;

  w5_backend_state e{};
  e.h.type = W5_EV_BACKEND_STATE;
  e.h.size = sizeof(e);
  e.h.ts_ns = ts_ns;
  e.h.tgid = log.h.tgid;
  e.h.tid = log.h.tgid;
  e.upstream_sk = log.upstream_sk;
  e.upstream = upstream;
  e.upstream_local = log.upstream_local;
  e.syscall_nr = -1;
  e.quota_us = -1;
  if (unix_upstream) {
    // Which accepted end is this request's is not in sight (unix sockets
    // have no ports): the worker's connections to that path are.
    const int proc_fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (proc_fd < 0) return std::nullopt;
    const std::vector<uint64_t> workers_sockets = socket_inodes(proc_fd, std::to_string(log.h.tgid).c_str());
    close(proc_fd);
    const std::vector<uint64_t> ends = unix_server_ends(std::string(peer.substr(5)), workers_sockets);
    uint32_t pid = 0;
    for (uint64_t end : ends)
      if ((pid = holder_of(end)) != 0) break;
    if (pid == 0) return std::nullopt;  // in the listener's queue, or gone: the listener evidence says it
    e.found = W5_BACKEND_HOLDER;
    e.unix_connections = static_cast<uint32_t>(ends.size());
    describe_process(pid, e);
    sample_within_budget(e, ts_ns);
    return e;
  }
  if (!is_local_address(upstream)) {
    e.found = W5_BACKEND_REMOTE;
    return e;
  }
  uint32_t pid = 0;
  std::optional<uint64_t> arrival_ns;
  if (log.upstream_local.family == upstream.family && log.upstream_local.port != 0) {
    // The backend's end: local = nginx's remote, remote = nginx's local. It
    // outlives nginx's close (CLOSE_WAIT) until the backend closes it.
    const uint64_t asked_ns = monotonic_now_ns();
    if (const std::optional<TcpSocketDiag> s = tcp_socket_with_tuple(upstream, log.upstream_local)) {
      arrival_ns = request_arrival_ns(s->activity, asked_ns, sent_ns);
      constexpr unsigned kEstablished = 1, kCloseWait = 8;
      if (s->inode == 0 && (s->state == kEstablished || s->state == kCloseWait)) {
        e.found = W5_BACKEND_NOT_ACCEPTED;  // no file yet: still in the listener's accept queue
      } else if ((pid = holder_of(s->inode)) != 0) {
        e.found = W5_BACKEND_HOLDER;
      }
    }
  }
  if (pid == 0) {
    // No accepted end to follow: the listener's owner is the backend.
    if (const std::optional<w5_listener_state> l = listeners_.probe(upstream, ts_ns); l && l->owner_pid != 0) {
      pid = l->owner_pid;
      if (e.found == 0) e.found = W5_BACKEND_LISTENER;
    }
  }
  if (pid == 0) {
    if (e.found == 0) e.found = W5_BACKEND_NOT_FOUND;
    return e;
  }
  describe_process(pid, e);
  if (e.found == W5_BACKEND_HOLDER) note_awaited_connection(e, arrival_ns);
  if (auto base = baselines_.find({log.h.tgid, log.upstream_sk}); base != baselines_.end()) {
    // Read while nginx waited: the thread's CPU over most of the wait.
    const std::string task = proc_dir(e.pid) + "/task/" + std::to_string(e.tid);
    std::ifstream cgroup(proc_dir(e.pid) + "/cgroup");
    const CgroupFiles cg = cpu_cgroup_dir(cgroups_in(cgroup));
    const bool applied =
        e.state != 0 && apply_baseline(base->second, sent_ns, ts_ns, schedstat_of(task), throttling_of(cg), e);
    baselines_.erase(base);
    if (applied) {
      read_quota(cg, e);
      return e;
    }
  }
  sample_within_budget(e, ts_ns);
  return e;
}

void BackendProber::sample_within_budget(w5_backend_state& e, uint64_t ts_ns) {
  const uint64_t second = ts_ns / 1'000'000'000ull;
  if (second != sample_second_) {
    sample_second_ = second;
    samples_this_second_ = 0;
  }
  if (e.state != 0 && samples_this_second_ < kSamplesPerSecond) {
    ++samples_this_second_;
    sample(e);
  }
}

std::optional<w5_process_cgroup> BackendProber::first_sight(uint32_t tgid, uint64_t ts_ns) {
  // Touched by each of its events: a live worker's stays, so the engine,
  // which keeps the cgroups of the workers it last named, is never left
  // without one (at most kMaxProcessesSeen, the least recently seen let go).
  if (tgid == 0 || seen_.find_and_touch(tgid)) return std::nullopt;
  seen_.touch(tgid);
  seen_.keep_newest(kMaxProcessesSeen);
  std::ifstream in(proc_dir(tgid) + "/cgroup");
  if (!in) return std::nullopt;
  const std::string path = service_cgroup_path(cgroups_in(in));
  if (path.empty()) return std::nullopt;
  w5_process_cgroup e{};
  e.h.type = W5_EV_PROCESS_CGROUP;
  e.h.size = sizeof(e);
  e.h.ts_ns = ts_ns;
  e.h.tgid = tgid;
  e.h.tid = tgid;
  set_text(e.cgroup, path);
  return e;
}

}  // namespace why502

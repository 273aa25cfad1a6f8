#include "loader/uprobe_broker.hpp"

#include <fcntl.h>
#include <sched.h>
#include <linux/bpf.h>
#include <linux/capability.h>
#include <linux/perf_event.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "host/privileges.hpp"

namespace why502 {

OwnedFd& OwnedFd::operator=(OwnedFd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) close(fd_);
    fd_ = other.release();
  }
  return *this;
}

OwnedFd::~OwnedFd() {
  if (fd_ >= 0) close(fd_);
}

int OwnedFd::release() {
  const int fd = fd_;
  fd_ = -1;
  return fd;
}

namespace {

enum RequestKind : uint64_t { kAttachUprobe = 1, kPortRange = 2 };
struct Request {
  uint64_t kind;
  uint64_t file_offset;  // kAttachUprobe (descriptors: binary, program)
  uint64_t cookie;       // kAttachUprobe; kPortRange has one descriptor, the namespace
};
struct Reply {
  int32_t error;  // 0, or the errno of what failed
  int32_t step;   // 1: perf_event_open, 2: BPF_LINK_CREATE
  uint32_t low, high;  // kPortRange
};

// Two numbers of "32768\t60999\n" without allocating; false unless both are there.
bool parse_two_numbers(const char* text, ssize_t n, uint32_t* a, uint32_t* b) {
  uint32_t values[2] = {0, 0};
  int found = 0;
  bool in_number = false;
  for (ssize_t i = 0; i < n && found < 2; ++i) {
    if (text[i] >= '0' && text[i] <= '9') {
      values[found] = values[found] * 10 + static_cast<uint32_t>(text[i] - '0');
      in_number = true;
    } else if (in_number) {
      ++found;
      in_number = false;
    }
  }
  if (in_number && found < 2) ++found;
  *a = values[0];
  *b = values[1];
  return found == 2;
}

// The helper's side of kPortRange: joins the namespace for one read (only a
// task inside it sees its net sysctls) and comes back.
Reply read_port_range(int netns) {
  Reply reply{0, 0, 0, 0};
  const int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (home < 0) return Reply{errno, 0, 0, 0};
  if (setns(netns, CLONE_NEWNET) != 0) {
    reply.error = errno;
  } else {
    const int sysctl = open("/proc/sys/net/ipv4/ip_local_port_range", O_RDONLY | O_CLOEXEC);
    char text[64];
    const ssize_t n = sysctl < 0 ? -1 : read(sysctl, text, sizeof(text));
    if (n <= 0 || !parse_two_numbers(text, n, &reply.low, &reply.high)) reply.error = n < 0 ? errno : EINVAL;
    if (sysctl >= 0) close(sysctl);
    if (setns(home, CLONE_NEWNET) != 0) _exit(1);  // never go on in another namespace
  }
  close(home);
  return reply;
}

// Sends data with up to two descriptors; recvmsg's counterpart below.
bool send_with_fds(int socket, const void* data, size_t size, const int* fds, int n_fds) {
  iovec iov{const_cast<void*>(data), size};
  alignas(cmsghdr) char control[CMSG_SPACE(2 * sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (n_fds > 0) {
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(n_fds * sizeof(int));
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(n_fds * sizeof(int));
    std::memcpy(CMSG_DATA(c), fds, n_fds * sizeof(int));
  }
  ssize_t sent;
  do sent = sendmsg(socket, &msg, MSG_NOSIGNAL);
  while (sent < 0 && errno == EINTR);
  return sent == static_cast<ssize_t>(size);
}

// Receives exactly size bytes and the descriptors that came with them (-1
// for those that did not); 0 at the end of the stream, -1 on an error.
ssize_t receive_with_fds(int socket, void* data, size_t size, int* fds, int max_fds) {
  for (int i = 0; i < max_fds; ++i) fds[i] = -1;
  iovec iov{data, size};
  alignas(cmsghdr) char control[CMSG_SPACE(2 * sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t got;
  do got = recvmsg(socket, &msg, MSG_CMSG_CLOEXEC);
  while (got < 0 && errno == EINTR);
  if (got <= 0) return got;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const int n = static_cast<int>((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
    for (int i = 0; i < n; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      if (i < max_fds) fds[i] = fd;
      else close(fd);
    }
  }
  return got == static_cast<ssize_t>(size) ? got : -1;
}

// "/proc/self/fd/N" without allocating.
void fd_path(int fd, char (&out)[32]) {
  char digits[12];
  int n = 0;
  do digits[n++] = static_cast<char>('0' + fd % 10);
  while ((fd /= 10) > 0 && n < 11);
  const char prefix[] = "/proc/self/fd/";
  size_t at = 0;
  for (; prefix[at]; ++at) out[at] = prefix[at];
  while (n > 0) out[at++] = digits[--n];
  out[at] = 0;
}

// The helper: keeps CAP_SYS_ADMIN alone and answers requests until the
// tracer's end of the socket closes. System calls only.
[[noreturn]] void run_helper(int socket, pid_t parent, uint32_t uprobe_pmu) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(0);
  prctl(PR_SET_NAME, "why502-uprobes");
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  signal(SIGPIPE, SIG_IGN);
  // Nothing of the tracer's: its BPF object, files and sockets stay there.
  if (socket != 3) {
    if (dup2(socket, 3) != 3) _exit(1);
    socket = 3;
  }
  syscall(SYS_close_range, 4u, ~0u, 0u);
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct caps[2] = {};
  caps[0].permitted = caps[0].effective = 1u << kCapSysAdmin;
  if (syscall(SYS_capset, &header, caps) != 0) _exit(1);
  prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  // Named, bare and down to CAP_SYS_ADMIN: the tracer goes on once it hears so.
  const char ready = 1;
  if (send(socket, &ready, sizeof(ready), 0) != sizeof(ready)) _exit(1);

  for (;;) {
    Request request;
    int fds[2];
    const ssize_t got = receive_with_fds(socket, &request, sizeof(request), fds, 2);
    if (got <= 0) _exit(0);  // the tracer is gone
    Reply reply{EBADF, 0, 0, 0};
    int link = -1;
    if (request.kind == kPortRange && fds[0] >= 0) {
      reply = read_port_range(fds[0]);
    } else if (request.kind == kAttachUprobe && fds[0] >= 0 && fds[1] >= 0) {
      char path[32];
      fd_path(fds[0], path);
      perf_event_attr attr{};
      attr.size = sizeof(attr);
      attr.type = uprobe_pmu;
      attr.config1 = reinterpret_cast<uint64_t>(path);
      attr.config2 = request.file_offset;
      const int event = static_cast<int>(syscall(SYS_perf_event_open, &attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC));
      if (event < 0) {
        reply = {errno, 1, 0, 0};
      } else {
        bpf_attr link_attr{};
        link_attr.link_create.prog_fd = static_cast<uint32_t>(fds[1]);
        link_attr.link_create.target_fd = static_cast<uint32_t>(event);
        link_attr.link_create.attach_type = BPF_PERF_EVENT;
        link_attr.link_create.perf_event.bpf_cookie = request.cookie;
        link = static_cast<int>(syscall(SYS_bpf, BPF_LINK_CREATE, &link_attr, sizeof(link_attr)));
        reply = link < 0 ? Reply{errno, 2, 0, 0} : Reply{0, 0, 0, 0};
        close(event);  // the link holds the event
      }
    }
    for (int fd : fds)
      if (fd >= 0) close(fd);
    send_with_fds(socket, &reply, sizeof(reply), &link, link >= 0 ? 1 : 0);
    if (link >= 0) close(link);
  }
}

// The uprobe PMU's perf type (what perf_event_open's attr.type takes).
Result<uint32_t> uprobe_pmu_type() {
  std::ifstream in("/sys/bus/event_source/devices/uprobe/type");
  uint32_t type = 0;
  if (!(in >> type)) return Error{"the kernel has no uprobe PMU (/sys/bus/event_source/devices/uprobe/type)"};
  return type;
}

}  // namespace

Result<std::unique_ptr<UprobeBroker>> UprobeBroker::start() {
  const Result<uint32_t> pmu = uprobe_pmu_type();
  if (!pmu) return Error{pmu.error()};
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0)
    return Error{std::string("socketpair: ") + std::strerror(errno)};
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    Error failed{std::string("fork: ") + std::strerror(errno)};
    close(pair[0]);
    close(pair[1]);
    return failed;
  }
  if (pid == 0) {
    close(pair[0]);
    run_helper(pair[1], parent, pmu.value());
  }
  close(pair[1]);
  // The tracer drops CAP_SYS_ADMIN right after this: wait until the helper
  // holds it alone and is ready, or say that it is not.
  char ready = 0;
  ssize_t n = -1;
  do n = recv(pair[0], &ready, sizeof(ready), 0);
  while (n < 0 && errno == EINTR);
  if (n != sizeof(ready)) {
    close(pair[0]);
    while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    return Error{"the uprobe helper exited before it was ready (it could not drop to CAP_SYS_ADMIN alone)"};
  }
  return std::unique_ptr<UprobeBroker>(new UprobeBroker(pair[0], pid));
}

UprobeBroker::~UprobeBroker() {
  socket_ = OwnedFd();  // the helper reads the end of the stream and exits
  while (waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
}

Result<OwnedFd> UprobeBroker::attach(int binary_fd, uint64_t file_offset, int prog_fd, uint64_t cookie) {
  const Request request{kAttachUprobe, file_offset, cookie};
  const int fds[2] = {binary_fd, prog_fd};
  if (!send_with_fds(socket_.get(), &request, sizeof(request), fds, 2))
    return Error{std::string("the uprobe helper (pid ") + std::to_string(pid_) + ") is gone: " + std::strerror(errno)};
  Reply reply{};
  int link = -1;
  if (receive_with_fds(socket_.get(), &reply, sizeof(reply), &link, 1) <= 0)
    return Error{std::string("the uprobe helper (pid ") + std::to_string(pid_) + ") did not answer"};
  OwnedFd held(link);
  if (reply.error != 0 || link < 0)
    return Error{std::string(reply.step == 2 ? "BPF_LINK_CREATE" : "perf_event_open of the uprobe") + ": " +
                 std::strerror(reply.error != 0 ? reply.error : EPROTO)};
  return held;
}

bool UprobeBroker::port_range(int netns_fd, uint32_t* low, uint32_t* high) {
  const Request request{kPortRange, 0, 0};
  Reply reply{};
  int none = -1;
  if (!send_with_fds(socket_.get(), &request, sizeof(request), &netns_fd, 1) ||
      receive_with_fds(socket_.get(), &reply, sizeof(reply), &none, 1) <= 0 || reply.error != 0) {
    if (none >= 0) close(none);
    return false;
  }
  *low = reply.low;
  *high = reply.high;
  return true;
}

}  // namespace why502

// The parsers behind the backend-state read and the services records name:
// /proc/PID/task/TID/{syscall,stat,schedstat}, cgroup cpu.stat and cpu.max,
// /proc/PID/net/tcp lines, /proc/PID/cgroup, and cgroup paths.
#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/tcp.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <sys/socket.h>

#include <unistd.h>

#include <array>
#include <cstring>
#include <sstream>
#include <vector>

#include <gtest/gtest.h>

#include "event_builders.hpp"
#include "events/cgroup_path.hpp"
#include "host/awaited_connection.hpp"
#include "host/backend_state.hpp"
#include "host/blocking_syscalls.hpp"
#include "host/namespace_tcp.hpp"
#include "host/polled_descriptor.hpp"
#include "host/port_usage.hpp"

namespace why502::test {
namespace {

TEST(BackendState, SyscallLine) {
  const auto blocked = syscall_state_in("45 0x5 0x7ffd1234 0x10000 0x0 0x0 0x0 0x7ffd1000 0x7f00aa\n");
  ASSERT_TRUE(blocked.has_value());
  EXPECT_FALSE(blocked->running);
  EXPECT_EQ(blocked->nr, 45);
  EXPECT_EQ(blocked->args, (std::array<uint64_t, 3>{5, 0x7ffd1234, 0x10000}));
  // poll(fds, 1, -1): the array and how many.
  const auto polled = syscall_state_in("7 0x7ffc2b10 0x1 0xffffffff 0x0 0x0 0x0 0x7ffc2a00 0x7f00bb");
  ASSERT_TRUE(polled.has_value());
  EXPECT_EQ(polled->args, (std::array<uint64_t, 3>{0x7ffc2b10, 1, 0xffffffff}));
  const auto short_line = syscall_state_in("45 0x5");
  ASSERT_TRUE(short_line.has_value());
  EXPECT_EQ(short_line->args, (std::array<uint64_t, 3>{5, 0, 0}));
  const auto running = syscall_state_in("running\n");
  ASSERT_TRUE(running.has_value());
  EXPECT_TRUE(running->running);
  const auto in_kernel = syscall_state_in("-1 0x7ffd1000 0x7f00aa");
  ASSERT_TRUE(in_kernel.has_value());
  EXPECT_EQ(in_kernel->nr, -1);
  for (const char* bad : {"", "x", "45", "45 5", "-2 0x1"}) EXPECT_FALSE(syscall_state_in(bad).has_value()) << bad;
}

// A client library waiting for its server polls that one socket; an event
// loop polls several.
TEST(PolledDescriptor, TheOneDescriptorAPollNames) {
  const pollfd one[] = {{7, POLLIN, 0}};
  EXPECT_EQ(only_polled_descriptor(one), 7);
  const pollfd skipped[] = {{-1, POLLIN, 0}, {9, POLLIN, 0}, {-3, POLLOUT, 0}};
  EXPECT_EQ(only_polled_descriptor(skipped), 9);
  const pollfd twice[] = {{4, POLLIN, 0}, {4, POLLOUT, 0}};
  EXPECT_EQ(only_polled_descriptor(twice), 4);
  const pollfd loop[] = {{3, POLLIN, 0}, {5, POLLIN, 0}};
  EXPECT_FALSE(only_polled_descriptor(loop).has_value());
  EXPECT_FALSE(only_polled_descriptor({}).has_value());
}

TEST(PolledDescriptor, TheOneDescriptorASelectNames) {
  const uint64_t reading[] = {uint64_t{1} << 6};
  EXPECT_EQ(only_selected_descriptor(7, reading, {}), 6);
  EXPECT_EQ(only_selected_descriptor(7, {}, reading), 6);   // a connect() under way
  EXPECT_EQ(only_selected_descriptor(7, reading, reading), 6);
  const uint64_t two[] = {(uint64_t{1} << 3) | (uint64_t{1} << 6)};
  EXPECT_FALSE(only_selected_descriptor(7, two, {}).has_value());
  const uint64_t other[] = {uint64_t{1} << 3};
  EXPECT_FALSE(only_selected_descriptor(7, reading, other).has_value());
  // Bits at nfds and past it are not looked at by the kernel.
  const uint64_t past[] = {(uint64_t{1} << 6) | (uint64_t{1} << 7) | (uint64_t{1} << 63)};
  EXPECT_EQ(only_selected_descriptor(7, past, {}), 6);
  const uint64_t high[] = {0, uint64_t{1} << 2};
  EXPECT_EQ(only_selected_descriptor(67, high, {}), 66);
  EXPECT_FALSE(only_selected_descriptor(66, high, {}).has_value());
  EXPECT_FALSE(only_selected_descriptor(7, {}, {}).has_value());
}

// Read from a process's memory, as the arguments of its call say: this one's.
TEST(PolledDescriptor, ReadFromTheProcesssMemory) {
  const uint32_t self = static_cast<uint32_t>(getpid());
  const pollfd fds[] = {{-1, 0, 0}, {12, POLLIN, 0}};
  EXPECT_EQ(polled_descriptor(self, 7, {reinterpret_cast<uint64_t>(fds), 2, 0}), 12);   // poll
  EXPECT_EQ(polled_descriptor(self, 271, {reinterpret_cast<uint64_t>(fds), 2, 0}), 12); // ppoll
  EXPECT_FALSE(polled_descriptor(self, 7, {reinterpret_cast<uint64_t>(fds), 0, 0}).has_value());
  EXPECT_FALSE(polled_descriptor(self, 7, {8, 2, 0}).has_value());  // unreadable
  const uint64_t set[] = {uint64_t{1} << 5, 0};
  EXPECT_EQ(polled_descriptor(self, 23, {6, reinterpret_cast<uint64_t>(set), 0}), 5);   // select
  EXPECT_EQ(polled_descriptor(self, 270, {6, 0, reinterpret_cast<uint64_t>(set)}), 5);  // pselect6
  EXPECT_FALSE(polled_descriptor(self, 45, {5, 0, 0}).has_value());  // recvfrom polls nothing
  for (int polls : {7, 271, 23, 270}) EXPECT_EQ(blocked_on(polls), BlockedOn::polled) << polls;
  EXPECT_EQ(blocked_on(232), BlockedOn::any_work);  // epoll_wait: what its set holds is not read
}

TEST(BackendState, SyscallNamesOfX86_64) {
  EXPECT_EQ(blocking_syscall_name(45), "recvfrom");
  EXPECT_EQ(blocking_syscall_name(202), "futex");
  EXPECT_EQ(blocking_syscall_name(230), "clock_nanosleep");
  EXPECT_EQ(blocking_syscall_name(288), "accept4");
  EXPECT_EQ(blocking_syscall_name(9), "");  // mmap: nothing one blocks in
  EXPECT_TRUE(syscall_waits_on_fd(0));
  EXPECT_TRUE(syscall_waits_on_fd(74));  // fsync
  EXPECT_FALSE(syscall_waits_on_fd(202));
  EXPECT_FALSE(syscall_waits_on_fd(7));  // poll: an array of them, not one
  EXPECT_EQ(blocked_on(35), BlockedOn::other);      // nanosleep
  EXPECT_EQ(blocked_on(202), BlockedOn::any_work);  // futex
  EXPECT_EQ(blocked_on(43), BlockedOn::any_work);   // accept
  EXPECT_EQ(blocked_on(9), BlockedOn::other);       // mmap: not named
}

TEST(BackendState, TaskStat) {
  const auto s = task_stat_in("4121 (gunicorn: wo) rker)) S 4100 4100 4100 0 -1 4194560 3411 0 0 0 12 3 0 0 20");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->comm, "gunicorn: wo) rker)");  // the last ')' closes it
  EXPECT_EQ(s->state, 'S');
  EXPECT_EQ(task_stat_in("4121 (x) R 1")->state, 'R');
  for (const char* bad : {"", "4121 (x)", "4121 x S", "4121 (x) 1"}) EXPECT_FALSE(task_stat_in(bad).has_value()) << bad;
}

TEST(BackendState, Schedstat) {
  std::istringstream in("1234567 89 12\n");
  const auto s = schedstat_in(in);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->run_ns, 1234567u);
  EXPECT_EQ(s->wait_ns, 89u);
  std::istringstream bad("x");
  EXPECT_FALSE(schedstat_in(bad).has_value());
}

TEST(BackendState, CpuStatV1AndV2) {
  std::istringstream v1("nr_periods 40\nnr_throttled 38\nthrottled_time 3400000000\nnr_bursts 0\nburst_time 0\n");
  const auto a = cpu_stat_in(v1);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->periods, 40u);
  EXPECT_EQ(a->throttled_periods, 38u);
  EXPECT_EQ(a->throttled_ns, 3'400'000'000u);
  std::istringstream v2("usage_usec 100\nuser_usec 60\nsystem_usec 40\nnr_periods 7\nnr_throttled 3\n"
                        "throttled_usec 2500\n");
  const auto b = cpu_stat_in(v2);
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->throttled_periods, 3u);
  EXPECT_EQ(b->throttled_ns, 2'500'000u);
  // v2 without the cpu controller enabled: usage only, no throttling counted.
  std::istringstream usage_only("usage_usec 100\nuser_usec 60\nsystem_usec 40\n");
  EXPECT_FALSE(cpu_stat_in(usage_only).has_value());
}

TEST(BackendState, CpuMax) {
  int64_t quota = 0;
  uint64_t period = 0;
  std::istringstream limited("10000 100000\n");
  ASSERT_TRUE(cpu_max_in(limited, &quota, &period));
  EXPECT_EQ(quota, 10000);
  EXPECT_EQ(period, 100000u);
  std::istringstream unlimited("max 100000\n");
  ASSERT_TRUE(cpu_max_in(unlimited, &quota, &period));
  EXPECT_EQ(quota, -1);
  std::istringstream bad("x");
  EXPECT_FALSE(cpu_max_in(bad, &quota, &period));
}

TEST(BackendState, ProcNetTcpLineWithItsInode) {
  const auto s = proc_net_tcp_socket(
      "   1: 0100007F:EE48 0100007F:1538 01 00000000:00000000 00:00000000 00000000  1000        0 81234 1 "
      "0000000000000000 20 4 30 10 -1",
      AF_INET);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->local.port, 0xEE48);
  EXPECT_EQ(s->remote.port, 5432);
  EXPECT_EQ(std::memcmp(s->remote.addr, ipv4("127.0.0.1", 0).addr, 4), 0);
  EXPECT_EQ(s->state, 1u);
  EXPECT_EQ(s->inode, 81234u);
  EXPECT_FALSE(proc_net_tcp_socket("  sl  local_address rem_address   st tx_queue", AF_INET).has_value());
  EXPECT_FALSE(proc_net_tcp_socket("   7: garbage", AF_INET).has_value());
}

// One unix_diag_msg with a name and a peer, as the kernel lays it out.
std::vector<uint8_t> unix_diag_message(uint32_t inode, std::string_view name, uint32_t peer) {
  std::vector<uint8_t> m(NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(unix_diag_msg)));
  unix_diag_msg msg{};
  msg.udiag_family = AF_UNIX;
  msg.udiag_ino = inode;
  std::memcpy(m.data() + NLMSG_HDRLEN, &msg, sizeof(msg));
  auto attribute = [&m](uint16_t type, const void* data, size_t len) {
    nlattr a{static_cast<uint16_t>(NLA_HDRLEN + len), type};
    const size_t at = m.size();
    m.resize(at + NLA_ALIGN(a.nla_len));
    std::memcpy(m.data() + at, &a, sizeof(a));
    std::memcpy(m.data() + at + NLA_HDRLEN, data, len);
  };
  attribute(UNIX_DIAG_NAME, name.data(), name.size());
  attribute(UNIX_DIAG_PEER, &peer, sizeof(peer));
  nlmsghdr h{static_cast<uint32_t>(m.size()), SOCK_DIAG_BY_FAMILY, 0, 0, 0};
  std::memcpy(m.data(), &h, sizeof(h));
  return m;
}

TEST(BackendState, UnixDiagAcceptedEndsOfOnePath) {
  std::vector<uint8_t> reply;
  for (const auto& m : {unix_diag_message(100, "/run/php.sock", 7),    // nginx's socket 7: this worker's
                        unix_diag_message(101, "/run/php.sock", 0),    // its nginx end just closed
                        unix_diag_message(102, "/run/php.sock", 9),    // another process's connection
                        unix_diag_message(103, "/run/other.sock", 7)})  // another path
    reply.insert(reply.end(), m.begin(), m.end());
  std::vector<uint64_t> found;
  bool done = false;
  unix_sockets_in_diag_reply(reply, "/run/php.sock", {5, 7}, found, done);
  EXPECT_EQ(found, (std::vector<uint64_t>{100, 101}));
  EXPECT_FALSE(done);
  // Cut short: what is whole is read, the rest ends the dump.
  found.clear();
  unix_sockets_in_diag_reply(std::span(reply.data(), reply.size() - 3), "/run/php.sock", {7}, found, done);
  EXPECT_EQ(found, (std::vector<uint64_t>{100, 101}));
  EXPECT_TRUE(done);
}

// Each socket of an answer, its name as a path (an abstract one with '@').
TEST(BackendState, UnixDiagSocketsOfAnAnswer) {
  std::vector<uint8_t> reply;
  using namespace std::string_view_literals;
  for (const auto& m : {unix_diag_message(200, "/run/mysqld/mysqld.sock", 201),
                        unix_diag_message(202, "\0abstract"sv, 0), unix_diag_message(203, "", 204)})
    reply.insert(reply.end(), m.begin(), m.end());
  std::vector<UnixDiagSocket> sockets;
  EXPECT_FALSE(unix_diag_sockets_in_reply(reply, [&](const UnixDiagSocket& s) { sockets.push_back(s); }));
  ASSERT_EQ(sockets.size(), 3u);
  EXPECT_EQ(sockets[0].inode, 200u);
  EXPECT_EQ(sockets[0].name, "/run/mysqld/mysqld.sock");
  EXPECT_EQ(sockets[0].peer, 201u);
  EXPECT_EQ(sockets[1].name, "@abstract");
  EXPECT_EQ(sockets[1].peer, 0u);
  EXPECT_EQ(sockets[2].name, "");
  EXPECT_EQ(sockets[2].peer, 204u);
  const nlmsghdr done{NLMSG_HDRLEN, NLMSG_DONE, 0, 0, 0};
  const auto* bytes = reinterpret_cast<const uint8_t*>(&done);
  EXPECT_TRUE(unix_diag_sockets_in_reply(std::span(bytes, sizeof(done)), [](const UnixDiagSocket&) {}));
}

// One inet_diag_msg (inode 81234, CLOSE_WAIT) with a tcp_info of info_len
// bytes, as the kernel lays it out.
std::vector<uint8_t> inet_diag_with_info(const tcp_info& info, size_t info_len) {
  std::vector<uint8_t> m(NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(inet_diag_msg)));
  inet_diag_msg msg{};
  msg.idiag_state = 8;  // CLOSE_WAIT
  msg.idiag_inode = 81234;
  std::memcpy(m.data() + NLMSG_HDRLEN, &msg, sizeof(msg));
  const nlattr a{static_cast<uint16_t>(NLA_HDRLEN + info_len), INET_DIAG_INFO};
  const size_t at = m.size();
  m.resize(at + NLA_ALIGN(a.nla_len));
  std::memcpy(m.data() + at, &a, sizeof(a));
  std::memcpy(m.data() + at + NLA_HDRLEN, &info, info_len);
  const nlmsghdr h{static_cast<uint32_t>(m.size()), SOCK_DIAG_BY_FAMILY, 0, 0, 0};
  std::memcpy(m.data(), &h, sizeof(h));
  return m;
}

TEST(TcpSocketDiag, InodeStateAndTcpInfoOfAnInetDiagAnswer) {
  tcp_info info{};
  info.tcpi_last_data_sent = 900;
  info.tcpi_last_data_recv = 5000;
  info.tcpi_data_segs_in = 3;
  const auto whole = tcp_socket_diag_in_reply(inet_diag_with_info(info, sizeof(info)));
  ASSERT_TRUE(whole.has_value());
  EXPECT_EQ(whole->inode, 81234u);
  EXPECT_EQ(whole->state, 8u);
  ASSERT_TRUE(whole->activity.has_value());
  EXPECT_EQ(whole->activity->last_sent_ms, 900u);
  EXPECT_EQ(whole->activity->last_received_ms, 5000u);
  EXPECT_EQ(whole->activity->received_any, true);
  // An older kernel's shorter tcp_info: no segment counts.
  const auto older = tcp_socket_diag_in_reply(inet_diag_with_info(info, offsetof(tcp_info, tcpi_rcv_rtt)));
  ASSERT_TRUE(older.has_value() && older->activity.has_value());
  EXPECT_FALSE(older->activity->received_any.has_value());
  // Too short for the times: the socket, without them.
  const auto bare = tcp_socket_diag_in_reply(inet_diag_with_info(info, offsetof(tcp_info, tcpi_last_data_recv)));
  ASSERT_TRUE(bare.has_value());
  EXPECT_FALSE(bare->activity.has_value());
  std::vector<uint8_t> cut = inet_diag_with_info(info, sizeof(info));
  cut.resize(cut.size() - 1);
  EXPECT_FALSE(tcp_socket_diag_in_reply(cut).has_value());
  const nlmsghdr error{NLMSG_HDRLEN + 20, NLMSG_ERROR, 0, 0, 0};
  std::vector<uint8_t> refused(NLMSG_HDRLEN + 20);
  std::memcpy(refused.data(), &error, sizeof(error));
  EXPECT_FALSE(tcp_socket_diag_in_reply(refused).has_value());
}

// The last act a send, after nginx's request, and nothing since.
TEST(AwaitedConnection, AwaitsAnAnswerToASendSinceNginxsRequest) {
  EXPECT_TRUE(awaits_answer({900, 5000, true}, 1000));
  EXPECT_FALSE(awaits_answer({1500, 5000, true}, 1000));  // sent before nginx's request
  EXPECT_FALSE(awaits_answer({900, 400, true}, 1000));    // answered since
  // The same jiffy: the connect's, for a connection that never received.
  EXPECT_TRUE(awaits_answer({900, 900, false}, 1000));
  EXPECT_FALSE(awaits_answer({900, 900, true}, 1000));
  EXPECT_FALSE(awaits_answer({900, 900, std::nullopt}, 1000));
}

// The listener at a connection's end: on its address or the wildcard, of
// its family and port.
TEST(NamespaceTcp, TheListenerAtAnEnd) {
  NamespaceTcp tcp;
  ProcNetTcpSocket loopback{ipv4("127.0.0.1", 5432), ipv4("0.0.0.0", 0), 10, 81};
  ProcNetTcpSocket wildcard{ipv4("0.0.0.0", 8080), ipv4("0.0.0.0", 0), 10, 82};
  tcp.listeners = {loopback, wildcard};
  ASSERT_NE(tcp.listener_at(ipv4("127.0.0.1", 5432)), nullptr);
  EXPECT_EQ(tcp.listener_at(ipv4("127.0.0.1", 5432))->inode, 81u);
  EXPECT_EQ(tcp.listener_at(ipv4("10.0.0.7", 5432)), nullptr);  // bound to loopback only
  ASSERT_NE(tcp.listener_at(ipv4("10.0.0.7", 8080)), nullptr);  // the wildcard takes any address
  EXPECT_EQ(tcp.listener_at(ipv4("10.0.0.7", 8080))->inode, 82u);
  EXPECT_EQ(tcp.listener_at(ipv4("127.0.0.1", 5433)), nullptr);
  w5_addr v6{};
  v6.family = AF_INET6;
  v6.port = 8080;
  EXPECT_EQ(tcp.listener_at(v6), nullptr);  // an IPv4 listener is not an IPv6 one
}

w5_backend_state described(uint32_t pid, uint32_t tid) {
  w5_backend_state e{};
  e.pid = pid;
  e.tid = tid;
  e.state = 'R';
  return e;
}

TEST(BackendBaseline, TheThreadsCpuSinceTheReadingDuringTheWait) {
  BackendBaseline base;
  base.sent_ns = sec(8.5);
  base.ts_ns = sec(10);
  base.pid = 4121;
  base.threads = {{4121, {sec(1), sec(0.5)}}, {4125, {sec(3), sec(1)}}};
  base.cpu = CpuThrottling{100, 10, sec(0.2)};
  w5_backend_state e = described(4121, 4125);
  ASSERT_TRUE(apply_baseline(base, sec(8.5), sec(13), SchedStat{sec(5.7), sec(1.1)}, CpuThrottling{130, 38, sec(2.6)}, e));
  EXPECT_EQ(e.sample_in_wait, 1u);
  EXPECT_EQ(e.sample_ns, sec(3));
  EXPECT_EQ(e.run_ns, sec(2.7));
  EXPECT_EQ(e.runqueue_ns, sec(0.1));
  EXPECT_EQ(e.periods, 30u);
  EXPECT_EQ(e.throttled_periods, 28u);
  EXPECT_EQ(e.throttled_ns, sec(2.4));
  EXPECT_EQ(e.total_periods, 130u);
}

TEST(BackendBaseline, NotForAnotherRequestProcessOrThreadNorACounterThatWentBackNorJustRead) {
  BackendBaseline base;
  base.sent_ns = sec(8.5);
  base.ts_ns = sec(10);
  base.pid = 4121;
  base.threads = {{4125, {sec(3), sec(1)}}};
  w5_backend_state next_request = described(4121, 4125);
  EXPECT_FALSE(apply_baseline(base, sec(12), sec(13), SchedStat{sec(4), sec(1)}, std::nullopt, next_request))
      << "read for an earlier request on the same keepalive connection";
  EXPECT_FALSE(apply_baseline(base, 0, sec(13), SchedStat{sec(4), sec(1)}, std::nullopt, next_request))
      << "which request timed out is not known";
  w5_backend_state other_process = described(5000, 4125);
  EXPECT_FALSE(apply_baseline(base, sec(8.5), sec(13), SchedStat{sec(4), sec(1)}, std::nullopt, other_process));
  w5_backend_state new_thread = described(4121, 4130);
  EXPECT_FALSE(apply_baseline(base, sec(8.5), sec(13), SchedStat{sec(4), sec(1)}, std::nullopt, new_thread));
  // A tid reused by a thread born since: its CPU time is below the reading.
  w5_backend_state reused = described(4121, 4125);
  EXPECT_FALSE(apply_baseline(base, sec(8.5), sec(13), SchedStat{sec(1), sec(1)}, std::nullopt, reused));
  EXPECT_EQ(reused.sample_ns, 0u);
  EXPECT_EQ(reused.sample_in_wait, 0u);
  // Read just before nginx gave up (its timeout came at the wrong moment of
  // the once-a-second scan): a 150 ms sample tells more than those 20 ms.
  w5_backend_state too_late = described(4121, 4125);
  EXPECT_FALSE(apply_baseline(base, sec(8.5), sec(10.02), SchedStat{sec(3.01), sec(1)}, std::nullopt, too_late));
  EXPECT_EQ(too_late.sample_in_wait, 0u);
  // No cgroup reading then: the thread's share alone.
  w5_backend_state no_cgroup = described(4121, 4125);
  ASSERT_TRUE(apply_baseline(base, sec(8.5), sec(13), SchedStat{sec(4), sec(1)}, CpuThrottling{5, 5, 5}, no_cgroup));
  EXPECT_EQ(no_cgroup.run_ns, sec(1));
  EXPECT_EQ(no_cgroup.periods, 0u);
}

TEST(WaitingRequests, ATcpSlotInFlightLongEnoughWithItsPorts) {
  w5_in_flight slot{};
  slot.sk = 0xffff888012345678ull;
  slot.sent_ns = sec(100);
  slot.tgid = 900;
  // skc_portpair as the kernel lays it out: the remote port in network
  // order, then the local port, then the family.
  const uint16_t remote_be = htons(8080);
  slot.identity = uint64_t{remote_be} | (uint64_t{41234} << 16) | (uint64_t{AF_INET} << 32);
  const std::optional<WaitingUpstreamRequest> r = waiting_request_in(slot, sec(101), sec(102));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->tgid, 900u);
  EXPECT_EQ(r->sk, slot.sk);
  EXPECT_EQ(r->sent_ns, sec(100));
  EXPECT_EQ(r->family, AF_INET);
  EXPECT_EQ(r->upstream_port, 8080);
  EXPECT_EQ(r->local_port, 41234);

  EXPECT_FALSE(waiting_request_in(slot, sec(99), sec(100.5))) << "sent too recently";
  EXPECT_FALSE(waiting_request_in(slot, sec(800), sec(801))) << "abandoned: past the kernel's 600 s";
  w5_in_flight answered = slot;
  answered.sent_ns = 0;
  EXPECT_FALSE(waiting_request_in(answered, sec(101), sec(102)));
  w5_in_flight unix_socket = slot;
  unix_socket.identity = 0xffff888055550000ull;  // a peer pointer
  EXPECT_FALSE(waiting_request_in(unix_socket, sec(101), sec(102)));
}

TEST(Cgroups, ProcPidCgroupV1WithSystemd) {
  std::istringstream in(
      "12:cpu,cpuacct:/why502-throttle\n11:memory:/system.slice/app.service\n1:name=systemd:/system.slice/app.service\n"
      "0::/system.slice/app.service\n");
  const ProcessCgroups c = cgroups_in(in);
  EXPECT_EQ(c.cpu, "/why502-throttle");
  EXPECT_TRUE(c.has_v1_cpu);
  EXPECT_EQ(c.systemd, "/system.slice/app.service");
  EXPECT_EQ(c.unified, "/system.slice/app.service");
  EXPECT_EQ(service_cgroup_path(c), "/system.slice/app.service");
}

TEST(Cgroups, ProcPidCgroupPicksTheFirstThatIsNotTheRoot) {
  std::istringstream in("9:name=systemd:/\n2:cpuacct:/\n1:cpu:/why502-throttle\n0::/\n");
  const ProcessCgroups c = cgroups_in(in);
  EXPECT_EQ(c.cpu, "/why502-throttle");  // "cpu" alone; "cpuacct" is another controller
  EXPECT_EQ(service_cgroup_path(c), "/why502-throttle");
  std::istringstream root("0::/\n");
  EXPECT_EQ(service_cgroup_path(cgroups_in(root)), "/");
  std::istringstream v2("0::/user.slice/user-1000.slice/session-4.scope\n");
  const ProcessCgroups only_v2 = cgroups_in(v2);
  EXPECT_FALSE(only_v2.has_v1_cpu);
  EXPECT_EQ(service_cgroup_path(only_v2), "/user.slice/user-1000.slice/session-4.scope");
  std::istringstream garbage("nonsense\n3:cpu:relative\n");
  EXPECT_EQ(service_cgroup_path(cgroups_in(garbage)), "");
}

TEST(Cgroups, ServiceOfPath) {
  const std::string id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  EXPECT_EQ(service_of_cgroup("/system.slice/nginx.service"), "nginx.service");
  EXPECT_EQ(service_of_cgroup("/system.slice/php8.2-fpm.service/pool-www"), "php8.2-fpm.service");
  EXPECT_EQ(service_of_cgroup("/user.slice/user-1000.slice/session-4.scope"), "session-4.scope");
  EXPECT_EQ(service_of_cgroup("/system.slice/docker-" + id + ".scope"), "docker:0123456789ab");
  EXPECT_EQ(service_of_cgroup("/docker/" + id), "docker:0123456789ab");
  EXPECT_EQ(service_of_cgroup("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234_5678.slice/"
                              "cri-containerd-" + id + ".scope"),
            "containerd:0123456789ab");
  EXPECT_EQ(service_of_cgroup("/kubepods/burstable/pod1234-5678/" + id), "container:0123456789ab");
  EXPECT_EQ(service_of_cgroup("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234_5678.slice"),
            "pod:1234-5678");
  EXPECT_EQ(service_of_cgroup("/machine.slice/libpod-" + id + ".scope"), "podman:0123456789ab");
  EXPECT_EQ(service_of_cgroup("/system.slice/crio-" + id + ".scope"), "cri-o:0123456789ab");
  EXPECT_EQ(service_of_cgroup("/kubepods.slice/kubepods-burstable.slice"), "");
  EXPECT_EQ(service_of_cgroup("/why502-throttle"), "");
  EXPECT_EQ(service_of_cgroup("/"), "");
  EXPECT_EQ(service_of_cgroup("/docker/notanid"), "");
  EXPECT_EQ(cgroup_short_form("/why502-throttle"), "/why502-throttle");
  EXPECT_EQ(cgroup_short_form("/system.slice/nginx.service"), "nginx.service");
}

}  // namespace
}  // namespace why502::test

// The parsers of what the host tells why502 — /proc files, NETLINK_SOCK_DIAG
// replies — apart from the host: well-formed input gives the value, anything
// else gives "unknown" (0), never an exception or a read past the end.
// The malformed cases are what the proc_files and sock_diag fuzzers found.
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "event_builders.hpp"
#include "host/listener_probe.hpp"
#include "host/listener_watch.hpp"
#include "host/nginx_discovery.hpp"
#include "host/privileges.hpp"

namespace why502::test {
namespace {

uint32_t fd_limit(const std::string& limits) {
  std::istringstream in(limits);
  return fd_soft_limit_in_limits(in);
}

uint64_t overflows(const std::string& netstat) {
  std::istringstream in(netstat);
  return listen_overflows_in_netstat(in);
}

uint64_t capabilities(const std::string& status) {
  std::istringstream in(status);
  return effective_capabilities_in_status(in);
}

TEST(ProcStat, ParentIsTheFieldAfterTheState) {
  EXPECT_EQ(parent_pid_in_stat("23875 (nginx) S 23874 23874 23874 0 -1 4194624"), 23874);
  EXPECT_EQ(parent_pid_in_stat("42 (a) b (c)) R 7 42 42"), 7);  // comm holds ") "
  EXPECT_EQ(parent_pid_in_stat("1 (systemd) S 0 1 1"), 0);
}

// Found by fuzzing: a line ending right after the comm made substr() throw
// std::out_of_range out of find_nginx_processes.
TEST(ProcStat, ALineCutAnywhereIsUnknown) {
  const std::string line = "23875 (nginx) S 23874 23874";
  for (size_t n = 0; n < 17; ++n) EXPECT_EQ(parent_pid_in_stat(line.substr(0, n)), 0) << n;
  EXPECT_EQ(parent_pid_in_stat("1 (nginx) S 99999999999999999999"), 0);
  EXPECT_EQ(parent_pid_in_stat("1 (nginx) S -5"), 0);
  EXPECT_EQ(parent_pid_in_stat("1 (nginx) S 12x"), 0);
}

// --nginx-binary /etc/passwd warned "not an ELF file" and traced on.
TEST(NginxBinary, OnlyAReadableElfWithNginxsVersionStringIsOne) {
  EXPECT_TRUE(check_nginx_binary("/usr/sbin/nginx").ok());
  EXPECT_EQ(check_nginx_binary("/etc/passwd").error(), "not an ELF file, so not an nginx binary");
  EXPECT_EQ(check_nginx_binary("/bin/true").error(),
            "an ELF file without nginx's version string, so not an nginx binary");
  EXPECT_EQ(check_nginx_binary("/etc").error(), "a directory, not an nginx binary");
  EXPECT_EQ(check_nginx_binary("/nonexistent/nginx").error(), "cannot read it: No such file or directory");
}

TEST(ProcLimits, SoftLimitOfOpenFiles) {
  EXPECT_EQ(fd_limit("Limit                     Soft Limit           Hard Limit           Units\n"
                     "Max open files            1024                 524288               files\n"),
            1024u);
  EXPECT_EQ(fd_limit("Max open files            unlimited            unlimited            files\n"), 0u);
  EXPECT_EQ(fd_limit("Max cpu time              unlimited            unlimited            seconds\n"), 0u);
}

// Found by fuzzing: std::stoul threw std::invalid_argument (uncaught) on a
// field that is not a number, std::out_of_range on a huge one.
TEST(ProcLimits, AMalformedLimitIsUnknown) {
  EXPECT_EQ(fd_limit("Max open files"), 0u);
  EXPECT_EQ(fd_limit("Max open files            10x24                1024                 files\n"), 0u);
  EXPECT_EQ(fd_limit("Max open files            \"1024                1024                 files\n"), 0u);
  EXPECT_EQ(fd_limit("Max open files            99999999999999999999999 1 files\n"), UINT32_MAX);
  EXPECT_EQ(fd_limit("Max open files            8589934592           1 files\n"), UINT32_MAX);
}

TEST(ProcNetstat, ListenOverflowsFromTheTcpExtLines) {
  EXPECT_EQ(overflows("TcpExt: SyncookiesSent ListenOverflows ListenDrops\nTcpExt: 0 12 14\n"
                      "IpExt: InNoRoutes\nIpExt: 0\n"),
            12u);
  EXPECT_EQ(overflows("IpExt: InNoRoutes\nIpExt: 0\n"), 0u);
}

TEST(ProcNetstat, AMalformedValueIsUnknown) {
  EXPECT_EQ(overflows("TcpExt: ListenOverflows\nTcpExt: twelve\n"), 0u);
  EXPECT_EQ(overflows("TcpExt: ListenOverflows\nTcpExt: 99999999999999999999999\n"), 0u);
  EXPECT_EQ(overflows("TcpExt: ListenOverflows\n"), 0u);
}

TEST(ProcStatus, EffectiveCapabilities) {
  EXPECT_EQ(capabilities("Name:\twhy502\nCapPrm:\t0000000000000001\nCapEff:\t000001ffffffffff\n"), 0x1ffffffffffu);
  EXPECT_EQ(capabilities("Name:\twhy502\n"), 0u);
}

TEST(ProcStatus, MalformedCapabilitiesAreNone) {
  EXPECT_EQ(capabilities("CapEff:"), 0u);
  EXPECT_EQ(capabilities("CapEff:\tzz\n"), 0u);
  EXPECT_EQ(capabilities("CapEff:\t10000000000000000000\n"), 0u);  // more than 64 bits
}

// A reply as recv() returns it: whole messages, then maybe a cut one.
struct DiagMessage {
  nlmsghdr header;
  inet_diag_msg msg;
};

std::vector<uint8_t> listener_message(uint16_t port, uint32_t queued, uint32_t backlog) {
  DiagMessage m{};
  m.header.nlmsg_len = sizeof(m);
  m.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  m.msg.id.idiag_sport = htons(port);
  m.msg.idiag_rqueue = queued;
  m.msg.idiag_wqueue = backlog;
  m.msg.idiag_inode = 77;
  std::vector<uint8_t> bytes(sizeof(m));
  std::memcpy(bytes.data(), &m, sizeof(m));
  return bytes;
}

// The reply in a heap buffer of exactly its size, so ASan sees any overread.
bool parse_exact(const std::vector<uint8_t>& reply, std::vector<TcpListener>& found) {
  std::unique_ptr<uint8_t[]> exact(new uint8_t[reply.size()]);
  std::memcpy(exact.get(), reply.data(), reply.size());
  return listeners_in_sock_diag_reply(std::span(exact.get(), reply.size()), AF_INET, found);
}

TEST(SockDiagReply, ListenersUntilTheDumpIsDone) {
  std::vector<uint8_t> reply = listener_message(9000, 3, 128);
  const std::vector<uint8_t> second = listener_message(80, 0, 511);
  reply.insert(reply.end(), second.begin(), second.end());
  std::vector<TcpListener> found;
  EXPECT_FALSE(parse_exact(reply, found));  // more to come
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[0].addr.port, 9000);
  EXPECT_EQ(found[0].queued, 3u);
  EXPECT_EQ(found[0].backlog, 128u);
  EXPECT_EQ(found[0].inode, 77u);
  EXPECT_EQ(found[1].addr.port, 80);

  nlmsghdr done{};
  done.nlmsg_len = NLMSG_LENGTH(sizeof(int));
  done.nlmsg_type = NLMSG_DONE;
  std::vector<uint8_t> end(NLMSG_LENGTH(sizeof(int)), 0);
  std::memcpy(end.data(), &done, sizeof(done));
  found.clear();
  EXPECT_TRUE(parse_exact(end, found));
  EXPECT_TRUE(found.empty());
}

// Found by fuzzing: a message whose length covered its header but not the
// inet_diag_msg was read anyway, past the end of the reply (heap overflow).
TEST(SockDiagReply, AMessageTooShortForAListenerIsNotRead) {
  std::vector<uint8_t> reply = listener_message(9000, 3, 128);
  const uint32_t short_length = NLMSG_HDRLEN + 8;
  std::memcpy(reply.data() + offsetof(nlmsghdr, nlmsg_len), &short_length, sizeof(short_length));
  reply.resize(short_length);
  std::vector<TcpListener> found;
  EXPECT_FALSE(parse_exact(reply, found));
  EXPECT_TRUE(found.empty());
}

TEST(SockDiagReply, AGarbledLengthEndsTheDump) {
  std::vector<uint8_t> reply = listener_message(9000, 3, 128);
  const std::vector<uint8_t> cut = listener_message(80, 0, 511);
  reply.insert(reply.end(), cut.begin(), cut.begin() + 30);  // claims more than was received
  std::vector<TcpListener> found;
  EXPECT_TRUE(parse_exact(reply, found));
  EXPECT_EQ(found.size(), 1u);
  // An unaligned last message (NLMSG_NEXT would step past the end).
  std::vector<uint8_t> odd = listener_message(9000, 3, 128);
  const uint32_t odd_length = static_cast<uint32_t>(odd.size()) + 1;
  std::memcpy(odd.data(), &odd_length, sizeof(odd_length));
  odd.push_back(0);
  found.clear();
  EXPECT_FALSE(parse_exact(odd, found));
  EXPECT_EQ(found.size(), 1u);
}

// nginx's format string is a fixed-size array; read as a C string it ran on
// into the action and past the event when nginx's text filled it.
TEST(ListenerWatch, AFormatFillingItsArrayIsReadWithinIt) {
  w5_ngx_log log = make_log({.ts = sec(10), .fmt = "upstream timed out", .upstream = ipv4("127.0.0.1", 9000)});
  std::memset(log.fmt, 'x', sizeof(log.fmt));
  std::memcpy(log.fmt, "upstream timed out", 18);
  std::memset(log.action, 'y', sizeof(log.action));
  auto event = std::make_unique<Event>(log);
  ListenerWatch watch;
  const std::optional<w5_addr> due = watch.due(*event);
  ASSERT_TRUE(due.has_value());
  EXPECT_EQ(due->port, 9000);
  EXPECT_FALSE(watch.due(*event).has_value());  // probed just now
}

}  // namespace
}  // namespace why502::test

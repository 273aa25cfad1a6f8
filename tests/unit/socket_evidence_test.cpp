// SocketEvidence: what the kernel saw on each upstream socket, kept briefly
// and keyed by a sock address the kernel reuses.
#include <cerrno>

#include <gtest/gtest.h>

#include "attribution/socket_evidence.hpp"
#include "event_builders.hpp"

namespace why502::test {
namespace {

constexpr uint64_t kSk = 0xffff888105b01000;
constexpr uint64_t kOtherSk = 0xffff888105b02000;
const w5_addr kPeerA = ipv4("127.0.0.1", 9000);
const w5_addr kPeerB = ipv4("127.0.0.1", 9001);

TEST(SocketEvidence, RecordsARefusedConnect) {
  SocketEvidence ev;
  ev.add(rst(sec(1), kSk, kTcpSynSent, kPeerA));
  ev.add(sock_error(sec(1.00001), kSk, ECONNREFUSED, kTcpClose, kPeerA));
  const SocketFacts* f = ev.find(kSk, sec(1.001));
  ASSERT_NE(f, nullptr);
  EXPECT_TRUE(f->reset_in_syn_sent);
  EXPECT_FALSE(f->reset_established);
  EXPECT_EQ(f->error, ECONNREFUSED);
  EXPECT_EQ(f->syn_retransmits, 0);
  EXPECT_EQ(f->first_ts_ns, sec(1));
  EXPECT_EQ(f->last_ts_ns, sec(1.00001));
  EXPECT_EQ(f->remote.port, 9000);
  EXPECT_EQ(ev.size(), 1u);
}

TEST(SocketEvidence, AResetThatCarriesItsErrorNeedsNoErrorReport) {
  // The kernel side sends the error a reset reports in the reset's event,
  // and no W5_EV_SOCK_ERROR after it; recordings made before have both.
  for (const bool with_report : {false, true}) {
    SCOPED_TRACE(with_report ? "and its report" : "alone");
    SocketEvidence ev;
    w5_sock_evidence reset = rst(sec(1), kSk, kTcpSynSent, kPeerA);
    reset.err = ECONNREFUSED;
    ev.add(reset);
    if (with_report) ev.add(sock_error(sec(1.00001), kSk, ECONNREFUSED, kTcpClose, kPeerA));
    const SocketFacts* f = ev.find(kSk, sec(1.001));
    ASSERT_NE(f, nullptr);
    EXPECT_TRUE(f->reset_in_syn_sent);
    EXPECT_EQ(f->error, ECONNREFUSED);
    std::vector<std::string> lines;
    SocketEvidence::describe(*f, "127.0.0.1:9000", lines);
    EXPECT_EQ(lines, (std::vector<std::string>{"kernel: RST in reply to SYN from 127.0.0.1:9000 (nothing listening)",
                                               "kernel: socket error 111 (Connection refused)"}));
  }
}

TEST(SocketEvidence, CountsSynRetransmitsOfOneConnect) {
  SocketEvidence ev;
  // Retransmits back off: 1 s, 3 s, 7 s after connect(): one episode.
  ev.add(syn_retransmit(sec(1), kSk, kPeerA));
  ev.add(syn_retransmit(sec(3), kSk, kPeerA));
  ev.add(syn_retransmit(sec(7), kSk, kPeerA));
  const SocketFacts* f = ev.find(kSk, sec(7.5));
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->syn_retransmits, 3);
  EXPECT_EQ(f->first_ts_ns, sec(1));
}

TEST(SocketEvidence, FindNeedsAKnownNonNullSocketSeenBeforeTheQuestion) {
  SocketEvidence ev;
  ev.add(rst(sec(10), kSk, kTcpEstablished, kPeerA));
  EXPECT_EQ(ev.find(0, sec(11)), nullptr);
  EXPECT_EQ(ev.find(kOtherSk, sec(11)), nullptr);
  EXPECT_EQ(ev.find(kSk, sec(9)), nullptr);  // facts from after the question
  EXPECT_NE(ev.find(kSk, sec(10)), nullptr);
  EXPECT_NE(ev.find(kSk, sec(11)), nullptr);
}

TEST(SocketEvidence, FindIgnoresFactsOlderThanTheMaximumAge) {
  SocketEvidence ev(16, sec(5));
  ev.add(rst(sec(10), kSk, kTcpEstablished, kPeerA));
  EXPECT_NE(ev.find(kSk, sec(14)), nullptr);
  EXPECT_EQ(ev.find(kSk, sec(16)), nullptr);
}

TEST(SocketEvidence, FindSeesFactsThatContinuedAfterTheQuestion) {
  // "Facts about sk seen at or before ts_ns": the first retransmit was seen
  // before nginx gave up, a second one raced with nginx's log line.
  SocketEvidence ev;
  ev.add(syn_retransmit(sec(21), kSk, kPeerA));
  ev.add(syn_retransmit(sec(23.0001), kSk, kPeerA));
  EXPECT_NE(ev.find(kSk, sec(23)), nullptr);
}

TEST(SocketEvidence, ReuseForAnotherPeerStartsOver) {
  SocketEvidence ev;
  ev.add(rst(sec(1), kSk, kTcpSynSent, kPeerA));
  ev.add(sock_error(sec(1.00001), kSk, ECONNREFUSED, kTcpClose, kPeerA));
  ev.add(rst(sec(1.2), kSk, kTcpEstablished, kPeerB));
  const SocketFacts* f = ev.find(kSk, sec(1.3));
  ASSERT_NE(f, nullptr);
  EXPECT_FALSE(f->reset_in_syn_sent);
  EXPECT_TRUE(f->reset_established);
  EXPECT_EQ(f->error, 0);
  EXPECT_EQ(f->first_ts_ns, sec(1.2));
  EXPECT_EQ(f->remote.port, 9001);
}

TEST(SocketEvidence, ReuseForAnotherPeerWithoutAResetStartsOver) {
  SocketEvidence ev;
  ev.add(syn_retransmit(sec(1), kSk, kPeerA));
  ev.add(syn_retransmit(sec(1.5), kSk, kPeerB));  // a new connect() to another peer
  const SocketFacts* f = ev.find(kSk, sec(1.6));
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->syn_retransmits, 1);
  EXPECT_EQ(f->first_ts_ns, sec(1.5));
  EXPECT_EQ(f->remote.port, 9001);
}

TEST(SocketEvidence, NewConnectToTheSamePeerAfterAQuietSecondStartsOver) {
  SocketEvidence ev;
  ev.add(rst(sec(1), kSk, kTcpEstablished, kPeerA));
  ev.add(syn_retransmit(sec(5), kSk, kPeerA));
  const SocketFacts* f = ev.find(kSk, sec(5.1));
  ASSERT_NE(f, nullptr);
  EXPECT_FALSE(f->reset_established);
  EXPECT_EQ(f->syn_retransmits, 1);
  EXPECT_EQ(f->first_ts_ns, sec(5));
}

TEST(SocketEvidence, NewConnectRefusedAgainAfterAnEarlierRefusalStartsOver) {
  // A refused connect ends its socket; an RST in SYN_SENT on the same sock
  // address later can only belong to a new connect().
  SocketEvidence ev;
  ev.add(rst(sec(1), kSk, kTcpSynSent, kPeerA));
  ev.add(sock_error(sec(1.00001), kSk, ECONNREFUSED, kTcpClose, kPeerA));
  ev.add(rst(sec(6), kSk, kTcpSynSent, kPeerA));
  const SocketFacts* f = ev.find(kSk, sec(6.001));
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->first_ts_ns, sec(6));
}

TEST(SocketEvidence, IsBoundedOldestFirst) {
  SocketEvidence ev(2, sec(600));
  ev.add(rst(sec(1), 0x1, kTcpEstablished, kPeerA));
  ev.add(rst(sec(2), 0x2, kTcpEstablished, kPeerA));
  ev.add(rst(sec(3), 0x3, kTcpEstablished, kPeerA));
  EXPECT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev.find(0x1, sec(4)), nullptr);
  EXPECT_NE(ev.find(0x2, sec(4)), nullptr);
  EXPECT_NE(ev.find(0x3, sec(4)), nullptr);
}

TEST(SocketEvidence, ExpiresByAgeOnArrivalOfNewFacts) {
  SocketEvidence ev(16, sec(5));
  ev.add(rst(sec(1), 0x1, kTcpEstablished, kPeerA));
  ev.add(rst(sec(4), 0x2, kTcpEstablished, kPeerA));
  EXPECT_EQ(ev.size(), 2u);
  ev.add(rst(sec(8), 0x3, kTcpEstablished, kPeerA));
  EXPECT_EQ(ev.size(), 2u);  // 0x1 is 7 s old: gone; 0x2 is 4 s old: kept
  EXPECT_NE(ev.find(0x2, sec(8)), nullptr);
  EXPECT_NE(ev.find(0x3, sec(8)), nullptr);
}

TEST(SocketEvidence, DescribeMostDecisiveFirst) {
  SocketFacts f;
  f.reset_in_syn_sent = true;
  f.syn_retransmits = 2;
  f.error = ECONNREFUSED;
  f.remote = kPeerA;
  std::vector<std::string> lines;
  SocketEvidence::describe(f, "backend-a", lines);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], "kernel: RST in reply to SYN from backend-a (nothing listening)");
  EXPECT_EQ(lines[1], "kernel: SYN to backend-a retransmitted 2 time(s), no SYN-ACK");
  EXPECT_EQ(lines[2], "kernel: socket error 111 (Connection refused)");
}

// An error with no RST came in ICMP: what a firewall's REJECT sends.
TEST(SocketEvidence, AnErrorWithoutAResetWasAnsweredByIcmp) {
  struct Case {
    int error;
    int syn_retransmits;
    IcmpAnswer answer;
  };
  for (const Case& c : {Case{ECONNREFUSED, 0, IcmpAnswer::port_unreachable},
                        Case{ECONNREFUSED, 2, IcmpAnswer::port_unreachable},
                        Case{EACCES, 0, IcmpAnswer::prohibited},
                        Case{EHOSTUNREACH, 0, IcmpAnswer::unreachable_at_once},
                        Case{ENETUNREACH, 0, IcmpAnswer::unreachable_at_once},
                        // A host that is down: seconds of SYNs, then unreachable.
                        Case{EHOSTUNREACH, 3, IcmpAnswer::none},
                        Case{ETIMEDOUT, 0, IcmpAnswer::none},
                        Case{0, 0, IcmpAnswer::none}}) {
    SCOPED_TRACE(testing::Message() << "error " << c.error << ", " << c.syn_retransmits << " retransmits");
    SocketEvidence ev;
    for (int i = 0; i < c.syn_retransmits; ++i) ev.add(syn_retransmit(sec(1 + i), kSk, kPeerA));
    if (c.error) ev.add(sock_error(sec(5), kSk, c.error, kTcpSynSent, kPeerA));
    const SocketFacts* f = ev.find(kSk, sec(6));
    EXPECT_EQ(f ? icmp_answer(*f) : IcmpAnswer::none, c.answer);
  }
  // A RST's own error is no ICMP's.
  SocketEvidence ev;
  ev.add(rst(sec(1), kSk, kTcpSynSent, kPeerA));
  ev.add(sock_error(sec(1.00001), kSk, ECONNREFUSED, kTcpClose, kPeerA));
  EXPECT_EQ(icmp_answer(*ev.find(kSk, sec(2))), IcmpAnswer::none);
}

TEST(SocketEvidence, DescribeSaysAnIcmpAnswerCameInsteadOfARst) {
  SocketFacts f;
  f.error = ECONNREFUSED;
  std::vector<std::string> lines;
  SocketEvidence::describe(f, "10.0.0.9:80", lines);
  EXPECT_EQ(lines, (std::vector<std::string>{
                       "kernel: ICMP port unreachable in reply to SYN to 10.0.0.9:80 (a firewall's REJECT; a host "
                       "with nothing listening sends a RST)",
                       "kernel: socket error 111 (Connection refused)"}));
  f.error = EHOSTUNREACH;
  lines.clear();
  SocketEvidence::describe(f, "10.0.0.9:80", lines);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].rfind("kernel: ICMP host unreachable in reply to the first SYN to 10.0.0.9:80, at once (", 0), 0u)
      << lines[0];
  f.syn_retransmits = 3;
  lines.clear();
  SocketEvidence::describe(f, "10.0.0.9:80", lines);
  EXPECT_EQ(lines, (std::vector<std::string>{"kernel: SYN to 10.0.0.9:80 retransmitted 3 time(s), no SYN-ACK",
                                             "kernel: socket error 113 (No route to host)"}));
}

TEST(SocketEvidence, DescribeNamesTheRemoteWhenNoPeerIsGiven) {
  SocketFacts f;
  f.reset_established = true;
  f.remote = ipv6("::1", 9000);
  std::vector<std::string> lines;
  SocketEvidence::describe(f, "", lines);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], "kernel: RST received from [::1]:9000 on an established connection");
}

TEST(SocketEvidence, DescribeNothingWhenNothingHappened) {
  std::vector<std::string> lines = {"an earlier line"};
  SocketEvidence::describe(SocketFacts{}, "x", lines);
  EXPECT_EQ(lines, std::vector<std::string>{"an earlier line"});
}

TEST(SocketEvidence, DescribeAppendsAfterWhatIsThere) {
  SocketFacts f;
  f.error = ECONNRESET;
  std::vector<std::string> lines = {"headline"};
  SocketEvidence::describe(f, "b", lines);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "headline");
  EXPECT_EQ(lines[1], "kernel: socket error 104 (Connection reset by peer)");
}

}  // namespace
}  // namespace why502::test

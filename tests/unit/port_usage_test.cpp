// The parsers behind the port-usage read (ports_exhausted's evidence), on
// the text the kernel writes.
#include "host/port_usage.hpp"

#include <sys/socket.h>

#include <cstring>
#include <sstream>

#include <gtest/gtest.h>

#include "event_builders.hpp"

namespace why502::test {
namespace {

TEST(PortUsage, PeerNamesAsNginxWritesThem) {
  const auto v4 = address_of_peer("127.0.0.1:9000");
  ASSERT_TRUE(v4.has_value());
  EXPECT_EQ(v4->family, AF_INET);
  EXPECT_EQ(v4->port, 9000);
  EXPECT_EQ(std::memcmp(v4->addr, ipv4("127.0.0.1", 9000).addr, 16), 0);
  const auto v6 = address_of_peer("[::1]:8080");
  ASSERT_TRUE(v6.has_value());
  EXPECT_EQ(v6->family, AF_INET6);
  EXPECT_EQ(v6->port, 8080);
  for (const char* not_ip : {"unix:/run/php.sock", "backend", "127.0.0.1", "127.0.0.1:", "127.0.0.1:70000",
                             "[::1]", "host.example:80", "127.0.0.1:9x"})
    EXPECT_FALSE(address_of_peer(not_ip).has_value()) << not_ip;
}

TEST(PortUsage, PortRange) {
  std::istringstream sysctl("61000\t61003\n");
  const auto r = port_range_in(sysctl);
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->low, 61000u);
  EXPECT_EQ(r->high, 61003u);
  for (const char* bad : {"", "61003 61000", "0 10", "1 70000", "x y"}) {
    std::istringstream in(bad);
    EXPECT_FALSE(port_range_in(in).has_value()) << bad;
  }
}

TEST(PortUsage, HoldersTowardOneAddressByState) {
  // /proc/net/tcp: 127.0.0.1 is 0100007F, port 9000 is 2328.
  std::istringstream tcp(
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
      "   0: 0100007F:2328 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1\n"
      "   1: 0100007F:EE48 0100007F:2328 01 00000000:00000000 00:00000000 00000000     0        0 2 1\n"
      "   2: 0100007F:EE49 0100007F:2328 01 00000000:00000000 00:00000000 00000000     0        0 3 1\n"
      "   3: 0100007F:EE4A 0100007F:2328 06 00000000:00000000 03:00001770 00000000     0        0 0 3\n"
      "   4: 0100007F:EE4B 0100007F:2328 08 00000000:00000000 00:00000000 00000000     0        0 4 1\n"
      "   5: 0100007F:2328 0100007F:EE48 01 00000000:00000000 00:00000000 00000000     0        0 5 1\n"
      "   6: 0100007F:EE4C 0100007F:2329 01 00000000:00000000 00:00000000 00000000     0        0 6 1\n"
      "   7: garbage\n");
  const PortHolders h = port_holders_in(tcp, ipv4("127.0.0.1", 9000));
  EXPECT_EQ(h.established, 2u);  // not the backend's accepted end (5), nor another port (6)
  EXPECT_EQ(h.time_wait, 1u);
  EXPECT_EQ(h.other, 1u);  // CLOSE_WAIT
}

TEST(PortUsage, Ipv6Holders) {
  std::istringstream tcp6(
      "  sl  local_address                         remote_address                        st ...\n"
      "   0: 00000000000000000000000001000000:EE48 00000000000000000000000001000000:1F90 01 0 0 0\n");
  EXPECT_EQ(port_holders_in(tcp6, ipv6("::1", 8080)).established, 1u);
  std::istringstream again(tcp6.str());
  EXPECT_EQ(port_holders_in(again, ipv6("::2", 8080)).established, 0u);
}

TEST(PortUsage, AnIpv6SourceAddress) {
  const std::string lo = "00000000000000000000000000000001 01 80 10 80       lo\n";
  const std::string link_local = "fe800000000000000abcdefffe012345 02 40 20 80     eth0\n";
  const std::string global = "20010db8000000000000000000000005 02 40 00 80     eth0\n";
  auto has = [](const std::string& if_inet6, const char* remote) {
    std::istringstream in(if_inet6);
    return has_ipv6_source_in(in, ipv6(remote, 8080));
  };
  EXPECT_TRUE(has(lo, "::1"));
  EXPECT_TRUE(has(link_local + lo, "::1"));
  EXPECT_FALSE(has(link_local, "::1"));       // IPv6 disabled on the loopback alone
  EXPECT_FALSE(has("", "::1"));               // disabled everywhere: no address at all
  EXPECT_FALSE(has(lo + link_local, "2001:db8::7"));  // no address that reaches beyond the link
  EXPECT_TRUE(has(lo + global, "2001:db8::7"));
  EXPECT_FALSE(has("garbage\n", "::1"));
}

}  // namespace
}  // namespace why502::test

// Local ports toward one upstream, read when nginx's connect() found none
// free (EADDRNOTAVAIL): the ephemeral port range of nginx's network namespace
// and its TCP sockets toward that address by state. Read on that error only,
// at most once a second per worker and upstream, so a storm of such errors
// costs one read a second.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <istream>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "host/read_pacing.hpp"
#include "why502_wire.h"

namespace why502 {

class PortUsageProber {
 public:
  // The usage toward peer (nginx's name of the upstream, "127.0.0.1:9000",
  // "[::1]:9000") as seen by worker's network namespace, as an event stamped
  // with ts_ns; nullopt when peer is no IP address, the worker is gone, or it
  // was read less than a second ago.
  std::optional<w5_port_usage> probe(pid_t worker, std::string_view peer, uint64_t ts_ns);
  // Reads the port range of another network namespace (open as a
  // descriptor) for a process without CAP_SYS_ADMIN: the uprobe broker.
  using RangeReader = std::function<bool(int netns_fd, uint32_t* low, uint32_t* high)>;
  void read_other_namespaces_with(RangeReader reader) { range_reader_ = std::move(reader); }

 private:
  RangeReader range_reader_;
  OncePerSecond<std::pair<pid_t, std::string>> pacing_;  // (worker, peer)
};

// The parsers behind it, apart from the kernel they read.

// Whether a network namespace whose /proc/PID/net/if_inet6 this is has an
// IPv6 address to connect to remote (IPv6) from: ::1 for ::1, else one that
// is neither ::1 nor link-local. Without one (IPv6 disabled there),
// connect() fails with EADDRNOTAVAIL though no local port ran out.
bool has_ipv6_source_in(std::istream& if_inet6, const w5_addr& remote);

// "127.0.0.1:9000" or "[::1]:9000" as nginx names a peer; nullopt otherwise
// (a unix socket, a group name).
std::optional<w5_addr> address_of_peer(std::string_view peer);

struct PortRange {
  uint32_t low = 0;
  uint32_t high = 0;
};
// net.ipv4.ip_local_port_range ("32768\t60999"); nullopt when malformed.
std::optional<PortRange> port_range_in(std::istream& sysctl);

// One socket line of /proc/PID/net/tcp or tcp6 (family AF_INET or AF_INET6):
// its ends, state and inode; nullopt for the column names and garbage.
struct ProcNetTcpSocket {
  w5_addr local{};
  w5_addr remote{};
  unsigned state = 0;
  uint64_t inode = 0;
};
std::optional<ProcNetTcpSocket> proc_net_tcp_socket(const std::string& line, uint16_t family);

struct PortHolders {
  uint32_t established = 0;
  uint32_t time_wait = 0;
  uint32_t other = 0;
};
// The sockets of /proc/PID/net/tcp (or tcp6) whose remote end is remote,
// by state. Listeners (remote 0) never match.
PortHolders port_holders_in(std::istream& proc_net_tcp, const w5_addr& remote);

}  // namespace why502

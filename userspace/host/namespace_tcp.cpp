#include "host/namespace_tcp.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <fstream>
#include <string>

namespace why502 {
namespace {
constexpr unsigned kTcpListen = 10;
}  // namespace

const ProcNetTcpSocket* NamespaceTcp::listener_at(const w5_addr& end) const {
  static const uint8_t zeros[16] = {};
  const size_t bytes = end.family == AF_INET6 ? 16 : 4;
  for (const ProcNetTcpSocket& l : listeners)
    if (l.local.family == end.family && l.local.port == end.port &&
        (std::memcmp(l.local.addr, end.addr, bytes) == 0 || std::memcmp(l.local.addr, zeros, bytes) == 0))
      return &l;
  return nullptr;
}

NamespaceTcp read_namespace_tcp(uint32_t pid, const std::function<bool(const ProcNetTcpSocket&)>& keep) {
  NamespaceTcp tcp;
  for (uint16_t family : {uint16_t{AF_INET}, uint16_t{AF_INET6}}) {
    std::ifstream in("/proc/" + std::to_string(pid) + (family == AF_INET ? "/net/tcp" : "/net/tcp6"));
    std::string line;
    while (std::getline(in, line)) {
      const std::optional<ProcNetTcpSocket> s = proc_net_tcp_socket(line, family);  // (none for the header)
      if (!s) continue;
      if (s->state == kTcpListen)
        tcp.listeners.push_back(*s);
      else if (keep(*s))
        tcp.kept.push_back(*s);
    }
  }
  return tcp;
}

}  // namespace why502

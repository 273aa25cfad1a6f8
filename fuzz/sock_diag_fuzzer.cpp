// A NETLINK_SOCK_DIAG reply, as recv() hands it to the listener probe or the
// backend prober: the first byte picks the parser (bit 1: unix_diag's; bit 2:
// one socket with its tcp_info) and
// the family asked for (bit 0: AF_INET6), the rest is the reply, copied into
// a buffer of exactly its size (aligned, as recv()'s is).
#include <sys/socket.h>

#include <cstdint>
#include <span>
#include <vector>

#include "host/backend_state.hpp"
#include "host/listener_probe.hpp"
#include "host/tcp_socket_diag.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const int family = (data[0] & 1) ? AF_INET6 : AF_INET;
  const std::vector<uint8_t> reply(data + 1, data + size);
  if (data[0] & 4) {
    why502::tcp_socket_diag_in_reply(reply);
    return 0;
  }
  if (data[0] & 2) {
    why502::unix_diag_sockets_in_reply(reply, [](const why502::UnixDiagSocket&) {});
    return 0;
  }
  std::vector<why502::TcpListener> found;
  why502::listeners_in_sock_diag_reply(reply, family, found);
  return 0;
}

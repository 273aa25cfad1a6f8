#include "host/sock_diag_query.hpp"

#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

namespace why502 {
namespace {

struct NetlinkSocket {
  int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  ~NetlinkSocket() {
    if (fd >= 0) close(fd);
  }
};

}  // namespace

bool sock_diag_query(std::span<const uint8_t> message, const SockDiagReply& on_reply) {
  NetlinkSocket nl;
  if (nl.fd < 0) return false;
  if (send(nl.fd, message.data(), message.size(), 0) != static_cast<ssize_t>(message.size())) return false;
  // A dump comes in datagrams of up to a page each; 64 KiB holds any.
  std::vector<uint8_t> buffer(64 * 1024);
  while (true) {
    const ssize_t n = recv(nl.fd, buffer.data(), buffer.size(), 0);
    if (n <= 0) return true;
    if (on_reply(std::span<const uint8_t>(buffer.data(), static_cast<size_t>(n)))) return true;
  }
}

}  // namespace why502

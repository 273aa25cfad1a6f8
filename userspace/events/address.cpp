#include "events/address.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>

namespace why502 {

std::string format_ip(const w5_addr& addr) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (addr.family == AF_INET) {
    inet_ntop(AF_INET, addr.addr, buf, sizeof(buf));
    return buf;
  }
  if (addr.family == AF_INET6) {
    inet_ntop(AF_INET6, addr.addr, buf, sizeof(buf));
    return buf;
  }
  if (addr.family == AF_UNIX) return "unix:";
  return "";
}

std::string format_endpoint(const w5_addr& addr) {
  switch (addr.family) {
    case AF_INET:
      return format_ip(addr) + ":" + std::to_string(addr.port);
    case AF_INET6:
      return "[" + format_ip(addr) + "]:" + std::to_string(addr.port);
    case AF_UNIX:
      return "unix:";
    default:
      return "";
  }
}

}  // namespace why502

#include "events/address.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <charconv>

namespace why502 {
namespace {

// Room for "[" + the longest IPv6 text + "]:" + a port.
constexpr size_t kEndpointChars = INET6_ADDRSTRLEN + 8;

// inet_ntop's dotted quad ("%u.%u.%u.%u") without its sprintf: every error
// record names its client and often its upstream.
char* write_ipv4(char* out, const uint8_t (&addr)[16]) {
  for (int i = 0; i < 4; ++i) {
    if (i > 0) *out++ = '.';
    out = std::to_chars(out, out + 3, addr[i]).ptr;
  }
  return out;
}

// The address as format_ip writes it; returns the end of what was written.
char* write_ip(char* out, const w5_addr& addr) {
  if (addr.family == AF_INET) return write_ipv4(out, addr.addr);
  if (inet_ntop(AF_INET6, addr.addr, out, INET6_ADDRSTRLEN) == nullptr) return out;
  return out + std::strlen(out);
}

}  // namespace

std::string format_ip(const w5_addr& addr) {
  char buf[kEndpointChars];
  if (addr.family == AF_INET || addr.family == AF_INET6) return std::string(buf, write_ip(buf, addr));
  if (addr.family == AF_UNIX) return "unix:";
  return "";
}

std::string format_endpoint(const w5_addr& addr) {
  char buf[kEndpointChars];
  char* end = buf;
  switch (addr.family) {
    case AF_INET:
      end = write_ip(end, addr);
      break;
    case AF_INET6:
      *end++ = '[';
      end = write_ip(end, addr);
      *end++ = ']';
      break;
    case AF_UNIX:
      return "unix:";
    default:
      return "";
  }
  *end++ = ':';
  end = std::to_chars(end, buf + sizeof(buf), addr.port).ptr;
  return std::string(buf, end);
}

}  // namespace why502

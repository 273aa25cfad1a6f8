// Socket addresses as nginx prints them: 127.0.0.1:9000, [::1]:9000, unix:/p.
#pragma once

#include <cstring>
#include <string>
#include <string_view>

#include "why502_wire.h"

namespace why502 {

// "ip" alone (IPv6 without brackets), as nginx's $remote_addr.
std::string format_ip(const w5_addr& addr);

// "ip:port" / "[ip6]:port"; "unix:" for a unix socket; "" when unknown.
std::string format_endpoint(const w5_addr& addr);

// A fixed-size wire string up to its NUL (or all of it), read in place: valid
// as long as the event it is part of.
template <size_t N>
std::string_view wire_view(const char (&s)[N]) {
  const void* end = std::memchr(s, '\0', N);
  return std::string_view(s, end ? static_cast<const char*>(end) - s : N);
}

// A NUL-terminated copy of a fixed-size wire string.
template <size_t N>
std::string wire_string(const char (&s)[N]) {
  return std::string(wire_view(s));
}

}  // namespace why502

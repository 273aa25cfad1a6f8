#include "output/kernel_tables.hpp"

#include "events/address.hpp"

namespace why502 {

std::string latency_upstream(const w5_latency_key& key) {
  if (key.upstream.family == 1 /* AF_UNIX */) return "unix:" + wire_string(key.unix_path);
  return format_endpoint(key.upstream);
}

}  // namespace why502

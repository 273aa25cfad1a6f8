#include "events/anonymise.hpp"

#include <cstring>
#include <type_traits>

namespace why502 {

void anonymise_address(w5_addr& addr) {
  if (addr.family == 2 /* AF_INET */) {
    addr.addr[3] = 0;
  } else if (addr.family == 10 /* AF_INET6 */) {
    std::memset(addr.addr + 6, 0, sizeof(addr.addr) - 6);
  }
}

void anonymise_clients(Event& event) {
  std::visit(
      [](auto& e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, w5_ngx_log> || std::is_same_v<T, w5_ngx_error_page>) {
          anonymise_address(e.client);
        } else if constexpr (std::is_same_v<T, w5_client_response>) {
          anonymise_address(e.remote);  // the client's end of a client socket
        }
      },
      event);
}

std::span<const uint8_t> event_bytes(const Event& event) {
  return std::visit(
      [](const auto& e) { return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&e), sizeof(e)); },
      event);
}

}  // namespace why502

// The attribution engine, fed the events the BPF programs emit for real nginx
// failures, in the order they emit them: nginx's log lines for the request
// (ngx_log_error_core), then its error page (ngx_http_special_response_handler),
// then the status line on a plain HTTP/1.x client socket. Kernel evidence
// about upstream sockets arrives before nginx notices the failure.
//
// What the engine's tests share: the identities of the requests, sockets and
// peers the scenarios use, and the engine setups several suites run with.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

#include <gtest/gtest.h>

#include "attribution/engine.hpp"
#include "event_builders.hpp"

namespace why502::test {

inline constexpr uint64_t kReq1 = 0x55d0c0a01000;
inline constexpr uint64_t kReq2 = 0x55d0c0a02400;
inline constexpr uint64_t kClientSk1 = 0xffff888104a01000;
inline constexpr uint64_t kClientSk2 = 0xffff888104a02000;
inline constexpr uint64_t kUpSk1 = 0xffff888105b01000;
inline constexpr uint64_t kUpSk2 = 0xffff888105b02000;

inline const w5_addr kClientA = ipv4("192.0.2.10", 51000);
inline const w5_addr kClientB = ipv4("192.0.2.20", 52000);
inline const w5_addr kBackend = ipv4("127.0.0.1", 9000);
inline const w5_addr kBackend2 = ipv4("127.0.0.1", 9001);
inline const std::string kBackendName = "127.0.0.1:9000";
inline const std::string kBackend2Name = "127.0.0.1:9001";

// No client echo to wait for (as with --lean): each record comes out at once, in order.
// The client's side of nginx: plain HTTP/1.x, whose status lines the engine
// reads, or TLS (or HTTP/2), whose bytes say nothing. Twin tests run on both.
struct ClientSocket {
  const char* name;
  bool readable;
  // What the engine sees of a status line nginx writes to this client.
  uint32_t status_line(uint32_t status) const { return readable ? status : 0; }
};
inline void PrintTo(const ClientSocket& c, std::ostream* os) { *os << c.name; }
inline const ClientSocket kPlainClient{"plain", true};
inline const ClientSocket kTlsClient{"tls", false};
inline std::string client_socket_name(const ::testing::TestParamInfo<ClientSocket>& info) { return info.param.name; }

inline EngineOptions lean() { return EngineOptions{.client_echo_expected = false}; }

}  // namespace why502::test

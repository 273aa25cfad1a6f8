#include "events/anonymise.hpp"

#include <cstring>

namespace why502 {
namespace {

// Of a TCP connection's two ends the one that listened is a server's (nginx's
// listener, an upstream) and stays; the one that connected is a client's, or
// nginx's own source address towards an upstream (a client's again under
// proxy_bind $remote_addr transparent), and is cut. Cut the same way wherever
// it appears, nginx's source address still joins an upstream connection to
// the backend that held its other end (ProcessDeaths).
void cut_connecting_end(w5_addr& local, w5_addr& remote, uint32_t server_side) {
  anonymise_address(server_side == W5_SERVER_SIDE ? remote : local);
}

// One overload per event struct, and no catch-all: an event type added to
// Event without saying what it carries does not compile.
void anonymise(w5_ngx_log& e) {
  anonymise_address(e.client);
  anonymise_address(e.upstream_local);  // upstream stays
}
// Made whole (LogRepeats) before anything anonymises; cut the same way all the same.
void anonymise(w5_ngx_log_repeat& e) {
  anonymise_address(e.client);
  anonymise_address(e.upstream_local);
}
void anonymise(w5_ngx_error_page& e) { anonymise_address(e.client); }  // peers are upstream names
void anonymise(w5_client_response& e) { anonymise_address(e.remote); }  // a client socket: local is nginx's listener
void anonymise(w5_upstream_status& e) { anonymise_address(e.local); }   // an upstream socket: remote is the upstream
// An upstream socket, a client's socket of nginx (a client's reset while nginx
// is on the CPU), or the client's own end of it: the kernel says which end it is.
void anonymise(w5_sock_evidence& e) { cut_connecting_end(e.local, e.remote, e.server_side); }
// Every stream socket of any signalled process: an old nginx worker's client
// connections on reload, a backend's connections from nginx or its own clients.
// All slots, not just n_sockets: the rest are zero anyway.
void anonymise(w5_signal& e) {
  constexpr uint16_t kListen = 10;  // a listener is server-side even with a backlog of 0
  for (w5_held_socket& s : e.sockets)
    cut_connecting_end(s.local, s.remote, s.state == kListen ? W5_SERVER_SIDE : s.server_side);
}
void anonymise(w5_listener_state&) {}  // a listener's own address (an upstream's, found by why502)
void anonymise(w5_process_fork&) {}    // no address
void anonymise(w5_process_death&) {}
void anonymise(w5_process_exec&) {}
void anonymise(w5_oom_victim&) {}
void anonymise(w5_request_ended&) {}  // pointers and counters of nginx's memory
void anonymise(w5_port_usage&) {}  // an upstream's address
void anonymise(w5_socket_file&) {}  // a socket file's path and owners, no address
void anonymise(w5_upstream_reuse&) {}  // counters and times, no address
void anonymise(w5_ngx_location&) {}  // a name from nginx's configuration
void anonymise(w5_ngx_error_page_target&) {}  // statuses from nginx's configuration
// nginx's source address toward the backend is cut as in w5_ngx_log; the
// backend's own connection is cut at its connecting end. Commands and cgroup
// paths name services, not clients, and stay.
void anonymise(w5_backend_state& e) {
  anonymise_address(e.upstream_local);
  cut_connecting_end(e.wait_local, e.wait_remote, e.wait_server_side);
}
void anonymise(w5_process_cgroup&) {}  // a path of nginx's own cgroup
void anonymise(w5_request_line&) {}  // request data, only with --capture-request; no address field

}  // namespace

void anonymise_address(w5_addr& addr) {
  if (addr.family == 2 /* AF_INET */) {
    addr.addr[3] = 0;
  } else if (addr.family == 10 /* AF_INET6 */) {
    std::memset(addr.addr + 6, 0, sizeof(addr.addr) - 6);
  }
}

void anonymise_clients(Event& event) {
  std::visit([](auto& e) { anonymise(e); }, event);
}

std::span<const uint8_t> event_bytes(const Event& event) {
  return std::visit(
      [](const auto& e) { return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&e), sizeof(e)); },
      event);
}

}  // namespace why502

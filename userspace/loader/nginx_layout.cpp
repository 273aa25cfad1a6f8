#include "loader/nginx_layout.hpp"

#include <fstream>
#include <iterator>

#include "loader/elf_symbols.hpp"

namespace why502 {

w5_nginx_layout default_nginx_layout() {
  w5_nginx_layout l{};
  l.r_connection = 0x8;
  l.r_upstream = 0x48;
  l.r_upstream_states = 0x50;
  l.c_fd = 0x18;
  l.c_log = 0x50;
  l.c_sockaddr = 0x68;
  l.log_connection = 0x10;
  l.log_data = 0x28;
  l.log_action = 0x40;
  l.ctx_request = 0x8;
  l.r_request_line = 0x3e0;  // Debian 1.22.1's configure flags; checked by userspace before use
  l.ctx_current_request = 0x10;
  l.u_peer = 0x10;
  l.pc_connection = 0x0;
  l.pc_name = 0x18;
  l.state_size = 72;
  l.state_status = 0x0;
  l.state_response_time = 0x8;
  l.state_connect_time = 0x10;
  l.state_header_time = 0x18;
  l.state_bytes_received = 0x30;
  l.state_bytes_sent = 0x38;
  l.state_peer = 0x40;
  return l;
}

std::string unusable_nginx_symbols(const std::string& binary_path) {
  const ElfFunctions functions = read_elf_functions(binary_path);
  if (!functions.ok) return functions.error;
  for (const char* name : kNginxUprobeFunctions)
    if (!functions.names.count(name)) return binary_path + " has no symbol " + name + " (stripped?)";
  return "";
}

NginxLayout nginx_layout_for(const std::string& binary_path) {
  NginxLayout layout{default_nginx_layout(), "nginx x86-64, http cache built in"};
  // nginx embeds its configure arguments (for "nginx -V") in the binary.
  std::ifstream in(binary_path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.find("--without-http-cache") != std::string::npos) {
    layout.offsets.r_upstream = 0x40;
    layout.offsets.r_upstream_states = 0x48;
    layout.offsets.r_request_line = 0x3d8;
    layout.description = "nginx x86-64, built --without-http-cache";
  }
  return layout;
}

}  // namespace why502

// The /proc files why502 reads: the first byte picks the parser, the rest is
// the file's text. /proc/PID/stat (nginx's parent), /proc/PID/limits (a
// backend's descriptor limit), /proc/net/netstat (ListenOverflows) and
// /proc/self/status (our capabilities), /proc/PID/task/TID/syscall (what a
// backend's thread is blocked in).
#include <cstdint>
#include <sstream>
#include <string>

#include "host/backend_state.hpp"
#include "host/listener_probe.hpp"
#include "host/nginx_discovery.hpp"
#include "host/privileges.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  std::istringstream in(text);
  switch (data[0] % 5) {
    case 0:
      why502::parent_pid_in_stat(text);
      break;
    case 1:
      why502::fd_soft_limit_in_limits(in);
      break;
    case 2:
      why502::listen_overflows_in_netstat(in);
      break;
    case 3:
      why502::effective_capabilities_in_status(in);
      break;
    case 4:
      why502::syscall_state_in(text);
      break;
  }
  return 0;
}

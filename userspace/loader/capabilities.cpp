#include "loader/capabilities.hpp"

#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "host/privileges.hpp"

namespace why502 {
namespace {

constexpr uint64_t bit(int cap) { return uint64_t{1} << cap; }

}  // namespace

Result<void> keep_only_needed_capabilities(bool keep_sys_admin) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (syscall(SYS_capget, &header, data) != 0) return Error{std::string("capget: ") + std::strerror(errno)};
  const uint64_t permitted = uint64_t{data[0].permitted} | uint64_t{data[1].permitted} << 32;

  const uint64_t keep =
      (bit(kCapBpf) | bit(kCapPerfmon) | (keep_sys_admin ? bit(kCapSysAdmin) : 0) | bit(kCapSysPtrace) |
       bit(kCapDacReadSearch)) &
      permitted;

  for (int i = 0; i < 2; ++i) {
    const auto half = static_cast<uint32_t>(keep >> (32 * i));
    data[i].permitted = half;
    data[i].effective = half;
    data[i].inheritable = 0;
  }
  if (syscall(SYS_capset, &header, data) != 0) return Error{std::string("capset: ") + std::strerror(errno)};
  return {};
}

}  // namespace why502

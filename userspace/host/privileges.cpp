#include "host/privileges.hpp"

#include <unistd.h>

#include <charconv>
#include <cstdint>
#include <fstream>
#include <string>

namespace why502 {

uint64_t effective_capabilities() {
  std::ifstream status("/proc/self/status");
  return effective_capabilities_in_status(status);
}

uint64_t effective_capabilities_in_status(std::istream& status) {
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("CapEff:", 0) != 0) continue;
    // "CapEff:\t000001ffffffffff"; anything else counts as no capabilities.
    const size_t digits = line.find_first_not_of(" \t", 7);
    if (digits == std::string::npos) return 0;
    uint64_t caps = 0;
    const auto [end, error] = std::from_chars(line.data() + digits, line.data() + line.size(), caps, 16);
    return error == std::errc() && end == line.data() + line.size() ? caps : 0;
  }
  return 0;
}

Result<void> check_privileges() {
  const uint64_t caps = effective_capabilities();
  if (has_capability(caps, kCapSysAdmin) || (has_capability(caps, kCapBpf) && has_capability(caps, kCapPerfmon))) return {};
  std::string missing;
  if (!has_capability(caps, kCapBpf)) missing += "CAP_BPF";
  if (!has_capability(caps, kCapPerfmon)) missing += missing.empty() ? "CAP_PERFMON" : " and CAP_PERFMON";
  return Error{"missing " + missing + ": run why502 as root (sudo) or grant CAP_BPF and CAP_PERFMON"};
}

Result<void> check_btf() {
  if (access("/sys/kernel/btf/vmlinux", R_OK) == 0) return {};
  return Error{
      "this kernel exposes no BTF (/sys/kernel/btf/vmlinux): why502 needs a kernel built with "
      "CONFIG_DEBUG_INFO_BTF=y"};
}

}  // namespace why502

#include "loader/privileges.hpp"

#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <string>

namespace why502 {
namespace {

constexpr int kCapSysAdmin = 21;
constexpr int kCapPerfmon = 38;
constexpr int kCapBpf = 39;

uint64_t effective_capabilities() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("CapEff:", 0) == 0) return std::stoull(line.substr(7), nullptr, 16);
  }
  return 0;
}

bool has(uint64_t caps, int cap) { return (caps >> cap) & 1u; }

}  // namespace

std::string missing_privileges() {
  const uint64_t caps = effective_capabilities();
  if (has(caps, kCapSysAdmin) || (has(caps, kCapBpf) && has(caps, kCapPerfmon))) return "";
  std::string missing;
  if (!has(caps, kCapBpf)) missing += "CAP_BPF";
  if (!has(caps, kCapPerfmon)) missing += missing.empty() ? "CAP_PERFMON" : " and CAP_PERFMON";
  return "missing " + missing + ": run why502 as root (sudo) or grant CAP_BPF and CAP_PERFMON";
}

std::string missing_btf() {
  if (access("/sys/kernel/btf/vmlinux", R_OK) == 0) return "";
  return "this kernel exposes no BTF (/sys/kernel/btf/vmlinux): why502 needs a kernel built with "
         "CONFIG_DEBUG_INFO_BTF=y";
}

}  // namespace why502

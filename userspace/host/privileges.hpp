// What the host must allow before anything is loaded.
#pragma once

#include <cstdint>
#include <istream>
#include <string>

#include "common/result.hpp"

namespace why502 {

// Whether this process may load and attach BPF programs; the error says what
// is missing and what to do.
Result<void> check_privileges();

// Whether the kernel exposes BTF (needed for CO-RE); the error says not.
Result<void> check_btf();

// The CapEff mask of a /proc/PID/status; 0 when absent.
uint64_t effective_capabilities_in_status(std::istream& status);
// This process's CapEff mask.
uint64_t effective_capabilities();

// Capability numbers (linux/capability.h) why502 deals with.
inline constexpr int kCapDacReadSearch = 2;
inline constexpr int kCapSysPtrace = 19;
inline constexpr int kCapSysAdmin = 21;
inline constexpr int kCapPerfmon = 38;
inline constexpr int kCapBpf = 39;
inline constexpr bool has_capability(uint64_t caps, int cap) { return (caps >> cap) & 1u; }

}  // namespace why502

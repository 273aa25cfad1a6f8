// What the host must allow before anything is loaded.
#pragma once

#include <string>

namespace why502 {

// Empty when this process may load and attach BPF programs; else what is
// missing and what to do, in one line.
std::string missing_privileges();

// Empty when the kernel exposes BTF (needed for CO-RE); else the problem.
std::string missing_btf();

}  // namespace why502

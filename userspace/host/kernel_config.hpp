// What the running kernel was built with, from its own config
// (/proc/config.gz, else /boot/config-RELEASE): read once, before the BPF
// object loads, by the parts that need a build constant no BTF carries.
#pragma once

#include <cstdint>
#include <istream>

namespace why502 {

// CONFIG_HZ: the kernel's jiffies per second (TCP keeps some of a socket's
// times in jiffies). 0 when the config is not readable or does not say.
uint32_t kernel_hz();

// The parser behind it: CONFIG_HZ=N of a kernel config, 0 when absent or not
// one of the values Linux offers (100, 250, 300, 1000; 24..48000 accepted).
uint32_t hz_in_config(std::istream& config);

}  // namespace why502

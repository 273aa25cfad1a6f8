// What a thread blocked in poll(), ppoll(), select() or pselect6() waits on:
// the one descriptor it polls, read from its arguments in its process's
// memory. A client library waiting for its server's answer polls that one
// socket (libpq, mysqlnd, a Python socket with a timeout), so a backend
// blocked on its database sits in poll(), not in recv(); an event loop
// polls several descriptors, or its listener.
#pragma once

#include <poll.h>

#include <array>
#include <cstdint>
#include <optional>
#include <span>

namespace why502 {

// The one descriptor a pollfd array names (entries below 0 are skipped, as
// poll() skips them); none when it names none or several.
std::optional<int> only_polled_descriptor(std::span<const pollfd> fds);

// The one descriptor set in select()'s read and write sets taken together
// (each nfds bits, as the kernel's 64-bit words; an empty span: a NULL set);
// none when none or several are.
std::optional<int> only_selected_descriptor(uint64_t nfds, std::span<const uint64_t> read_set,
                                            std::span<const uint64_t> write_set);

// The one descriptor pid's thread blocked in system call nr with the first
// three arguments args polls; none when nr is no poll or select, the thread
// polls several, or its memory cannot be read.
std::optional<int> polled_descriptor(uint32_t pid, int nr, const std::array<uint64_t, 3>& args);

}  // namespace why502

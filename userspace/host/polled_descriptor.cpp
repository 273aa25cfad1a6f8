#include "host/polled_descriptor.hpp"


#include <bit>
#include <vector>

#include "host/blocking_syscalls.hpp"
#include "host/process_memory.hpp"

namespace why502 {
namespace {

// More than this many is an event loop's set, whatever is in it.
constexpr uint64_t kMaxPolled = 64;
constexpr uint64_t kMaxSelectBits = 4096;

bool read_memory(uint32_t pid, uint64_t address, void* out, size_t len) {
  return read_process_memory(pid, address, out, len) == len;
}

// select()'s set at address, nfds bits as 64-bit words; empty for a NULL
// set; nullopt when it cannot be read.
std::optional<std::vector<uint64_t>> read_fd_set(uint32_t pid, uint64_t address, uint64_t nfds) {
  std::vector<uint64_t> words;
  if (address == 0) return words;
  words.resize((nfds + 63) / 64);
  if (!read_memory(pid, address, words.data(), words.size() * sizeof(uint64_t))) return std::nullopt;
  return words;
}

}  // namespace

std::optional<int> only_polled_descriptor(std::span<const pollfd> fds) {
  std::optional<int> only;
  for (const pollfd& p : fds) {
    if (p.fd < 0 || (only && *only == p.fd)) continue;
    if (only) return std::nullopt;
    only = p.fd;
  }
  return only;
}

std::optional<int> only_selected_descriptor(uint64_t nfds, std::span<const uint64_t> read_set,
                                            std::span<const uint64_t> write_set) {
  std::optional<int> only;
  for (uint64_t word = 0; word * 64 < nfds; ++word) {
    uint64_t bits = (word < read_set.size() ? read_set[word] : 0) | (word < write_set.size() ? write_set[word] : 0);
    const uint64_t bits_in_range = nfds - word * 64;  // past nfds the kernel looks at nothing
    if (bits_in_range < 64) bits &= (uint64_t{1} << bits_in_range) - 1;
    if (bits == 0) continue;
    if (only || std::popcount(bits) > 1) return std::nullopt;
    only = static_cast<int>(word * 64 + static_cast<uint64_t>(std::countr_zero(bits)));
  }
  return only;
}

std::optional<int> polled_descriptor(uint32_t pid, int nr, const std::array<uint64_t, 3>& args) {
  if (blocked_on(nr) != BlockedOn::polled) return std::nullopt;
  const std::string_view name = blocking_syscall_name(nr);
  if (name == "poll" || name == "ppoll") {  // (fds, nfds, …)
    const uint64_t n = args[1];
    if (n == 0 || n > kMaxPolled) return std::nullopt;
    std::vector<pollfd> fds(n);
    if (!read_memory(pid, args[0], fds.data(), n * sizeof(pollfd))) return std::nullopt;
    return only_polled_descriptor(fds);
  }
  // select, pselect6: (nfds, readfds, writefds, …)
  const uint64_t nfds = args[0];
  if (nfds == 0 || nfds > kMaxSelectBits) return std::nullopt;
  const auto read_set = read_fd_set(pid, args[1], nfds);
  const auto write_set = read_fd_set(pid, args[2], nfds);
  if (!read_set || !write_set) return std::nullopt;
  return only_selected_descriptor(nfds, *read_set, *write_set);
}

}  // namespace why502

// The system calls a thread blocks in, by x86-64 number: their names, and
// what a thread blocked in each waits for (one place for both, which the
// backend reader ranks threads by and reads their waits with).
#pragma once

#include <string_view>

namespace why502 {

enum class BlockedOn {
  other,       // asleep, a child, a semaphore, or a call not named here
  descriptor,  // the descriptor in its first argument: read, recvfrom, fsync, …
  polled,      // the set in its arguments: poll, ppoll, select, pselect6
  any_work,    // nothing of one request: accept, an event loop's epoll_wait, signals, a futex
};

// Its name; empty for a call not named here (mmap: nothing one blocks in).
std::string_view blocking_syscall_name(int nr);
BlockedOn blocked_on(int nr);
// BlockedOn::descriptor.
bool syscall_waits_on_fd(int nr);

}  // namespace why502

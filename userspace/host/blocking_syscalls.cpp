#include "host/blocking_syscalls.hpp"

#include <array>

namespace why502 {
namespace {

struct BlockingSyscall {
  int nr;
  std::string_view name;
  BlockedOn on;
};
constexpr BlockedOn kFd = BlockedOn::descriptor, kPolled = BlockedOn::polled, kAny = BlockedOn::any_work,
                    kOther = BlockedOn::other;
// x86-64 (arch/x86/entry/syscalls/syscall_64.tbl). A futex is any work:
// idle pool threads wait on one, and one waiting for a lock cannot be told
// from them.
constexpr std::array<BlockingSyscall, 41> kSyscalls{{
    {0, "read", kFd},           {1, "write", kFd},           {7, "poll", kPolled},
    {17, "pread64", kFd},       {18, "pwrite64", kFd},       {19, "readv", kFd},
    {20, "writev", kFd},        {23, "select", kPolled},     {34, "pause", kAny},
    {35, "nanosleep", kOther},  {40, "sendfile", kFd},       {42, "connect", kFd},
    {43, "accept", kAny},       {44, "sendto", kFd},         {45, "recvfrom", kFd},
    {46, "sendmsg", kFd},       {47, "recvmsg", kFd},        {61, "wait4", kOther},
    {65, "semop", kOther},      {72, "fcntl", kFd},          {73, "flock", kFd},
    {74, "fsync", kFd},         {75, "fdatasync", kFd},      {128, "rt_sigtimedwait", kAny},
    {130, "rt_sigsuspend", kAny}, {162, "sync", kOther},     {202, "futex", kAny},
    {208, "io_getevents", kOther}, {220, "semtimedop", kOther}, {230, "clock_nanosleep", kOther},
    {232, "epoll_wait", kAny},  {247, "waitid", kOther},     {257, "openat", kOther},
    {270, "pselect6", kPolled}, {271, "ppoll", kPolled},     {275, "splice", kFd},
    {281, "epoll_pwait", kAny}, {288, "accept4", kAny},      {299, "recvmmsg", kFd},
    {426, "io_uring_enter", kOther}, {441, "epoll_pwait2", kAny},
}};

const BlockingSyscall* find_syscall(int nr) {
  for (const BlockingSyscall& s : kSyscalls)
    if (s.nr == nr) return &s;
  return nullptr;
}

}  // namespace

std::string_view blocking_syscall_name(int nr) {
  const BlockingSyscall* s = find_syscall(nr);
  return s ? s->name : std::string_view();
}

BlockedOn blocked_on(int nr) {
  const BlockingSyscall* s = find_syscall(nr);
  return s ? s->on : BlockedOn::other;
}

bool syscall_waits_on_fd(int nr) { return blocked_on(nr) == BlockedOn::descriptor; }

}  // namespace why502

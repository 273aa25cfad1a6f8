// What the backend was doing when nginx timed out on it: the process at the
// other end of nginx's upstream connection (sock_diag for the exact tuple,
// then /proc/*/fd for its holder), the thread most likely serving the
// request, the system call it is blocked in and on what, and a short sample
// of its CPU time and its cgroup's throttling. Read on that error only, at
// most once a second per worker and upstream, the sample at most
// kSamplesPerSecond times a second; so a storm of timeouts costs bounded
// reads. Also the cgroup of each nginx process, once, when first seen.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <istream>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "loader/listener_probe.hpp"
#include "why502_wire.h"

namespace why502 {

class BackendProber {
 public:
  // The sample's length: past one CFS period (100 ms by default), so a
  // throttled cgroup shows it.
  static constexpr uint64_t kSampleNs = 150'000'000ull;
  static constexpr unsigned kSamplesPerSecond = 2;

  // For a W5_EV_NGX_LOG of a timeout on a TCP upstream; nullopt when it has
  // none or was read for this worker and upstream less than a second ago.
  std::optional<w5_backend_state> probe(const w5_ngx_log& log, uint64_t ts_ns);
  // The cgroup of an nginx process the first time it is asked about.
  std::optional<w5_process_cgroup> first_sight(uint32_t tgid, uint64_t ts_ns);

 private:
  // The CPU and throttling sample, while this second's budget lasts.
  void sample_within_budget(w5_backend_state& e, uint64_t ts_ns);

  std::map<std::tuple<uint32_t, uint16_t, uint16_t, std::string>, uint64_t> last_read_ns_;
  uint64_t sample_second_ = 0;
  unsigned samples_this_second_ = 0;
  std::set<uint32_t> seen_;
  ListenerProber listeners_;
};

// The parsers behind it, apart from the kernel they read.

// One recv() of a unix_diag dump (UDIAG_SHOW_NAME | UDIAG_SHOW_PEER): appends
// the inodes of the sockets named path whose peer is one of peers to found;
// done once the dump is over (done or failed).
void unix_sockets_in_diag_reply(std::span<const uint8_t> reply, std::string_view path,
                                const std::vector<uint64_t>& peers, std::vector<uint64_t>& found, bool& done);

// /proc/PID/task/TID/syscall: "45 0x5 0x7f… …" (blocked in 45, first
// argument 5); "running"; "-1 sp pc" (in the kernel, not in a system call).
struct SyscallState {
  bool running = false;
  int nr = -1;
  uint64_t arg0 = 0;
};
std::optional<SyscallState> syscall_state_in(std::string_view text);
// x86-64 names of the system calls a process blocks in; empty for others.
std::string_view blocking_syscall_name(int nr);
// The system call takes a descriptor as its first argument (read, recvfrom, fsync, …).
bool syscall_waits_on_fd(int nr);

// /proc/PID/task/TID/stat: the state letter and comm ("4121 (gunicorn: w) S 1 …").
struct TaskStat {
  char state = 0;
  std::string comm;
};
std::optional<TaskStat> task_stat_in(std::string_view text);

// /proc/PID/task/TID/schedstat: "RUN_NS WAIT_NS SLICES".
struct SchedStat {
  uint64_t run_ns = 0;
  uint64_t wait_ns = 0;
};
std::optional<SchedStat> schedstat_in(std::istream& in);

// A cgroup's cpu.stat, v1 (throttled_time in ns) or v2 (throttled_usec).
struct CpuThrottling {
  uint64_t periods = 0;
  uint64_t throttled_periods = 0;
  uint64_t throttled_ns = 0;
};
std::optional<CpuThrottling> cpu_stat_in(std::istream& in);

// v2 cpu.max ("max 100000", "10000 100000"): quota -1 when unlimited.
bool cpu_max_in(std::istream& in, int64_t* quota_us, uint64_t* period_us);

}  // namespace why502

// What the backend was doing when nginx timed out on it: the process at the
// other end of nginx's upstream connection (sock_diag for the exact tuple,
// then /proc/*/fd for its holder), the thread most likely serving the
// request, the system call it is blocked in and on what, and its CPU time
// and its cgroup's throttling over nginx's wait. Read on that error only, at
// most once a second per worker and upstream; so a storm of timeouts costs
// bounded reads. Also the cgroup of each nginx process, once, when first seen.
//
// The CPU time over the wait needs a reading taken during it: once a second
// the session hands over up to kBaselinesPerSecond TCP requests waiting for
// a response for over kBaselineAfterNs (from the kernel's request slots),
// and their backend's threads are read then, at most kMaxBaselines kept. A
// timeout without one (a shorter wait, a unix upstream, --lean) gets a
// kSampleNs sample as nginx gives up instead, at most kSamplesPerSecond
// times a second.
//
// Threads: due() and first_sight() run on the event thread; first_look()
// too. note_waiting() and probe() run on the probe worker, one at a time.
// Each keeps to its own members.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <functional>
#include <istream>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "common/age_ordered_map.hpp"
#include "host/listener_probe.hpp"
#include "host/read_pacing.hpp"
#include "loader/probe_session.hpp"
#include "why502_wire.h"

namespace why502 {

// /proc/PID/task/TID/schedstat: "RUN_NS WAIT_NS SLICES".
struct SchedStat {
  uint64_t run_ns = 0;
  uint64_t wait_ns = 0;
};

// A cgroup's cpu.stat, v1 (throttled_time in ns) or v2 (throttled_usec).
struct CpuThrottling {
  uint64_t periods = 0;
  uint64_t throttled_periods = 0;
  uint64_t throttled_ns = 0;
};

// A backend's threads and cgroup as read while nginx waited on it.
struct BackendBaseline {
  uint64_t sent_ns = 0;  // the request's (WaitingUpstreamRequest::sent_ns)
  uint64_t ts_ns = 0;
  uint32_t pid = 0;
  std::vector<std::pair<uint32_t, SchedStat>> threads;  // by tid, ascending
  std::optional<CpuThrottling> cpu;                     // its cgroup's, when readable
};

// Fills e's sample (sample_in_wait set) with what e's thread (e.pid, e.tid)
// and its cgroup used from base to run and cpu read at now_ns; false, and e
// untouched, when base is of another request (sent_ns: the one that timed
// out, 0 unknown; an earlier one on the same keepalive connection has
// another), of another process, lacks that thread, or was read less than a
// sample's length (kSampleNs) before now_ns: the sample says more then.
bool apply_baseline(const BackendBaseline& base, uint64_t sent_ns, uint64_t now_ns,
                    const std::optional<SchedStat>& run, const std::optional<CpuThrottling>& cpu,
                    w5_backend_state& e);

class BackendProber {
 public:
  // The sample's length: past one CFS period (100 ms by default), so a
  // throttled cgroup shows it.
  static constexpr uint64_t kSampleNs = 150'000'000ull;
  static constexpr unsigned kSamplesPerSecond = 2;
  static constexpr uint64_t kBaselineAfterNs = 1'000'000'000ull;
  static constexpr size_t kBaselinesPerSecond = 4;
  static constexpr size_t kMaxBaselines = 64;

  // A W5_EV_NGX_LOG of a timeout is worth a probe: its upstream is TCP or
  // unix, and was not read for this worker and upstream within a second.
  bool due(const w5_ngx_log& log, uint64_t ts_ns);
  // What the backend of that timeout is doing; nullopt when nothing was
  // found. sent_ns: when the request that timed out was sent (the kernel's
  // slot), 0 unknown; a reading during the wait is used only for that request.
  std::optional<w5_backend_state> probe(const w5_ngx_log& log, uint64_t ts_ns, uint64_t sent_ns);
  // A waiting request not handed to note_waiting() before.
  bool first_look(const WaitingUpstreamRequest& request);
  // Reads what the backend of a request nginx still waits on has used so far.
  void note_waiting(const WaitingUpstreamRequest& request, uint64_t now_ns);
  // The cgroup of an nginx process the first time it is asked about.
  std::optional<w5_process_cgroup> first_sight(uint32_t tgid, uint64_t ts_ns);

 private:
  // The CPU and throttling sample, while this second's budget lasts.
  void sample_within_budget(w5_backend_state& e, uint64_t ts_ns);

  OncePerSecond<std::tuple<uint32_t, uint16_t, uint16_t, std::string>> pacing_;
  std::set<std::pair<uint64_t, uint64_t>> looked_at_;  // (socket, sent_ns) handed over
  std::map<std::pair<uint32_t, uint64_t>, BackendBaseline> baselines_;  // by (nginx tgid, upstream socket)
  uint64_t sample_second_ = 0;
  unsigned samples_this_second_ = 0;
  static constexpr size_t kMaxProcessesSeen = 4096;
  AgeOrderedMap<uint32_t, bool> seen_;  // nginx processes whose cgroup was read
  ListenerProber listeners_;
};

// The parsers behind it, apart from the kernel they read.

// One socket of a unix_diag answer (UDIAG_SHOW_NAME | UDIAG_SHOW_PEER). An
// accepted socket carries its listener's name; an abstract name starts with
// '@' here; peer 0: none (closed, or never connected).
struct UnixDiagSocket {
  uint64_t inode = 0;
  std::string name;
  uint64_t peer = 0;
};
// One recv() of a unix_diag answer: each socket in it goes to on_socket;
// true once the answer is over (done or failed).
bool unix_diag_sockets_in_reply(std::span<const uint8_t> reply,
                                const std::function<void(const UnixDiagSocket&)>& on_socket);

// One recv() of a unix_diag dump: appends the inodes of the sockets named
// path whose peer is one of peers to found; done once the dump is over.
void unix_sockets_in_diag_reply(std::span<const uint8_t> reply, std::string_view path,
                                const std::vector<uint64_t>& peers, std::vector<uint64_t>& found, bool& done);

// /proc/PID/task/TID/syscall: "45 0x5 0x7f… …" (blocked in 45, first
// argument 5); "running"; "-1 sp pc" (in the kernel, not in a system call).
// The first three arguments are kept (poll's and select()'s sets need them).
struct SyscallState {
  bool running = false;
  int nr = -1;
  std::array<uint64_t, 3> args{};
};
std::optional<SyscallState> syscall_state_in(std::string_view text);

// /proc/PID/task/TID/stat: the state letter and comm ("4121 (gunicorn: w) S 1 …").
struct TaskStat {
  char state = 0;
  std::string comm;
};
std::optional<TaskStat> task_stat_in(std::string_view text);

// /proc/PID/task/TID/schedstat (SchedStat above).
std::optional<SchedStat> schedstat_in(std::istream& in);

// A cgroup's cpu.stat (CpuThrottling above).
std::optional<CpuThrottling> cpu_stat_in(std::istream& in);

// v2 cpu.max ("max 100000", "10000 100000"): quota -1 when unlimited.
bool cpu_max_in(std::istream& in, int64_t* quota_us, uint64_t* period_us);

}  // namespace why502

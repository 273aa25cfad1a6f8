// Gives up every capability why502 does not need once its probes are attached.
#pragma once

#include "common/result.hpp"

namespace why502 {

// What stays (only those already held): CAP_BPF and CAP_PERFMON, for the BPF
// object and its maps; CAP_SYS_PTRACE, to read /proc/PID/exe and /proc/PID/fd
// of processes of other users (nginx workers, backends) and a few words of an
// nginx worker's memory (the pending-request check); CAP_DAC_READ_SEARCH, to
// read binaries and /proc entries that are not readable by everyone; and
// CAP_SYS_ADMIN only with keep_sys_admin: the uprobe PMU refuses
// perf_event_open without it on the kernels we tested, so whoever attaches
// uprobes to nginx binaries started later needs it (normally the uprobe
// broker does, and this process drops it). The error says why not.
Result<void> keep_only_needed_capabilities(bool keep_sys_admin);

}  // namespace why502

// Gives up every capability why502 does not need once its probes are attached.
#pragma once

#include <string>

namespace why502 {

// What stays (only those already held): CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN,
// to attach uprobes to nginx binaries that start later (the uprobe PMU refuses
// perf_event_open without CAP_SYS_ADMIN on the kernels we tested);
// CAP_SYS_PTRACE, to read /proc/PID/exe and /proc/PID/fd of processes of other
// users (nginx workers, backends); CAP_DAC_READ_SEARCH, to read binaries and
// /proc entries that are not readable by everyone. Returns "" or why not.
std::string keep_only_needed_capabilities();

}  // namespace why502

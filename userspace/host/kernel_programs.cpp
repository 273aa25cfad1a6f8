#include "host/kernel_programs.hpp"

namespace why502 {

std::string_view lost_without(std::string_view program) {
  struct Meaning {
    std::string_view program;
    std::string_view lost;
  };
  static constexpr Meaning kMeanings[] = {
      {"on_sock_send_length",
       "nginx's sends: an upstream's own 5xx, error_page rewrites, retried attempts, latency histograms and "
       "kernel-only attribution will not be seen"},
      {"on_sock_recv_length", "upstream responses: an upstream's own 502/503/504 will not be named"},
      {"on_tcp_receive_reset", "resets received: the kernel's word on refused and reset connections will be missing"},
      {"on_inet_sk_error_report", "socket errors: the kernel's word on failed upstream connections will be missing"},
      {"on_tcp_retransmit_skb", "SYN retransmits: full accept queues and unanswered SYNs will not be told apart"},
      {"on_sched_process_fork", "new nginx workers (after a reload) will not be traced until the next /proc scan"},
      {"on_sched_process_exec", "nginx started later (an upgrade, another path) will wait for the next /proc scan"},
      {"on_sched_process_exit", "process exits: backend deaths will not be named"},
      {"on_signal_generate", "fatal signals: backend kills and crashes will not be named"},
      {"on_oom_mark_victim", "OOM kills will not be named"},
      {"on_inet_sock_set_state", "upstream connect latency histograms will be empty"},
  };
  for (const Meaning& m : kMeanings)
    if (m.program == program) return m.lost;
  return "";
}

}  // namespace why502

// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * why502's kernel side, one object: each domain lives in its own header so the
 * maps they share are defined once (see bpf/include/common.bpf.h).
 */
#include "include/common.bpf.h"
#include "deaths.bpf.h"
#include "http_status.bpf.h"
#include "nginx_uprobes.bpf.h"
#include "processes.bpf.h"
#include "tcp_evidence.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Every wire struct, so that the object's BTF holds each one (some are only
 * cast from ring-buffer bytes, w5_listener_state, w5_request_ended and
 * w5_port_usage, w5_backend_state and w5_process_cgroup are made in userspace): a test
 * checks their sizes and offsets against the C++ side's (wire_layout). */
struct w5_wire_structs {
	struct w5_ngx_log ngx_log;
	struct w5_ngx_error_page ngx_error_page;
	struct w5_client_response client_response;
	struct w5_upstream_status upstream_status;
	struct w5_sock_evidence sock_evidence;
	struct w5_process_fork process_fork;
	struct w5_process_death process_death;
	struct w5_signal signal;
	struct w5_oom_victim oom_victim;
	struct w5_listener_state listener_state;
	struct w5_request_line request_line;
	struct w5_process_exec process_exec;
	struct w5_request_ended request_ended;
	struct w5_port_usage port_usage;
	struct w5_backend_state backend_state;
	struct w5_process_cgroup process_cgroup;
};
struct w5_wire_structs *w5_wire_structs_in_btf __attribute__((unused));

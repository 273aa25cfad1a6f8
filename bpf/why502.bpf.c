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

/* Every event's struct, so that the object's BTF holds each one (some are
 * only cast from ring-buffer bytes; w5_listener_state, w5_request_ended and
 * w5_port_usage are made in userspace): a test checks their sizes and
 * offsets against the C++ side's (wire_layout). */
#define W5_BTF_ANCHOR(type_number, type) struct type type_number##_struct;
struct w5_wire_structs {
	W5_EVENT_TYPES(W5_BTF_ANCHOR)
};
#undef W5_BTF_ANCHOR
struct w5_wire_structs *w5_wire_structs_in_btf __attribute__((unused));

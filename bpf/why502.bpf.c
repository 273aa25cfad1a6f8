// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * why502's kernel side: one object, one translation unit. Each part in parts/
 * holds the maps and programs of one concern and is included here once, after
 * the parts whose maps it uses; the headers in include/ define neither.
 */
#define W5_COMPILING_WHY502_OBJECT
#include "parts/shared_maps.bpf.c"
#include "parts/deaths.bpf.c"
#include "parts/requests_in_flight.bpf.c"
#include "parts/upstream_latency.bpf.c"
#include "parts/nginx_uprobes.bpf.c"
#include "parts/http_status.bpf.c"
#include "parts/processes.bpf.c"
#include "parts/tcp_evidence.bpf.c"

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

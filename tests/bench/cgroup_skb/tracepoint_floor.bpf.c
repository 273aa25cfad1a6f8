// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The floor of the full hook set's two per-packet hooks: programs on
 * sock:sock_send_length and sock:sock_recv_length that return at once, so
 * that what dispatch and bpf_stats cost per run there can be set beside the
 * prototype's stage 1 (`loader --attach-all tracepoint_floor.bpf.o`).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

SEC("raw_tracepoint/sock_send_length")
int floor_send(struct bpf_raw_tracepoint_args *ctx)
{
	return 0;
}

SEC("raw_tracepoint/sock_recv_length")
int floor_recv(struct bpf_raw_tracepoint_args *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";

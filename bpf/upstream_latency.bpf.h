/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Per-upstream latency histograms for healthy and failing requests alike,
 * counted in the kernel so no event is sent per request:
 * - connect: from nginx's TCP connect() (the socket entering SYN_SENT) to the
 *   request sent on it — what nginx's $upstream_connect_time measures;
 * - header: from the request sent to the first response bytes read.
 * The per-CPU map needs no atomics; userspace sums the CPUs when it reads.
 * inet_sock_set_state fires on every TCP state change of the host, so its
 * program is a raw tracepoint that returns on anything but SYN_SENT first.
 */
#ifndef WHY502_UPSTREAM_LATENCY_BPF_H
#define WHY502_UPSTREAM_LATENCY_BPF_H

#include "common.bpf.h"

/* nginx sockets in SYN_SENT → when connect() started. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, W5_MAX_AWAITING);
	__type(key, __u64);
	__type(value, __u64);
} connecting SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, W5_MAX_LATENCY_KEYS);
	__type(key, struct w5_latency_key);
	__type(value, struct w5_latency_histogram);
} upstream_latency SEC(".maps");

/* Too big for the BPF stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct w5_latency_key);
} latency_key_scratch SEC(".maps");

static const __u64 latency_bounds_us[W5_LATENCY_BUCKETS - 1] = W5_LATENCY_BOUNDS_US;

static __always_inline __u32 latency_bucket(__u64 ns)
{
	__u64 us = ns / 1000;
	__u32 i = 0;
	for (; i < W5_LATENCY_BUCKETS - 1; i++) {
		if (us <= latency_bounds_us[i])
			break;
	}
	return i;
}

static __always_inline void observe_latency(const struct sock *sk, __u32 kind, __u64 ns)
{
	__u32 zero = 0;
	struct w5_latency_key *key = bpf_map_lookup_elem(&latency_key_scratch, &zero);
	if (!key)
		return;
	struct w5_addr local = {};
	__builtin_memset(key, 0, sizeof(*key));
	read_sock_addrs(sk, &local, &key->upstream);
	key->kind = kind;
	if (key->upstream.family == AF_UNIX)
		read_unix_peer_path(sk, key->unix_path, sizeof(key->unix_path));

	struct w5_latency_histogram *h = bpf_map_lookup_elem(&upstream_latency, key);
	if (!h) {
		struct w5_latency_histogram empty = {};
		if (bpf_map_update_elem(&upstream_latency, key, &empty, BPF_NOEXIST) &&
		    bpf_map_lookup_elem(&upstream_latency, key) == NULL) {
			count_lost(W5_LATENCY_DROPPED);
			return;
		}
		h = bpf_map_lookup_elem(&upstream_latency, key);
		if (!h)
			return;
	}
	__u32 bucket = latency_bucket(ns);
	if (bucket < W5_LATENCY_BUCKETS)
		h->buckets[bucket] += 1;
	h->sum_ns += ns;
}

/* nginx sent a request on sk at now_ns: a fresh TCP connection's connect time. */
static __always_inline void note_request_sent(const struct sock *sk, __u64 now_ns)
{
	__u64 key = (__u64)sk;
	__u64 *started = bpf_map_lookup_elem(&connecting, &key);
	if (!started)
		return;
	__u64 began = *started;
	bpf_map_delete_elem(&connecting, &key);
	if (now_ns > began)
		observe_latency(sk, W5_LATENCY_CONNECT, now_ns - began);
}

SEC("raw_tracepoint/inet_sock_set_state")
int on_inet_sock_set_state(struct bpf_raw_tracepoint_args *ctx)
{
	/* TP_PROTO(const struct sock *sk, const int oldstate, const int newstate) */
	if ((int)ctx->args[2] != TCP_SYN_SENT || !is_nginx_tgid(current_tgid()))
		return 0;
	__u64 key = ctx->args[0];
	__u64 now = bpf_ktime_get_ns();
	bpf_map_update_elem(&connecting, &key, &now, BPF_ANY);
	return 0;
}

#endif /* WHY502_UPSTREAM_LATENCY_BPF_H */

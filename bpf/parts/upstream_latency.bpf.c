// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Per-upstream latency histograms for healthy and failing requests alike,
 * counted in the kernel so no event is sent per request:
 * - header: from the request sent to the first response bytes read;
 * - connect (opt-in, serve --connect-latency): from nginx's TCP connect() (the
 *   socket entering SYN_SENT) to the request sent on it — what nginx's
 *   $upstream_connect_time measures. Off by default: inet_sock_set_state
 *   fires about ten times per new connection for every process of the host.
 * An upstream is looked up once per connection (its id is cached in the
 * request's slot); the histograms are a per-CPU array, so no atomics.
 */
#include "part_of_why502.bpf.h"

const volatile bool measure_connect = false;

/* nginx sockets in SYN_SENT → when connect() started (with measure_connect). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, W5_MAX_AWAITING);
	__type(key, __u64);
	__type(value, __u64);
} connecting SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, W5_MAX_LATENCY_KEYS);
	__type(key, struct w5_latency_key);
	__type(value, __u32);
} latency_ids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, W5_MAX_LATENCY_KEYS * 2);
	__type(key, __u32);
	__type(value, struct w5_latency_histogram);
} latency_histograms SEC(".maps");

/* Too big for the BPF stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct w5_latency_key);
} latency_key_scratch SEC(".maps");

__u32 next_latency_id = 0;

static const __u64 latency_bounds_us[W5_LATENCY_BUCKETS - 1] = W5_LATENCY_BOUNDS_US;

/* The id (+ 1) of the upstream at sk's other end; 0 when there is no room. */
static __noinline __u32 latency_id_of(const struct sock *sk)
{
	__u32 zero = 0;
	struct w5_latency_key *key = bpf_map_lookup_elem(&latency_key_scratch, &zero);
	if (!key)
		return 0;
	struct w5_addr local = {};
	__builtin_memset(key, 0, sizeof(*key));
	read_sock_addrs(sk, &local, &key->upstream);
	if (key->upstream.family == AF_UNIX)
		read_unix_peer_path(sk, key->unix_path, sizeof(key->unix_path));
	__u32 *known = bpf_map_lookup_elem(&latency_ids, key);
	if (known)
		return *known + 1;
	__u32 id = __sync_fetch_and_add(&next_latency_id, 1);
	if (id >= W5_MAX_LATENCY_KEYS) {
		count_lost(W5_LATENCY_DROPPED);
		return 0;
	}
	/* Not an event: a full map drops latency samples, counted as such. */
	if (store_or_count(&latency_ids, key, &id, BPF_NOEXIST, W5_LATENCY_DROPPED)) {
		known = bpf_map_lookup_elem(&latency_ids, key); /* another CPU was first */
		return known ? *known + 1 : 0;
	}
	return id + 1;
}

static __always_inline void observe_latency(struct w5_in_flight *slot, const struct sock *sk, __u32 kind,
					    __u64 ns)
{
	if (!slot->latency_id)
		slot->latency_id = latency_id_of(sk);
	if (!slot->latency_id)
		return;
	__u32 index = (slot->latency_id - 1) * 2 + kind;
	struct w5_latency_histogram *h = bpf_map_lookup_elem(&latency_histograms, &index);
	if (!h)
		return;
	__u64 us = ns / 1000;
	__u32 bucket = 0;
	for (; bucket < W5_LATENCY_BUCKETS - 1; bucket++) {
		if (us <= latency_bounds_us[bucket])
			break;
	}
	if (bucket < W5_LATENCY_BUCKETS)
		h->buckets[bucket] += 1;
	h->sum_ns += ns;
}

/* nginx sent a request on sk at now_ns: a fresh TCP connection's connect time. */
static __always_inline void observe_connect(struct w5_in_flight *slot, const struct sock *sk, __u64 now_ns)
{
	if (!measure_connect)
		return;
	__u64 key = (__u64)sk;
	__u64 *started = bpf_map_lookup_elem(&connecting, &key);
	if (!started)
		return;
	__u64 began = *started;
	bpf_map_delete_elem(&connecting, &key);
	if (now_ns > began)
		observe_latency(slot, sk, W5_LATENCY_CONNECT, now_ns - began);
}

SEC("raw_tracepoint/inet_sock_set_state")
int on_inet_sock_set_state(struct bpf_raw_tracepoint_args *ctx)
{
	/* TP_PROTO(const struct sock *sk, const int oldstate, const int newstate) */
	if ((int)ctx->args[2] != TCP_SYN_SENT || !is_nginx_tgid(current_tgid()))
		return 0;
	__u64 key = ctx->args[0];
	__u64 now = bpf_ktime_get_ns();
	store_or_count(&connecting, &key, &now, BPF_ANY, W5_LATENCY_DROPPED);
	return 0;
}

// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Upstream requests in flight: a request nginx sends arms its socket's slot;
 * the first response read on that socket disarms it. This runs for every
 * proxied request, so it is a plain array indexed by a hash of the socket
 * pointer — inlined by the verifier, no lock, no allocation — instead of a
 * hash map. More sockets in flight on one set of slots than it has slots: the
 * oldest request is dropped and counted (W5_LOST_SLOT_TAKEN). A slot stays
 * bound to its socket between requests, so a keepalive connection keeps its
 * cached histogram id.
 */
#include "part_of_why502.bpf.h"

/* A request older than this is abandoned (timed out, connection failed). */
#define IN_FLIGHT_STALE_NS (600ULL * 1000000000ULL)

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	/* Userspace maps it to find requests waiting long (the backend's CPU
	 * over nginx's wait), without a syscall per slot. */
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, W5_AWAITING_SLOTS / W5_IN_FLIGHT_WAYS);
	__type(key, __u32);
	__type(value, struct w5_in_flight_set);
} in_flight_slots SEC(".maps");

static __always_inline struct w5_in_flight_set *set_of(const struct sock *sk)
{
	__u32 index = W5_IN_FLIGHT_SET_OF(sk, W5_AWAITING_SLOTS / W5_IN_FLIGHT_WAYS);
	return bpf_map_lookup_elem(&in_flight_slots, &index);
}

/* The slot of its set bound to sk, if any. */
static __always_inline struct w5_in_flight *bound_slot(struct w5_in_flight_set *set, const struct sock *sk)
{
#pragma unroll
	for (int i = 0; i < W5_IN_FLIGHT_WAYS; i++)
		if (set->way[i].sk == (__u64)sk)
			return &set->way[i];
	return NULL;
}

/* The request in flight on sk, if any. */
static __always_inline struct w5_in_flight *in_flight_of(const struct sock *sk)
{
	struct w5_in_flight_set *set = set_of(sk);
	if (!set)
		return NULL;
	struct w5_in_flight *slot = bound_slot(set, sk);
	return slot && slot->sent_ns ? slot : NULL;
}

static __always_inline bool in_flight_now(const struct w5_in_flight *slot, __u64 now)
{
	return slot->sk && slot->sent_ns && now - slot->sent_ns < IN_FLIGHT_STALE_NS;
}

/* The slot of its set a new socket takes: a free or idle one, else the one
 * whose request was sent longest ago. */
static __always_inline struct w5_in_flight *slot_to_take(struct w5_in_flight_set *set, __u64 now)
{
	struct w5_in_flight *oldest = &set->way[0];
#pragma unroll
	for (int i = 0; i < W5_IN_FLIGHT_WAYS; i++) {
		if (!in_flight_now(&set->way[i], now))
			return &set->way[i];
		if (set->way[i].sent_ns < oldest->sent_ns)
			oldest = &set->way[i];
	}
	return oldest;
}

/* Tells a struct sock reused for another connection apart, in one read (each
 * probe read costs tens of ns on this path): the port pair and the family
 * that follow it in sock_common; a unix socket adds its peer. */
static __always_inline __u64 socket_identity(const struct sock *sk)
{
	__u64 ports_family = 0;
	bpf_probe_read_kernel(&ports_family, sizeof(ports_family),
			      __builtin_preserve_access_index(&sk->__sk_common.skc_portpair));
	if ((__u16)(ports_family >> 32) == AF_UNIX)
		return (__u64)BPF_CORE_READ((struct unix_sock *)sk, peer);
	return ports_family & 0xffffffffffffULL; /* not the state after it */
}

/* nginx sent a request on sk: arm its slot. Returns the slot. */
static __always_inline struct w5_in_flight *arm_in_flight(const struct sock *sk, __u32 proto, __u32 tgid,
						       __u64 now)
{
	struct w5_in_flight_set *set = set_of(sk);
	if (!set)
		return NULL;
	__u64 identity = socket_identity(sk);
	struct w5_in_flight *slot = bound_slot(set, sk);
	if (!slot) {
		/* Every slot of the set holds another socket's request in flight:
		 * the oldest is lost. */
		slot = slot_to_take(set, now);
		if (in_flight_now(slot, now))
			count_lost(W5_LOST_SLOT_TAKEN);
		slot->sk = (__u64)sk;
		slot->identity = identity;
		slot->latency_id = 0;
	} else if (slot->identity != identity) {
		/* The same struct sock with a new identity is a closed connection's
		 * memory reused: whatever it had armed was abandoned (a failed
		 * request), not lost; its upstream may differ. */
		slot->identity = identity;
		slot->latency_id = 0;
	}
	slot->proto = proto;
	slot->tgid = tgid;
	slot->sent_ns = now;
	slot->stderr_left = 0;
	return slot;
}

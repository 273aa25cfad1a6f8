/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Upstream requests in flight: a request nginx sends arms its socket's slot;
 * the first response read on that socket disarms it. This runs for every
 * proxied request, so it is a plain array indexed by a hash of the socket
 * pointer — inlined by the verifier, no lock, no allocation — instead of a
 * hash map. Two sockets in flight on one slot: the older one is dropped and
 * counted (W5_LOST_SLOT_TAKEN). A slot stays bound to its socket between
 * requests, so a keepalive connection keeps its cached histogram id.
 */
#ifndef WHY502_REQUESTS_IN_FLIGHT_BPF_H
#define WHY502_REQUESTS_IN_FLIGHT_BPF_H

#include "common.bpf.h"

/* A request older than this is abandoned (timed out, connection failed). */
#define IN_FLIGHT_STALE_NS (600ULL * 1000000000ULL)

struct in_flight {
	__u64 sk;         /* the upstream socket bound to this slot; 0: none */
	__u64 identity;   /* its two ends, to tell a reused struct sock apart */
	__u64 sent_ns;    /* when the request was sent; 0: nothing in flight */
	__u32 proto;      /* enum w5_upstream_proto */
	__u32 tgid;       /* the nginx process that sent it */
	__u32 latency_id; /* this upstream's histograms + 1; 0: not looked up yet */
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, W5_AWAITING_SLOTS);
	__type(key, __u32);
	__type(value, struct in_flight);
} in_flight_slots SEC(".maps");

static __always_inline struct in_flight *slot_of(const struct sock *sk)
{
	/* Fibonacci hashing: struct socks are slab objects, so the low bits of
	 * their addresses are all alike. */
	__u32 index = (__u32)(((__u64)sk * 0x9E3779B97F4A7C15ULL) >> 48) & (W5_AWAITING_SLOTS - 1);
	return bpf_map_lookup_elem(&in_flight_slots, &index);
}

/* The request in flight on sk, if any. */
static __always_inline struct in_flight *in_flight_of(const struct sock *sk)
{
	struct in_flight *slot = slot_of(sk);
	if (!slot || slot->sk != (__u64)sk || !slot->sent_ns)
		return NULL;
	return slot;
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
static __always_inline struct in_flight *arm_in_flight(const struct sock *sk, __u32 proto, __u32 tgid,
						       __u64 now)
{
	struct in_flight *slot = slot_of(sk);
	if (!slot)
		return NULL;
	__u64 identity = socket_identity(sk);
	if (slot->sk != (__u64)sk || slot->identity != identity) {
		/* Another socket's request still in flight is lost. The same struct
		 * sock with a new identity is a closed connection's memory reused:
		 * whatever it had armed was abandoned (a failed request), not lost. */
		if (slot->sk != (__u64)sk && slot->sk && slot->sent_ns &&
		    now - slot->sent_ns < IN_FLIGHT_STALE_NS)
			count_lost(W5_LOST_SLOT_TAKEN);
		slot->sk = (__u64)sk;
		slot->identity = identity;
		slot->latency_id = 0;
	}
	slot->proto = proto;
	slot->tgid = tgid;
	slot->sent_ns = now;
	return slot;
}

#endif /* WHY502_REQUESTS_IN_FLIGHT_BPF_H */

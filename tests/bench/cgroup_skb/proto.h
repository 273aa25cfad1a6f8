/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The prototype's counters (the per-CPU array `counters`): shared by
 * proto.bpf.c and the loader, which prints them by these names. */
#ifndef WHY502_CGROUP_SKB_PROTO_H
#define WHY502_CGROUP_SKB_PROTO_H

#define P_COUNTERS(X)                                                                             \
	X(P_UPSTREAM_5XX, "upstream_5xx")             /* 5xx status lines read from upstreams */  \
	X(P_CLIENT_5XX, "client_5xx")                 /* 5xx status lines nginx sent to clients */ \
	X(P_CLIENT_AFTER_5XX, "client_after_5xx")     /* non-HTTP/1 client sends after a 5xx */   \
	X(P_SLOT_TAKEN, "slot_taken")                 /* a request in flight lost its slot */     \
	X(P_LATENCY_DROPPED, "latency_dropped")       /* no room for another upstream */          \
	/* with count_all only: */                                                                \
	X(P_EGRESS_PAYLOAD, "egress_payload")         /* nginx's segments with payload */         \
	X(P_INGRESS_PAYLOAD, "ingress_payload")       /* segments with payload to nginx */        \
	X(P_PAYLOAD_LINEAR, "payload_linear")         /* ... with it in the linear part */       \
	X(P_ARMED, "armed")                           /* requests sent upstream */                \
	X(P_DISARMED, "disarmed")                     /* first answers read */                    \
	X(P_UPSTREAM_STATUS, "upstream_status")       /* upstream status lines read (any) */      \
	X(P_CLIENT_STATUS, "client_status")           /* status lines nginx sent (any) */

#define P_ENUM(name, text) name,
enum p_counter { P_COUNTERS(P_ENUM) P_COUNTER_MAX };
#undef P_ENUM

#endif

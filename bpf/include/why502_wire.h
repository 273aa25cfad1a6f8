/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The one wire format between the BPF programs and userspace.
 *
 * Included by bpf/why502.bpf.c (with vmlinux.h types) and by the C++ decoder.
 * Every event starts with struct w5_header; type numbers are explicit and never
 * reused. Userspace checks sizes before it trusts a record (decode_event in
 * userspace/events/event.cpp).
 */
#ifndef WHY502_WIRE_H
#define WHY502_WIRE_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define W5_WIRE_VERSION 6

#define W5_NAME_LEN 64   /* peer names as nginx writes them ("127.0.0.1:9000", "unix:/p") */
#define W5_FMT_LEN 64    /* the head of an nginx error_log format string */
#define W5_LOG_ARGS 6       /* variadic argument words of ngx_log_error_core copied */
#define W5_ARG_TEXT_LEN 64  /* bytes copied of the ngx_str_t an argument word points to */
/* ... and of the C string (%s, %*s): TLS libraries' reasons and an
 * application's stderr come whole in one; a power of two, for BPF's mask. */
#define W5_ARG_CSTR_LEN 128
#define W5_ACTION_LEN 48 /* nginx's log->action ("connecting to upstream") */
#define W5_MAX_STATES 4  /* upstream attempts copied per error response */
#define W5_COMM_LEN 16

enum w5_event_type {
	/* nginx logged an error for a request (uprobe on ngx_log_error_core). */
	W5_EV_NGX_LOG = 1,
	/* nginx generated an error response itself
	 * (uprobe on ngx_http_special_response_handler). */
	W5_EV_NGX_ERROR_PAGE = 2,
	/* nginx wrote the start of a response to a client socket: a plain
	 * HTTP/1.x 5xx status line, or (status 0 when unreadable) the first
	 * bytes after an upstream's 5xx, or the first response on a client
	 * connection whose request had a failed upstream attempt. */
	W5_EV_CLIENT_RESPONSE = 3,
	/* nginx read an upstream response whose status is 5xx. */
	W5_EV_UPSTREAM_STATUS = 4,
	/* An RST arrived on a socket (tcp:tcp_receive_reset). */
	W5_EV_TCP_RESET = 5,
	/* The kernel reported a socket error (sock:inet_sk_error_report). */
	W5_EV_SOCK_ERROR = 6,
	/* A SYN was retransmitted (tcp:tcp_retransmit_skb in SYN_SENT). */
	W5_EV_SYN_RETRANSMIT = 7,
	/* An nginx process started (fork of a traced process). */
	W5_EV_PROCESS_FORK = 8,
	/* A process was killed by a signal; the sockets it held. */
	W5_EV_PROCESS_DEATH = 9,
	/* A fatal signal was sent (who sent what to whom). */
	W5_EV_SIGNAL = 10,
	/* The OOM killer chose a victim. */
	W5_EV_OOM_VICTIM = 11,
	/* Made in userspace, not by BPF: a TCP listener's queue and its owner,
	 * read through sock_diag and /proc when nginx timed out on it. */
	W5_EV_LISTENER_STATE = 12,
	/* The request line of a request nginx answers with an error page; only
	 * with --capture-request (sent just before its W5_EV_NGX_ERROR_PAGE). */
	W5_EV_REQUEST_LINE = 13,
	/* A traced process, or a process named nginx, executed a new binary. */
	W5_EV_PROCESS_EXEC = 14,
	/* Made in userspace, not by BPF: a request with failed attempts is over
	 * without an error page (nginx recovered, or the client went away), read
	 * from the worker's memory (cli/request_liveness). Since wire version 2. */
	W5_EV_REQUEST_ENDED = 15,
	/* Made in userspace, not by BPF: the local ports of an nginx worker's
	 * network namespace toward an upstream, read when its connect() there
	 * failed with EADDRNOTAVAIL (sent just before that W5_EV_NGX_LOG). */
	W5_EV_PORT_USAGE = 16,
	/* The upstream connection of a request nginx is logging a failure of had
	 * carried earlier requests (nginx took it from its keepalive pool): its
	 * count and the kernel's times of its last send and receipts (sent just
	 * before that W5_EV_NGX_LOG, by the same uprobe). */
	W5_EV_UPSTREAM_REUSE = 17,
	/* Made in userspace, not by BPF: the process at the backend's end of an
	 * upstream connection nginx timed out on, and what it was doing, read
	 * from /proc, sock_diag and its cgroup (sent just before that
	 * W5_EV_NGX_LOG). */
	W5_EV_BACKEND_STATE = 18,
	/* Made in userspace, not by BPF: the cgroup of an nginx process, read
	 * when its first event arrived (sent just before that event). */
	W5_EV_PROCESS_CGROUP = 19,
	/* The name of the location (ngx_http_core_loc_conf_t.name) of a request
	 * nginx answers with an error page without an upstream (a configured
	 * `return 502;`), sent just before its W5_EV_NGX_ERROR_PAGE; only when
	 * the binary's layout has r_loc_conf. */
	W5_EV_NGX_LOCATION = 20,
	/* nginx logged the same failure again: the thread's last W5_EV_NGX_LOG
	 * sent whole had the same process, format and argument words, errno,
	 * level, action and upstream peer. Only what differs per request comes;
	 * userspace makes the whole W5_EV_NGX_LOG again from that one
	 * (events/log_repeats) before anything else sees it, so recordings, which
	 * hold the stream as the engine saw it, never hold this type. */
	W5_EV_NGX_LOG_REPEAT = 21,
	/* Made in userspace, not by BPF: a unix socket an nginx worker may not
	 * connect to (EACCES): the part of its path that keeps the worker out,
	 * its owner and mode, and the worker's user, read when nginx logged it
	 * (sent just before that W5_EV_NGX_LOG). Since wire version 4. */
	W5_EV_SOCKET_FILE = 22,
	/* The error_page of the location nginx builds a 5xx in, when one names
	 * that status (nginx then redirects: the client may get another status),
	 * sent just before its W5_EV_NGX_ERROR_PAGE; only when the binary's
	 * layout has clcf_error_pages. Since wire version 5. */
	W5_EV_NGX_ERROR_PAGE_TARGET = 23,
};

#define W5_REQUEST_LINE_LEN 160
#define W5_LOCATION_LEN 128 /* a power of two: the BPF side masks with it */

/* Client/upstream protocol hint in w5_client_response. */
enum w5_upstream_proto {
	W5_PROTO_HTTP = 1,
	W5_PROTO_FASTCGI = 2,
	W5_PROTO_HTTP2 = 3, /* proxy_http_version 2, grpc_pass: h2c frames */
	W5_PROTO_UWSGI = 4, /* uwsgi_pass (4 and 5: no struct changed, see RECORDING.md) */
	W5_PROTO_SCGI = 5,  /* scgi_pass */
	/* An upstream over TLS (proxy_pass https://, grpcs://): its answer is
	 * encrypted, and status is the one nginx sent its client right after
	 * reading that answer, with no error page and no failure logged. Since
	 * wire version 6 (no struct changed). */
	W5_PROTO_TLS = 6,
};

/* Which end of a TCP connection a socket is (w5_sock_evidence, w5_held_socket):
 * W5_SERVER_SIDE when it listens or was accepted from a listener, so its
 * remote end is a client; 0 when it connect()ed (nginx towards an upstream),
 * so its remote end is a server; always 0 for unix sockets. */
#define W5_SERVER_SIDE 1

/* AF_* values as the kernel uses them; 0 means unknown. */
struct w5_addr {
	__u16 family; /* AF_INET (2), AF_INET6 (10), AF_UNIX (1) */
	__u16 port;   /* host byte order */
	__u8 addr[16];
};

struct w5_header {
	__u32 type;
	__u32 size;   /* whole event, header included */
	__u64 ts_ns;  /* CLOCK_MONOTONIC (bpf_ktime_get_ns) */
	__u32 tgid;
	__u32 tid;
};

/* One entry of nginx's r->upstream_states (ngx_http_upstream_state_t). */
struct w5_upstream_state {
	__u32 status;
	__u32 pad;
	__u64 response_ms; /* (__u64)-1 when unset, as nginx stores it */
	__u64 connect_ms;
	__u64 header_ms;
	__u64 bytes_received;
	__u64 bytes_sent;
	char peer[W5_NAME_LEN];
};

/* What w5_log_arg.readable says was read at the word. */
#define W5_ARG_CSTR 1    /* cstr[]: the NUL-terminated string at word (its first bytes);
			  * for %*s, as many bytes as the word before says (since
			  * wire version 6: before, up to a NUL) */
#define W5_ARG_NGX_STR 2 /* str_len, ngx_str[]: the ngx_str_t at word and its first bytes */

/* One variadic argument of ngx_log_error_core (a register or stack word) and,
 * if it is a pointer, what it points to read both ways nginx's directives
 * may want it (%s, %*s: a C string; %V, %v: an ngx_str_t): which way is
 * right only the format says, and userspace reads the format. */
struct w5_log_arg {
	__u64 word;
	__u64 str_len; /* the ngx_str_t's len */
	__u32 readable;
	__u32 pad;
	char cstr[W5_ARG_CSTR_LEN]; /* 64 bytes before wire version 6 */
	char ngx_str[W5_ARG_TEXT_LEN];
};

struct w5_ngx_log {
	struct w5_header h;
	__u64 request;     /* ngx_http_request_t* — identity within one worker */
	__u64 connection;  /* nginx's connection number of the client connection */
	__u64 upstream_sk; /* kernel sock of the current upstream connection, 0 if none */
	__u64 client_sk;   /* kernel sock of the client connection */
	__u32 level;       /* NGX_LOG_* */
	__s32 err;         /* errno nginx logged, 0 if none */
	struct w5_addr client;
	struct w5_addr upstream;       /* from the upstream socket, when there is one */
	struct w5_addr upstream_local; /* nginx's end of that socket */
	char peer[W5_NAME_LEN];  /* u->peer.name */
	char fmt[W5_FMT_LEN];
	char action[W5_ACTION_LEN];
	/* Wire version 2. c->requests of the client connection: which of its
	 * requests this is (an HTTP/2 stream's own count); 0 when unknown (wire
	 * version 1, or c->number did not read back as the connection number). */
	__u32 requests;
	__u32 pad2;
	__u32 n_args;  /* entries of args[] filled: 0 in wire version 1 */
	char fmt_rest[W5_FMT_LEN]; /* the format's next bytes when fmt[] is full */
	struct w5_log_arg args[W5_LOG_ARGS];
	/* Wire version 6. The format's address in nginx: when fmt[] is empty
	 * (its page was not in the worker's memory, and a uprobe cannot fault
	 * it in), userspace reads it there. */
	__u64 fmt_addr;
};

/* See W5_EV_NGX_LOG_REPEAT: the fields of a w5_ngx_log that differ per
 * request; the rest are those of the event it repeats. */
struct w5_ngx_log_repeat {
	struct w5_header h;
	__u64 template_ts; /* h.ts_ns of the W5_EV_NGX_LOG repeated (same tid) */
	__u64 request;
	__u64 connection;
	__u64 upstream_sk;
	__u64 client_sk;
	__u32 requests;
	__u32 pad;
	struct w5_addr client;
	struct w5_addr upstream;
	struct w5_addr upstream_local;
};

struct w5_ngx_error_page {
	struct w5_header h;
	__u64 request;
	__u64 connection;
	__u64 client_sk;
	__u32 status;
	__u32 n_states; /* entries of r->upstream_states; states[] holds the last
			 * min(n_states, W5_MAX_STATES) of them */
	__u32 has_upstream;
	__u32 requests; /* as in w5_ngx_log (was padding in wire version 1) */
	struct w5_addr client;
	char peer[W5_NAME_LEN]; /* u->peer.name: last peer tried or the group name */
	struct w5_upstream_state states[W5_MAX_STATES];
};

struct w5_client_response {
	struct w5_header h;
	__u64 sk;
	__u32 status; /* 0 when the bytes are not a readable HTTP/1.x status line */
	__u32 pad;
	struct w5_addr local;
	struct w5_addr remote; /* the client; over UDP (HTTP/3), the datagram's destination */
};

struct w5_upstream_status {
	struct w5_header h;
	__u64 sk;
	__u32 status;
	__u32 proto; /* enum w5_upstream_proto */
	struct w5_addr local;
	struct w5_addr remote;
	char unix_path[W5_NAME_LEN]; /* the listener's path for a unix upstream */
};

/* Kernel evidence about one socket. */
struct w5_sock_evidence {
	struct w5_header h;
	__u64 sk;
	__s32 err;   /* errno for W5_EV_SOCK_ERROR; for W5_EV_TCP_RESET, the
		      * error the reset sets and reports (its W5_EV_SOCK_ERROR
		      * is then not sent; 0 in older recordings, which have it) */
	__u32 state; /* TCP state when it happened (TCP_SYN_SENT = 2, ...) */
	__u32 owner_tgid; /* the nginx process using the socket, 0 when unknown */
	__u32 server_side; /* W5_SERVER_SIDE or 0 (was padding; 0 in older recordings) */
	struct w5_addr local;
	struct w5_addr remote;
};

struct w5_process_exec {
	struct w5_header h; /* tgid: the process that executed a binary */
	__u32 was_traced;   /* it was traced already (a binary upgrade's new master) */
	__u32 pad;
	char comm[W5_COMM_LEN];
};

struct w5_process_fork {
	struct w5_header h;
	__u32 parent_tgid;
	__u32 child_tgid;
	char comm[W5_COMM_LEN];
};

#define W5_HELD_SOCKETS 8
#define W5_PATH_LEN 48

/* A stream socket a process held (TCP or unix). */
struct w5_held_socket {
	__u16 family;
	__u16 state; /* TCP_LISTEN = 10, TCP_ESTABLISHED = 1, ...; unix: the same numbers */
	__u32 server_side; /* W5_SERVER_SIDE or 0 (was padding; 0 in older recordings) */
	struct w5_addr local;
	/* unix: remote.addr[0..7] is the kernel address of the peer's struct sock
	 * (the connecting end, e.g. nginx's upstream socket; w5_ngx_log.upstream_sk),
	 * which tells apart the connections of one unix listener; 0 when none, and
	 * in recordings made before it was sent. */
	struct w5_addr remote;
	char path[W5_PATH_LEN]; /* unix: the listener's path */
};

/* A process was sent a fatal signal; the stream sockets it held then (before
 * it could close any), so a failed upstream connection can be tied to it. */
struct w5_signal {
	struct w5_header h; /* tgid/tid: the sender */
	__u32 sig;
	__s32 code;         /* si_code: > 0 from the kernel (faults, OOM), <= 0 from a process */
	__u32 target_tgid;
	__u32 target_parent_tgid;
	__s32 result;       /* TRACE_SIGNAL_DELIVERED = 0, ... */
	__u32 n_sockets;    /* stream sockets held; sockets[] has the first W5_HELD_SOCKETS */
	char target_comm[W5_COMM_LEN];
	char sender_comm[W5_COMM_LEN];
	struct w5_held_socket sockets[W5_HELD_SOCKETS];
};

/* A process that had been sent a fatal signal (or died of one) exited. */
struct w5_process_death {
	struct w5_header h; /* tgid: the process that died */
	__u32 signal;       /* the signal it died of, or last received before exiting */
	__u32 exit_code;    /* the kernel's exit code: signal number in the low 7 bits when killed */
	char comm[W5_COMM_LEN];
};

struct w5_oom_victim {
	struct w5_header h;
	__u32 pid;
	__u32 pad;
};

struct w5_listener_state {
	struct w5_header h;  /* tgid/tid: 0 (made by why502 itself) */
	struct w5_addr addr; /* the listener's address (may be a wildcard) */
	__u32 queued;        /* connections waiting in its accept queue */
	__u32 backlog;       /* the queue's limit */
	__u32 owner_pid;     /* a process holding the listener, 0 if none found */
	__u32 owners;        /* how many processes hold it */
	__u32 fds_open;      /* the owner's open descriptors */
	__u32 fd_limit;      /* its RLIMIT_NOFILE soft limit */
	__u64 listen_overflows; /* TcpExtListenOverflows of this network namespace */
	char owner_comm[W5_COMM_LEN];
};

struct w5_port_usage {
	struct w5_header h;    /* tgid: the worker whose connect() failed; tid: the same */
	struct w5_addr remote; /* the upstream */
	__u32 port_low;        /* net.ipv4.ip_local_port_range of its namespace; 0 when unread */
	__u32 port_high;
	__u32 established;     /* TCP sockets of the namespace toward remote, by state */
	__u32 time_wait;
	__u32 other;
	__u32 flags;           /* W5_PORTS_* (0 before wire version 6) */
	char peer[W5_NAME_LEN]; /* nginx's name of the upstream (w5_ngx_log.peer) */
};

/* w5_port_usage.flags: the namespace has no IPv6 address to connect to the
 * (IPv6) upstream from: IPv6 is disabled there (or, for ::1, on its
 * loopback), which is what made connect() fail with EADDRNOTAVAIL. */
#define W5_PORTS_NO_SOURCE_ADDRESS 1u

#define W5_USER_NAME_LEN 32
#define W5_SOCKET_PATH_LEN 112 /* a unix socket's path: sun_path holds 108 */

/* See W5_EV_SOCKET_FILE. Owners are numbers as the host sees them, and names
 * as the worker's own /etc/passwd and /etc/group give them (empty: none). */
struct w5_socket_file {
	struct w5_header h;   /* tgid: the worker whose connect() failed; tid: the same */
	__u32 worker_uid;     /* the worker's effective user and group */
	__u32 worker_gid;
	__u32 uid;            /* path's owner and group */
	__u32 gid;
	__u32 mode;           /* path's st_mode */
	__u32 denied;         /* 1: path's mode bits keep the worker out; 0: they let it in, and
			       * something else denies (an ACL, a security module) */
	char worker_user[W5_USER_NAME_LEN];
	char user[W5_USER_NAME_LEN];
	char group[W5_USER_NAME_LEN];
	/* The socket file, or the first directory above it the worker may not
	 * search, as nginx's mount namespace names it. */
	char path[W5_SOCKET_PATH_LEN];
	char peer[W5_NAME_LEN]; /* nginx's name of the upstream (w5_ngx_log.peer) */
};

/* See W5_EV_UPSTREAM_REUSE. The times are the kernel's jiffies (their low 32
 * bits, as struct tcp_sock keeps them): only differences mean anything. */
struct w5_upstream_reuse {
	struct w5_header h;
	__u64 request;           /* as in the W5_EV_NGX_LOG that follows */
	__u64 connection;
	__u64 upstream_sk;
	__u32 upstream_requests; /* c->requests of the upstream connection, this request included */
	__u32 tcp_state;         /* the socket's state when nginx logged (TCP_CLOSE_WAIT = 8: FIN received) */
	__u32 hz;                /* jiffies per second (CONFIG_HZ); 0 when unknown, or not TCP: no times */
	__u32 srtt_us;           /* smoothed round-trip time */
	__u32 now_jiffies;       /* when nginx logged */
	__u32 sent_jiffies;      /* tp->lsndtime: nginx's last send on it */
	__u32 data_in_jiffies;   /* icsk_ack.lrcvtime: the last data it received */
	__u32 ack_in_jiffies;    /* tp->rcv_tstamp: the last ACK it received (a FIN carries one) */
};

#define W5_CGROUP_LEN 128 /* a cgroup path; its tail, after "...", when longer */

/* Who w5_backend_state describes. */
enum w5_backend_found {
	/* The process holding the backend's end of nginx's connection. */
	W5_BACKEND_HOLDER = 1,
	/* The backend's end waits in its listener's accept queue: pid is the
	 * listener's owner, which has not accept()ed it. */
	W5_BACKEND_NOT_ACCEPTED = 2,
	/* No backend end exists (the connect() had not completed): pid is the
	 * owner of the local listener on the upstream's address. */
	W5_BACKEND_LISTENER = 3,
	/* The upstream's address is not one of this host's. */
	W5_BACKEND_REMOTE = 4,
	/* Local, but neither a socket nor a listener with a process was found. */
	W5_BACKEND_NOT_FOUND = 5,
};
/* (A unix upstream is found only as W5_BACKEND_HOLDER.) */

/* What the thread described was waiting on (w5_backend_state.wait_kind). */
enum w5_backend_wait {
	W5_WAIT_NONE = 0,   /* not in a system call, or one without a descriptor */
	W5_WAIT_SOCKET = 1, /* wait_local/wait_remote: a TCP socket's ends */
	W5_WAIT_FILE = 2,   /* wait_path: what the descriptor names */
	/* wait_path: the unix socket path of the connection (its listener's);
	 * wait_server_side: the thread's end was accepted on it;
	 * wait_listener_pid/comm: the process holding the other end. */
	W5_WAIT_UNIX_SOCKET = 3,
	/* No thread blocked on one descriptor (an event loop, a thread pool),
	 * but wait_local/wait_remote: a TCP connection the process opened, whose
	 * last act was a send after nginx's request, unanswered since;
	 * wait_listener_pid/comm: the process listening at wait_remote. */
	W5_WAIT_AWAITED_SOCKET = 4,
};

struct w5_backend_state {
	struct w5_header h;    /* tgid: the nginx worker that timed out; tid: the same */
	__u64 upstream_sk;     /* w5_ngx_log.upstream_sk it is about */
	struct w5_addr upstream;       /* w5_ngx_log.upstream */
	struct w5_addr upstream_local; /* w5_ngx_log.upstream_local */
	__u32 found;           /* enum w5_backend_found */
	__u32 pid;             /* the backend process; 0 for REMOTE and NOT_FOUND */
	__u32 tid;             /* the thread described */
	__u32 threads;         /* the process's threads */
	char comm[W5_COMM_LEN];
	char thread_comm[W5_COMM_LEN];
	__u32 state;           /* the thread's state letter ('R', 'S', 'D', 'T', 't', 'Z'); 0 gone */
	__s32 syscall_nr;      /* the system call it was in; -1 none (running, or not in one) */
	char syscall_name[W5_COMM_LEN]; /* its name (x86-64 numbers), empty when unknown */
	__u32 wait_kind;       /* enum w5_backend_wait */
	__s32 wait_fd;
	struct w5_addr wait_local;
	struct w5_addr wait_remote;
	__u32 wait_listener_pid; /* the process listening at wait_remote on this host (for a unix socket: at its other end), 0 none */
	__u32 wait_server_side;  /* W5_SERVER_SIDE: the socket was accepted (wait_remote is a client) */
	char wait_listener_comm[W5_COMM_LEN];
	char wait_path[W5_NAME_LEN]; /* W5_WAIT_FILE, _UNIX_SOCKET: the path (its tail when longer) */
	/* A sample of the thread and its cgroup over sample_ns (0: not
	 * sampled), during nginx's wait or right after it (sample_in_wait): */
	__u64 sample_ns;
	__u64 run_ns;          /* its CPU time (schedstat) */
	__u64 runqueue_ns;     /* time runnable, waiting for a CPU */
	__u64 periods;         /* CFS periods of its cgroup (cpu.stat nr_periods) */
	__u64 throttled_periods; /* of those, throttled (nr_throttled) */
	__u64 throttled_ns;    /* time throttled */
	/* The cgroup's totals since it was made, and its quota. */
	__u64 total_periods;
	__u64 total_throttled_periods;
	__u64 total_throttled_ns;
	__s64 quota_us;        /* CPU time per period; -1 unlimited or unread */
	__u64 period_us;
	char cgroup[W5_CGROUP_LEN]; /* the backend's cgroup path */
	/* A unix upstream: the connections from this nginx worker to that path
	 * the backend held (the one described is the first; which is this
	 * request's cannot be told when there are several). 0 for TCP. */
	__u32 unix_connections;
	/* 1: the sample began during nginx's wait, sample_ns before h.ts_ns
	 * (a reading of the backend while the request waited); 0: it ran for
	 * sample_ns after nginx gave up. */
	__u32 sample_in_wait;
};

/* See W5_EV_PROCESS_CGROUP. */
struct w5_process_cgroup {
	struct w5_header h; /* tgid: the nginx process */
	char cgroup[W5_CGROUP_LEN];
};

/* Where in nginx's structs to read; set per traced binary through the uprobe
 * attach cookie (an index into the layouts map). */
struct w5_nginx_layout {
	__u32 r_connection;
	__u32 r_upstream;
	__u32 r_upstream_states;
	__u32 c_fd;
	__u32 c_log;
	__u32 c_sockaddr;
	__u32 log_connection;
	__u32 log_data;
	__u32 log_action;
	__u32 ctx_current_request;
	__u32 u_peer;       /* ngx_peer_connection_t inside ngx_http_upstream_t */
	__u32 pc_connection;
	__u32 pc_name;
	__u32 state_size;
	__u32 state_status;
	__u32 state_response_time;
	__u32 state_connect_time;
	__u32 state_header_time;
	__u32 state_bytes_received;
	__u32 state_bytes_sent;
	__u32 state_peer;
	__u32 ctx_request;
	__u32 r_request_line; /* ngx_str_t; build-dependent (after headers_in/out) */
	__u32 c_number;       /* ngx_connection_t.number: checks c_requests */
	__u32 c_requests;     /* ngx_connection_t.requests */
	__u32 r_loc_conf;     /* ngx_http_request_t.loc_conf (void **); 0: unknown (was pad) */
	/* ngx_http_core_loc_conf_t.error_pages (ngx_array_t * of
	 * ngx_http_err_page_t); build-dependent; 0: unknown */
	__u32 clcf_error_pages;
};

/* See W5_EV_REQUEST_ENDED: the request (w5_ngx_log's request, connection and
 * requests) whose failed attempts ended without an error page. */
struct w5_request_ended {
	struct w5_header h; /* tgid: the worker; tid 0 */
	__u64 request;
	__u64 connection;
	__u32 requests;
	__u32 pad;
};

/* See W5_EV_NGX_ERROR_PAGE_TARGET: `error_page STATUS [=[OVERWRITE]] TARGET`. */
enum w5_error_page_target {
	W5_ERROR_PAGE_URI = 1,   /* "/50x.html": an internal redirect */
	W5_ERROR_PAGE_NAMED = 2, /* "@fallback": a named location */
	W5_ERROR_PAGE_URL = 3,   /* anything else: a redirect the client follows (302 unless OVERWRITE is a 3xx) */
};
struct w5_ngx_error_page_target {
	struct w5_header h; /* tgid/tid: the worker */
	__u64 request;      /* as in w5_ngx_error_page */
	__u64 connection;
	__u32 status;       /* the status error_page names (the page's) */
	__s32 overwrite;    /* nginx's err_page->overwrite: -1 without "=" (the status stays), 0 for a bare
			     * "=" (the target's own status), else the status the client gets */
	__u32 target;       /* enum w5_error_page_target */
	__u32 pad;
};

/* See W5_EV_NGX_LOCATION. */
struct w5_ngx_location {
	struct w5_header h; /* tgid/tid: the worker */
	__u64 request;      /* as in w5_ngx_error_page */
	__u64 connection;
	__u32 len;          /* the name's whole length; name[] holds at most W5_LOCATION_LEN - 1 */
	__u32 pad;
	char name[W5_LOCATION_LEN]; /* NUL-terminated */
};

struct w5_request_line {
	struct w5_header h;
	__u64 request;
	__u64 connection;
	__u32 len;  /* the line's whole length; line[] holds at most W5_REQUEST_LINE_LEN - 1 */
	__u32 pad;
	char line[W5_REQUEST_LINE_LEN];
};

#define W5_MAX_LAYOUTS 8

/* A binary by the kernel's device number (MKDEV: major << 20 | minor) and
 * inode: the key of adopted_binaries, the binaries named by --nginx-binary,
 * whose processes are nginx whatever their command (a fork). */
struct w5_binary_id {
	__u64 dev;
	__u64 ino;
};
#define W5_MAX_ADOPTED_BINARIES 64
#define W5_MAX_NGINX_CGROUPS 1024 /* cgroups nginx processes run in (nginx_cgroups) */

/* Checks the uprobes make of a layout on live requests, before they emit an
 * event: facts nginx's memory must show when the offsets are right. */
enum w5_layout_check {
	/* r->connection->fd is a socket this worker holds (or -1, closed). */
	W5_CHECK_CLIENT_FD = 1 << 0,
	/* r->upstream_states->size (ngx_array_t, size at +16) equals state_size,
	 * and its nelts is at most its nalloc. */
	W5_CHECK_STATE_SIZE = 1 << 1,
	/* A peer name (u->peer.name, the last state's peer: ngx_str_t *) reads as
	 * an address or group name: printable, no spaces, a sane length. */
	W5_CHECK_PEER_NAME = 1 << 2,
};

/* What the uprobes found of one layout slot (the layout_health array, indexed
 * like layouts); userspace zeroes it when it gives the slot to a binary. */
struct w5_layout_health {
	__u64 read_failures;   /* bpf_probe_read_user(_str) calls that failed */
	__u64 checked;         /* events whose checks all passed */
	__u32 failed;          /* W5_CHECK_* bits that failed; once set, the slot emits nothing */
	__u32 seen_state_size; /* the array's own element size, when W5_CHECK_STATE_SIZE failed */
};

/* Counters of what could not be delivered; indexes of the per-CPU array. */
enum w5_counter {
	W5_LOST_RINGBUF_FULL = 0,
	W5_LOST_MAP_FULL = 1,
	W5_LOST_READ_FAILED = 2,
	/* Not an event: a latency sample with no room for its upstream's histogram. */
	W5_LATENCY_DROPPED = 3,
	/* A request in flight lost its slot to another socket's (its upstream
	 * status and header time go unseen). */
	W5_LOST_SLOT_TAKEN = 4,
	W5_COUNTER_MAX = 8,
};

/*
 * Upstream latency histograms, kept in a BPF map (no event per request):
 * connect (TCP connect() to the request sent on that socket) and header (the
 * request sent to the first response bytes read). Bucket i counts durations
 * <= W5_LATENCY_BOUNDS_US[i]; the last bucket has no bound (+Inf).
 */
#define W5_LATENCY_BOUNDS_US                                                              \
	{ 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000,        \
	  2500000, 5000000, 10000000, 30000000 }
#define W5_LATENCY_BUCKETS 16 /* the bounds above and +Inf */
#define W5_MAX_LATENCY_KEYS 1024

enum w5_latency_kind {
	W5_LATENCY_CONNECT = 0,
	W5_LATENCY_HEADER = 1,
};

/* The upstream request in flight on a socket (the in_flight_slots map,
 * bpf/parts/requests_in_flight.bpf.c): armed by nginx's send, disarmed by the first
 * response read. */
struct w5_in_flight {
	__u64 sk;         /* the upstream socket bound to this slot; 0: none */
	__u64 identity;   /* its two ends, to tell a reused struct sock apart:
			   * TCP: skc_portpair and skc_family as read (remote port
			   * in network order, local port, family); unix: the peer */
	__u64 sent_ns;    /* when the request was sent; 0: nothing in flight */
	__u32 proto;      /* enum w5_upstream_proto */
	__u32 tgid;       /* the nginx process that sent it */
	__u32 latency_id; /* this upstream's histograms + 1; 0: not looked up yet */
	__u32 stderr_left; /* FastCGI: bytes of a STDERR record an earlier read began */
};

/* Slots come in sets of W5_IN_FLIGHT_WAYS: a socket may take any slot of its
 * set, so thousands of upstream requests in flight at once rarely collide
 * (one-way slots lost ~7% of 10k concurrent requests to collisions). */
#define W5_IN_FLIGHT_WAYS 4

struct w5_in_flight_set {
	struct w5_in_flight way[W5_IN_FLIGHT_WAYS];
};

/* The set a socket's slot is in, of sets (a power of two). Fibonacci hashing:
 * struct socks are slab objects, so the low bits of their addresses are all
 * alike. */
#define W5_IN_FLIGHT_SET_OF(sk, sets) \
	((__u32)(((__u64)(sk) * 0x9E3779B97F4A7C15ULL) >> 48) & ((sets) - 1))

/* An upstream with histograms: the key of the upstream → id map; histogram
 * (id * 2 + kind) of the per-CPU array holds its latencies of that kind. */
struct w5_latency_key {
	struct w5_addr upstream;     /* the upstream end of the socket */
	char unix_path[W5_PATH_LEN]; /* unix upstreams: the path it listens on */
};

struct w5_latency_histogram {
	__u64 buckets[W5_LATENCY_BUCKETS];
	__u64 sum_ns;
};

/* Every event type and the struct it carries, in one list. Userspace builds
 * from it its Event variant and its decoder (events/event.*), the BPF object
 * its BTF anchor (why502.bpf.c). A new type is a line here and its struct
 * above; see docs/ARCHITECTURE.md for what else it needs. */
#define W5_EVENT_TYPES(X)                               \
	X(W5_EV_NGX_LOG, w5_ngx_log)                    \
	X(W5_EV_NGX_ERROR_PAGE, w5_ngx_error_page)      \
	X(W5_EV_CLIENT_RESPONSE, w5_client_response)    \
	X(W5_EV_UPSTREAM_STATUS, w5_upstream_status)    \
	X(W5_EV_TCP_RESET, w5_sock_evidence)            \
	X(W5_EV_SOCK_ERROR, w5_sock_evidence)           \
	X(W5_EV_SYN_RETRANSMIT, w5_sock_evidence)       \
	X(W5_EV_PROCESS_FORK, w5_process_fork)          \
	X(W5_EV_PROCESS_DEATH, w5_process_death)        \
	X(W5_EV_SIGNAL, w5_signal)                      \
	X(W5_EV_OOM_VICTIM, w5_oom_victim)              \
	X(W5_EV_LISTENER_STATE, w5_listener_state)      \
	X(W5_EV_REQUEST_LINE, w5_request_line)          \
	X(W5_EV_PROCESS_EXEC, w5_process_exec)          \
	X(W5_EV_REQUEST_ENDED, w5_request_ended)        \
	X(W5_EV_PORT_USAGE, w5_port_usage)              \
	X(W5_EV_UPSTREAM_REUSE, w5_upstream_reuse)      \
	X(W5_EV_BACKEND_STATE, w5_backend_state)        \
	X(W5_EV_PROCESS_CGROUP, w5_process_cgroup)      \
	X(W5_EV_NGX_LOCATION, w5_ngx_location)          \
	X(W5_EV_NGX_LOG_REPEAT, w5_ngx_log_repeat)      \
	X(W5_EV_SOCKET_FILE, w5_socket_file)            \
	X(W5_EV_NGX_ERROR_PAGE_TARGET, w5_ngx_error_page_target)

#define W5_RINGBUF_BYTES (4u << 20)
/* Events are submitted without waking the consumer (shared_maps.bpf.c), so
 * it reads the ring at least this often. */
#define W5_FLUSH_MS 25
#define W5_MAX_NGINX_PROCS 4096
#define W5_TGID_BITMAP_WORDS (4194304 / 64) /* PID_MAX_LIMIT bits */
#define W5_AWAITING_SLOTS 65536             /* power of two */
#define W5_MAX_AWAITING 65536

#endif /* WHY502_WIRE_H */

// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Status codes read from the bytes nginx sends and receives, without uprobes
 * (TCP and unix sockets alike; the buffer comes from the syscall's registers):
 * - a request nginx sends to an upstream (HTTP request line, FastCGI
 *   BEGIN_REQUEST, HTTP/2, a uwsgi packet, an SCGI netstring) arms its
 *   socket; the first response read on that socket is checked for a 5xx
 *   status (the upstream's own error);
 * - a plain HTTP/1.x response nginx sends to a client is checked for a 5xx
 *   status line; after an upstream 5xx, the next client send of that thread
 *   names the client even when it is encrypted (over HTTP/3, by the
 *   datagram's destination);
 * - an upstream over TLS, whose answer is encrypted, is known by nginx's
 *   handshake; a 5xx status line that is the thread's next client send after
 *   reading its answer is taken for the upstream's own.
 * Every process's sends and receives pass here, so the nginx check comes first,
 * and the programs are raw tracepoints (no copy of the arguments per call).
 */
#include "part_of_why502.bpf.h"
#include "byte_parsers.h"

#define PEEK_LEN 16
#define MSG_PEEK 2

#define SYS_READ 0
#define SYS_READV 19
#define SYS_RECVFROM 45
#define SYS_RECVMSG 47
#define SYS_WRITE 1
#define SYS_WRITEV 20
#define SYS_SENDTO 44
#define SYS_SENDMSG 46

/* Threads that just read an upstream 5xx: the next client send is its client. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, W5_MAX_NGINX_PROCS);
	__type(key, __u32);
	__type(value, __u64);
} upstream_5xx_pending SEC(".maps");

/* Entries put in upstream_5xx_pending, less those taken out (see
 * clients_with_failures_added). */
__u64 pending_5xx_threads = 0;

/* nginx's TLS connections to upstreams (proxy_pass https://, grpcs://), told
 * by the handshake record nginx sends first: whether its request went out
 * since the upstream last answered. Their answers are encrypted, so the
 * status nginx passes on is the one it sends its client next. */
#define W5_TLS_HANDSHAKE 0x16
#define W5_TLS_APPLICATION_DATA 0x17
#define W5_MAX_TLS_UPSTREAMS 16384

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, W5_MAX_TLS_UPSTREAMS);
	__type(key, __u64);   /* struct sock * */
	__type(value, __u32); /* nginx sent application data since the last answer */
} tls_upstreams SEC(".maps");

/* The TLS upstream whose answer a thread read last, until its next send to a
 * client: a 5xx status line then is that upstream's own. */
struct tls_answer {
	__u64 sk;
	struct w5_addr local;
	struct w5_addr remote;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, W5_MAX_NGINX_PROCS);
	__type(key, __u32); /* thread */
	__type(value, struct tls_answer);
} tls_answers SEC(".maps");

/* Set once nginx has a TLS upstream: until then no send or receive looks at
 * the maps above. */
__u32 tls_upstreams_seen = 0;

static __always_inline void note_tls_upstream_send(const struct sock *sk, const char *b)
{
	if (b[1] != 0x03) /* TLS record versions are 3.x */
		return;
	__u64 key = (__u64)sk;
	/* (A ClientHello, or TLS 1.2's Finished: the request is still to come.) */
	if (b[0] == W5_TLS_HANDSHAKE) {
		__u32 answered = 0;
		if (store_or_count(&tls_upstreams, &key, &answered, BPF_ANY, W5_LOST_MAP_FULL) == 0 &&
		    !tls_upstreams_seen)
			tls_upstreams_seen = 1;
	} else if (b[0] == W5_TLS_APPLICATION_DATA && tls_upstreams_seen) {
		__u32 *awaiting = bpf_map_lookup_elem(&tls_upstreams, &key);
		if (awaiting)
			*awaiting = 1;
	}
}

/* A read on a socket nginx connected that no request armed: the answer of a
 * TLS upstream, when nginx's request went out since its last one. */
static __always_inline void note_tls_upstream_answer(const struct sock *sk, const void *buf, __u32 tid)
{
	__u64 key = (__u64)sk;
	__u32 *awaiting = bpf_map_lookup_elem(&tls_upstreams, &key);
	__u8 type = 0;
	if (!awaiting || !*awaiting || !buf || bpf_probe_read_user(&type, 1, buf) || type != W5_TLS_APPLICATION_DATA)
		return;
	*awaiting = 0;
	struct tls_answer a = {.sk = key};
	read_sock_addrs(sk, &a.local, &a.remote);
	store_or_count(&tls_answers, &tid, &a, BPF_ANY, W5_LOST_MAP_FULL);
}

/* At a thread's send to a client: the TLS upstream answer it read last, taken
 * out (the send answers that request, or another). */
static __always_inline bool take_tls_answer(__u32 tid, struct tls_answer *out)
{
	struct tls_answer *a = bpf_map_lookup_elem(&tls_answers, &tid);
	if (!a)
		return false;
	__builtin_memcpy(out, a, sizeof(*out));
	bpf_map_delete_elem(&tls_answers, &tid);
	return true;
}

static __always_inline void emit_tls_upstream_status(const struct tls_answer *a, __u32 status)
{
	struct w5_upstream_status *e = reserve_event(sizeof(*e), W5_EV_UPSTREAM_STATUS);
	if (!e)
		return;
	e->sk = a->sk;
	e->status = status;
	e->proto = W5_PROTO_TLS;
	__builtin_memcpy(&e->local, &a->local, sizeof(e->local));
	__builtin_memcpy(&e->remote, &a->remote, sizeof(e->remote));
	submit_event(e);
}

/* Where the datagram the current syscall sends goes: nginx answers every
 * HTTP/3 client from one unconnected UDP socket, naming the client in each
 * sendmsg(). Left as it is when the syscall names none. */
static __always_inline void read_syscall_destination(struct w5_addr *to)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	long nr = regs->orig_ax;
	__u64 name = 0;
	if (nr == SYS_SENDTO) {
		name = regs->r8; /* sendto(fd, buf, len, flags, dest_addr, addrlen) */
	} else if (nr == SYS_SENDMSG) {
		struct user_msghdr m = {};
		if (bpf_probe_read_user(&m, sizeof(m), (const void *)regs->si) == 0)
			name = (__u64)m.msg_name;
	}
	__u8 sa[W5_SOCKADDR_LEN] = {};
	if (name && bpf_probe_read_user(sa, sizeof(sa), (const void *)name) == 0)
		sockaddr_to_addr(sa, to);
}

static __always_inline void emit_client_response(const struct sock *sk, __u32 status)
{
	struct w5_client_response *e = reserve_event(sizeof(*e), W5_EV_CLIENT_RESPONSE);
	if (!e)
		return;
	e->sk = (__u64)sk;
	e->status = status;
	read_sock_addrs(sk, &e->local, &e->remote);
	if (BPF_CORE_READ(sk, sk_protocol) == IPPROTO_UDP)
		read_syscall_destination(&e->remote);
	submit_event(e);
}

/* The first user buffer of the socket syscall in progress (send or receive). */
static __always_inline const void *syscall_buffer(void)
{
	struct task_struct *task = bpf_get_current_task_btf();
	/* A BTF pointer: plain loads (no helper call) in the hot path. */
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
	long nr = regs->orig_ax;
	__u64 arg = regs->si;
	if (nr == SYS_RECVFROM || nr == SYS_READ || nr == SYS_SENDTO || nr == SYS_WRITE)
		return (const void *)arg;
	struct iovec iov = {};
	if (nr == SYS_RECVMSG || nr == SYS_SENDMSG) {
		struct user_msghdr m = {};
		if (bpf_probe_read_user(&m, sizeof(m), (const void *)arg))
			return NULL;
		arg = (__u64)m.msg_iov;
	} else if (nr != SYS_READV && nr != SYS_WRITEV) {
		return NULL;
	}
	if (bpf_probe_read_user(&iov, sizeof(iov), (const void *)arg))
		return NULL;
	return iov.iov_base;
}

/* Records of a FastCGI read looked at for the STDOUT one. */
#define W5_FCGI_MAX_RECORDS 4

/* Whether the len bytes nginx read at buf hold the answer to its request: a
 * STDOUT record (its Status header's code in *status, 0 without one), or
 * anything but STDERR records. Before its headers an application may write
 * to its stderr (PHP's warnings and errors, with log_errors on and no
 * error_log: php-fpm's default), which nginx logs ("FastCGI sent in
 * stderr"); a read of those alone leaves the request waiting for the next
 * read, which begins with what is left of the last one (*stderr_left: a
 * stack trace longer than nginx's buffer comes in several reads). */
static __always_inline bool fastcgi_answer(const void *buf, int len, __u32 *status, __u32 *stderr_left)
{
	if (!buf)
		return true;
	__u32 offset = *stderr_left;
	if (offset >= (__u32)len) {
		*stderr_left = offset - (__u32)len;
		return false;
	}
	*stderr_left = 0;
	for (int i = 0; i < W5_FCGI_MAX_RECORDS; i++) {
		if (offset == (__u32)len)
			return false;
		/* (A record header cut between two reads is given up on.) */
		char b[W5_FCGI_SCAN_LEN] = {};
		if (offset + W5_FCGI_HEADER > (__u32)len || bpf_probe_read_user(b, sizeof(b), (const char *)buf + offset))
			return true;
		if (b[1] != W5_FCGI_STDERR) {
			*status = w5_fastcgi_status(b, len - (int)offset);
			return true;
		}
		__u32 end = offset + w5_fastcgi_record_size(b);
		if (end > (__u32)len) {
			*stderr_left = end - (__u32)len;
			return false;
		}
		offset = end;
	}
	return true;
}

/* Frames of an HTTP/2 read looked at for the one that answers the request. */
#define W5_H2_MAX_FRAMES 6

/* Whether the len bytes nginx read at buf hold the answer to its request (a
 * HEADERS, DATA, RST_STREAM or GOAWAY frame), with the :status of HEADERS
 * in *status (0 when unreadable); false when they are control frames only. */
static __always_inline bool h2_answer(const void *buf, int len, __u32 *status)
{
	if (!buf)
		return true;
	__u32 offset = 0;
	for (int i = 0; i < W5_H2_MAX_FRAMES; i++) {
		__u8 h[W5_H2_FRAME_HEADER];
		if (offset + W5_H2_FRAME_HEADER > (__u32)len ||
		    bpf_probe_read_user(h, sizeof(h), (const char *)buf + offset))
			return false;
		__u32 length = ((__u32)h[0] << 16) | ((__u32)h[1] << 8) | h[2];
		__u8 type = h[3];
		if (type == W5_H2_DATA || type == W5_H2_RST_STREAM || type == W5_H2_GOAWAY)
			return true;
		if (type != W5_H2_HEADERS) {
			offset += W5_H2_FRAME_HEADER + (length & 0xffffff);
			continue;
		}
		__u32 block = offset + W5_H2_FRAME_HEADER;
		__u8 pad = 0;
		if ((h[4] & W5_H2_PADDED) && bpf_probe_read_user(&pad, 1, (const char *)buf + block) == 0)
			block += 1;
		if (h[4] & W5_H2_PRIORITY)
			block += 5;
		__u8 b[W5_HPACK_PEEK] = {};
		int in_block = (int)length - (int)(block - offset - W5_H2_FRAME_HEADER) - pad;
		int in_read = len - (int)block;
		int readable = in_block < in_read ? in_block : in_read;
		if (readable > 0 && bpf_probe_read_user(b, sizeof(b), (const char *)buf + block) == 0)
			*status = w5_hpack_status(b, readable);
		return true;
	}
	return false;
}

/* Both tracepoints: TP_PROTO(struct sock *sk, int ret, int flags). */
SEC("raw_tracepoint/sock_send_length")
int on_sock_send_length(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	if ((int)ctx->args[1] <= 0 || !is_nginx_tgid(id >> 32))
		return 0;
	const struct sock *sk = (const struct sock *)ctx->args[0];
	const void *buf = syscall_buffer();
	char b[PEEK_LEN] = {};
	if (!buf || bpf_probe_read_user(b, sizeof(b), buf))
		return 0;

	__u32 tid = (__u32)id;
	__u64 key = (__u64)sk;
	/* After a failed attempt, the first response on that client connection
	 * is reported whatever it is (it may be a retry's success): see
	 * await_response. */
	bool after_failure = false;
	if (awaiting_threads) {
		struct thread_failure *tf = bpf_map_lookup_elem(&thread_failures, &tid);
		if (tf && tf->awaiting_sk == key && tf->awaiting_tgid == id >> 32) {
			tf->awaiting_sk = 0;
			__sync_fetch_and_sub(&awaiting_threads, 1);
			after_failure = true;
		}
	}
	/* (Also after the thread's own: the socket may have waited in the map
	 * for an earlier request.) */
	if (clients_with_failures_added && (after_failure || bpf_map_lookup_elem(&clients_with_failures, &key))) {
		after_failure = true;
		if (bpf_map_delete_elem(&clients_with_failures, &key) == 0)
			__sync_fetch_and_sub(&clients_with_failures_added, 1);
	}
	bool pending_5xx = false;
	/* The client's send, not one to the upstream: over HTTP/2 nginx may
	 * answer the upstream's SETTINGS or WINDOW_UPDATE first. */
	if (pending_5xx_threads && !connected_tcp(sk) && bpf_map_lookup_elem(&upstream_5xx_pending, &tid)) {
		pending_5xx = true;
		if (bpf_map_delete_elem(&upstream_5xx_pending, &tid) == 0)
			__sync_fetch_and_sub(&pending_5xx_threads, 1);
	}
	/* TLS upstreams: only once nginx has one (and at a handshake record,
	 * which may be its first ClientHello). */
	struct tls_answer tls = {};
	bool after_tls_answer = false;
	if (tls_upstreams_seen || (b[0] == W5_TLS_HANDSHAKE && b[1] == 0x03)) {
		if (connected_tcp(sk))
			note_tls_upstream_send(sk, b);
		else if (tls_upstreams_seen)
			after_tls_answer = take_tls_answer(tid, &tls);
	}
	__u32 status = w5_http_status_line(b);
	if (status) {
		const bool gateway_status = status >= 500 && status <= 504;
		/* (Before the client's response: the engine pairs them as it does
		 * an upstream 5xx read in the clear.) */
		if (gateway_status && after_tls_answer && !after_failure && !pending_5xx)
			emit_tls_upstream_status(&tls, status);
		if (gateway_status || after_failure)
			emit_client_response(sk, status);
		return 0;
	}
	__u32 proto = w5_request_protocol(b);
	if (!proto && (w5_h2_preface(b) || (w5_h2_request_headers(b) && connected_tcp(sk))))
		proto = W5_PROTO_HTTP2;
	/* (Not a client's socket: nginx's HTTP/2 and TLS bytes to clients are
	 * binary too.) */
	if (!proto && w5_uwsgi_request(b) && !server_side(sk))
		proto = W5_PROTO_UWSGI;
	if (proto) {
		__u64 now = bpf_ktime_get_ns();
		struct w5_in_flight *slot = arm_in_flight(sk, proto, id >> 32, now);
		if (slot)
			observe_connect(slot, sk, now);
		return 0;
	}
	if (pending_5xx || after_failure)
		emit_client_response(sk, 0);
	return 0;
}

SEC("raw_tracepoint/sock_recv_length")
int on_sock_recv_length(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	int ret = (int)ctx->args[1];
	if (ret <= 0 || ((int)ctx->args[2] & MSG_PEEK) || !is_nginx_tgid(id >> 32))
		return 0;
	const struct sock *sk = (const struct sock *)ctx->args[0];
	__u64 key = (__u64)sk;
	struct w5_in_flight *slot = in_flight_of(sk);
	if (!slot) {
		if (tls_upstreams_seen && connected_tcp(sk))
			note_tls_upstream_answer(sk, syscall_buffer(), (__u32)id);
		return 0;
	}
	__u32 protocol = slot->proto;
	const void *buf = syscall_buffer();
	__u32 status = 0;
	/* HTTP/2: the server's SETTINGS (and WINDOW_UPDATE, PING) may come in
	 * reads of their own; the request stays in flight until a frame of its
	 * stream answers it. FastCGI: so may the application's stderr. */
	if (protocol == W5_PROTO_HTTP2 && !h2_answer(buf, ret, &status))
		return 0;
	if (protocol == W5_PROTO_FASTCGI && !fastcgi_answer(buf, ret, &status, &slot->stderr_left))
		return 0;
	__u64 sent_ns = slot->sent_ns;
	slot->sent_ns = 0;
	__u64 now = bpf_ktime_get_ns();
	if (now > sent_ns)
		observe_latency(slot, sk, W5_LATENCY_HEADER, now - sent_ns);

	if (!buf)
		return 0;
	if (protocol == W5_PROTO_HTTP2) {
		/* status read by h2_answer */
	} else if (protocol == W5_PROTO_HTTP) {
		char b[PEEK_LEN] = {};
		if (ret >= 12 && bpf_probe_read_user(b, sizeof(b), buf) == 0)
			status = w5_http_status_line(b);
	} else if (protocol == W5_PROTO_FASTCGI) {
		/* status read by fastcgi_answer */
	} else {
		char b[W5_CGI_SCAN_LEN] = {};
		if (bpf_probe_read_user(b, sizeof(b), buf) == 0)
			status = w5_cgi_response_status(b, ret);
	}
	if (status < 500 || status > 504)
		return 0;

	struct w5_upstream_status *e = reserve_event(sizeof(*e), W5_EV_UPSTREAM_STATUS);
	if (!e)
		return 0;
	e->sk = key;
	e->status = status;
	e->proto = protocol;
	read_sock_addrs(sk, &e->local, &e->remote);
	if (e->remote.family == AF_UNIX)
		read_unix_peer_path(sk, e->unix_path, sizeof(e->unix_path));
	__u64 read_at = e->h.ts_ns;
	submit_event(e);

	__u32 tid = (__u32)id;
	long err = store_or_count(&upstream_5xx_pending, &tid, &read_at, BPF_NOEXIST, W5_LOST_MAP_FULL);
	if (err == 0)
		__sync_fetch_and_add(&pending_5xx_threads, 1);
	else if (err == -W5_EEXIST)
		store_or_count(&upstream_5xx_pending, &tid, &read_at, BPF_ANY, W5_LOST_MAP_FULL);
	return 0;
}

// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Uprobes on nginx functions that only run when something went wrong, so a
 * healthy request never traps: ngx_log_error_core (an error is being logged)
 * and ngx_http_special_response_handler (nginx builds an error page).
 * Struct offsets come from the layout chosen for the traced binary, passed
 * as the attach cookie.
 */
#include "part_of_why502.bpf.h"

#define NGX_LOG_WARN 5

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, W5_MAX_LAYOUTS);
	__type(key, __u32);
	__type(value, struct w5_nginx_layout);
} layouts SEC(".maps");

/* Per layout slot: read failures and the live checks' results (a wrong
 * offset shows as failed reads, or a failed check, before anything else). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, W5_MAX_LAYOUTS);
	__type(key, __u32);
	__type(value, struct w5_layout_health);
} layout_health SEC(".maps");

/* CONFIG_HZ, set by userspace from the kernel's config (0: unknown): what
 * the jiffies of a W5_EV_UPSTREAM_REUSE mean. */
const volatile __u32 kernel_hz = 0;

/* --capture-request: the request line of each error-page request. */
const volatile bool capture_request_line = false;
/* The send program is loaded (not with --lean): it takes the client sockets
 * marked here out of clients_with_failures. Without it the marks would only
 * fill the map. */
const volatile bool client_responses_traced = true;

/* With --pid only the chosen processes count (only_listed_processes, in
 * shared_maps.bpf.c); otherwise any process running a traced binary is nginx, and
 * joins nginx_tgid_bits so the kernel-side hooks see it too (a master started
 * after why502 was). */
static __always_inline bool admit_current_process(void)
{
	__u32 tgid = current_tgid();
	if (is_nginx_tgid(tgid))
		return true;
	if (only_listed_processes)
		return false;
	add_nginx_tgid(tgid);
	return true;
}

static __always_inline const struct w5_nginx_layout *layout_of(void *ctx)
{
	__u32 index = (__u32)bpf_get_attach_cookie(ctx);
	return bpf_map_lookup_elem(&layouts, &index);
}

static __always_inline struct w5_layout_health *health_of(void *ctx)
{
	__u32 index = (__u32)bpf_get_attach_cookie(ctx);
	return bpf_map_lookup_elem(&layout_health, &index);
}

/* bpf_probe_read_user, counting a failure in the slot's health. */
static __always_inline long read_user(struct w5_layout_health *hl, void *dst, __u32 size, __u64 src)
{
	long err = bpf_probe_read_user(dst, size, (const void *)src);
	if (err)
		__sync_fetch_and_add(&hl->read_failures, 1);
	return err;
}

static __always_inline void read_user_str(struct w5_layout_health *hl, char *dst, __u32 size, __u64 src)
{
	if (bpf_probe_read_user_str(dst, size, (const void *)src) < 0)
		__sync_fetch_and_add(&hl->read_failures, 1);
}

/* Not counted: log->data of a log that is not about an HTTP request (the
 * stream module's, say) is no ngx_http_log_ctx_t, and reading through it can
 * fail with any layout. */
static __always_inline __u64 peek_u64(__u64 addr)
{
	__u64 value = 0;
	if (addr)
		bpf_probe_read_user(&value, sizeof(value), (const void *)addr);
	return value;
}

static __always_inline __u64 user_u64(struct w5_layout_health *hl, __u64 addr)
{
	__u64 value = 0;
	if (addr)
		read_user(hl, &value, sizeof(value), addr);
	return value;
}

/* Copies an ngx_str_t (not NUL-terminated) into a NUL-terminated buffer. */
static __always_inline void read_ngx_str(struct w5_layout_health *hl, __u64 str_addr, char *out,
					 __u32 out_len)
{
	struct {
		__u64 len;
		__u64 data;
	} s = {};
	if (!str_addr || read_user(hl, &s, sizeof(s), str_addr))
		return;
	__u64 n = s.len < out_len - 1 ? s.len : out_len - 1;
	n &= (W5_NAME_LEN - 1);
	if (n && read_user(hl, out, n, s.data) == 0)
		out[n] = 0;
}

/* nginx's view of a peer address (struct sockaddr in nginx's memory). */
static __always_inline void read_user_sockaddr(struct w5_layout_health *hl, __u64 addr, struct w5_addr *out)
{
	__u8 sa[28] = {};
	if (!addr || read_user(hl, sa, sizeof(sa), addr))
		return;
	__u16 family = sa[0] | (sa[1] << 8);
	out->family = family;
	if (family == AF_INET) {
		out->port = (sa[2] << 8) | sa[3];
		__builtin_memcpy(out->addr, &sa[4], 4);
	} else if (family == AF_INET6) {
		out->port = (sa[2] << 8) | sa[3];
		__builtin_memcpy(out->addr, &sa[8], 16);
	}
}

/* The kernel socket behind one of the current process's descriptors. The
 * task's fd table is reached with plain loads through BTF pointers; past the
 * table (a struct file ** is no BTF pointer) it takes helper reads. */
static __always_inline struct sock *fd_to_sock(__s32 fd)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fdtable *fdt = task->files->fdt;
	if (!fdt || fd < 0 || fd >= (__s32)fdt->max_fds)
		return NULL;
	struct file **fds = fdt->fd;
	struct file *file = NULL;
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) || !file)
		return NULL;
	struct socket *sock = (struct socket *)BPF_CORE_READ(file, private_data);
	if (!sock)
		return NULL;
	struct sock *sk = BPF_CORE_READ(sock, sk);
	/* private_data is a socket only if the socket points back at it. */
	if (!sk || (struct socket *)BPF_CORE_READ(sk, sk_socket) != sock)
		return NULL;
	return sk;
}

static __always_inline __s32 connection_fd(const struct w5_nginx_layout *l, struct w5_layout_health *hl,
					   __u64 c)
{
	__s32 fd = -1;
	if (c)
		read_user(hl, &fd, sizeof(fd), c + l->c_fd);
	return fd;
}

/* nginx structs of which several fields are wanted, copied whole in one
 * helper call: a call per field was most of what an error page cost. Per
 * CPU; a uprobe program can be preempted by another thread running it on the
 * same CPU, so a copy counts only while it is still its reader's. */
#define W5_BLOCK_LEN 256

struct user_block {
	__u64 reader; /* bpf_get_current_pid_tgid() of the thread that copied it */
	__u8 bytes[W5_BLOCK_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct user_block);
} user_blocks SEC(".maps");

/* The first span bytes at addr, or NULL (then the caller reads field by
 * field, and counts what fails). */
static __always_inline const struct user_block *copy_block(__u64 addr, __u32 span)
{
	__u32 zero = 0;
	struct user_block *b = bpf_map_lookup_elem(&user_blocks, &zero);
	if (!b || !addr || span == 0 || span > W5_BLOCK_LEN)
		return NULL;
	b->reader = bpf_get_current_pid_tgid();
	if (bpf_probe_read_user(b->bytes, span, (const void *)addr))
		return NULL;
	return b;
}

/* Offsets are below the span the block was copied with (the callers make
 * it the largest of them); the bound is for the verifier. */
static __always_inline __u64 block_u64(const struct user_block *b, __u32 off)
{
	return off <= W5_BLOCK_LEN - 8 ? *(const __u64 *)(b->bytes + off) : 0;
}

static __always_inline __u32 block_u32(const struct user_block *b, __u32 off)
{
	return off <= W5_BLOCK_LEN - 4 ? *(const __u32 *)(b->bytes + off) : 0;
}

static __always_inline bool block_still_mine(const struct user_block *b)
{
	return b->reader == bpf_get_current_pid_tgid();
}

static __always_inline __u32 max_u32(__u32 a, __u32 b)
{
	return a > b ? a : b;
}

/* What the uprobes read of a client connection (ngx_connection_t). */
struct client_connection {
	__u64 log;      /* c->log */
	__u64 sockaddr; /* c->sockaddr */
	__u64 number;   /* c->number; read only with c_requests */
	__u64 requests; /* c->requests; 0 when the layout has no c_requests */
	__s32 fd;       /* c->fd; -1 when closed or unread */
};

static __always_inline void read_client_connection(const struct w5_nginx_layout *l, struct w5_layout_health *hl,
						   __u64 c, struct client_connection *out)
{
	out->fd = -1;
	if (!c)
		return;
	__u32 span = max_u32(max_u32(l->c_fd + 4, l->c_log + 8), l->c_sockaddr + 8);
	if (l->c_requests)
		span = max_u32(span, max_u32(l->c_number + 8, l->c_requests + 8));
	const struct user_block *b = copy_block(c, span);
	if (b) {
		out->fd = (__s32)block_u32(b, l->c_fd);
		out->log = block_u64(b, l->c_log);
		out->sockaddr = block_u64(b, l->c_sockaddr);
		if (l->c_requests) {
			out->number = block_u64(b, l->c_number);
			out->requests = block_u64(b, l->c_requests);
		}
		if (block_still_mine(b))
			return;
	}
	out->fd = connection_fd(l, hl, c);
	out->log = user_u64(hl, c + l->c_log);
	out->sockaddr = user_u64(hl, c + l->c_sockaddr);
	if (l->c_requests) {
		out->number = user_u64(hl, c + l->c_number);
		out->requests = user_u64(hl, c + l->c_requests);
	}
}

/* What the uprobes read of an ngx_http_request_t. */
struct nginx_request {
	__u64 connection; /* r->connection */
	__u64 upstream;   /* r->upstream */
	__u64 states;     /* r->upstream_states (an ngx_array_t *) */
	__u64 loc_conf;   /* r->loc_conf; 0 when the layout has no r_loc_conf */
};

/* Returns false when r could not be read; with counted, a failure to read
 * it field by field counts (the error page's r is nginx's own argument; the
 * log uprobe's was found through log->data, which need not be a request's). */
static __always_inline bool read_request(const struct w5_nginx_layout *l, struct w5_layout_health *hl, __u64 r,
					 bool counted, struct nginx_request *out)
{
	__u32 span = max_u32(max_u32(l->r_connection, l->r_upstream), max_u32(l->r_upstream_states, l->r_loc_conf)) + 8;
	const struct user_block *b = copy_block(r, span);
	if (b) {
		out->connection = block_u64(b, l->r_connection);
		out->upstream = block_u64(b, l->r_upstream);
		out->states = block_u64(b, l->r_upstream_states);
		out->loc_conf = l->r_loc_conf ? block_u64(b, l->r_loc_conf) : 0;
		if (block_still_mine(b))
			return true;
	}
	out->connection = counted ? user_u64(hl, r + l->r_connection) : peek_u64(r + l->r_connection);
	if (!out->connection)
		return false;
	out->upstream = user_u64(hl, r + l->r_upstream);
	out->states = user_u64(hl, r + l->r_upstream_states);
	out->loc_conf = l->r_loc_conf ? user_u64(hl, r + l->r_loc_conf) : 0;
	return true;
}

/* An upstream's u->peer.connection and u->peer.name (an ngx_str_t *); zeroes
 * without one. */
static __always_inline void read_upstream_peer(const struct w5_nginx_layout *l, struct w5_layout_health *hl,
					       __u64 u, __u64 *connection, __u64 *name)
{
	*connection = 0;
	*name = 0;
	if (!u)
		return;
	const struct user_block *b = copy_block(u + l->u_peer, max_u32(l->pc_connection, l->pc_name) + 8);
	if (b) {
		*connection = block_u64(b, l->pc_connection);
		*name = block_u64(b, l->pc_name);
		if (block_still_mine(b))
			return;
	}
	*connection = user_u64(hl, u + l->u_peer + l->pc_connection);
	*name = user_u64(hl, u + l->u_peer + l->pc_name);
}

/* What the log uprobe reads of the ngx_log_t it is given. */
struct nginx_log {
	__u64 data;       /* log->data: an ngx_http_log_ctx_t for an HTTP request's log */
	__u64 connection; /* log->connection: the number nginx logs */
	__u64 action;     /* log->action */
};

static __always_inline void read_nginx_log(const struct w5_nginx_layout *l, struct w5_layout_health *hl,
					   __u64 log, struct nginx_log *out)
{
	__u32 span = max_u32(max_u32(l->log_data, l->log_connection), l->log_action) + 8;
	const struct user_block *b = copy_block(log, span);
	if (b) {
		out->data = block_u64(b, l->log_data);
		out->connection = block_u64(b, l->log_connection);
		out->action = block_u64(b, l->log_action);
		if (block_still_mine(b))
			return;
	}
	out->data = peek_u64(log + l->log_data);
	out->connection = user_u64(hl, log + l->log_connection);
	out->action = user_u64(hl, log + l->log_action);
}

/* An ngx_http_log_ctx_t's connection and request (its current one, a
 * subrequest's, else the main one); neither counts as a read failure, as
 * log->data need not be one (see peek_u64). */
static __always_inline void read_http_log_ctx(const struct w5_nginx_layout *l, __u64 log_ctx, __u64 *connection,
					      __u64 *request)
{
	__u32 span = max_u32(l->ctx_request, l->ctx_current_request) + 8;
	const struct user_block *b = copy_block(log_ctx, span);
	if (b) {
		*connection = block_u64(b, 0);
		*request = block_u64(b, l->ctx_current_request);
		if (!*request)
			*request = block_u64(b, l->ctx_request);
		if (block_still_mine(b))
			return;
	}
	*connection = peek_u64(log_ctx);
	*request = peek_u64(log_ctx + l->ctx_current_request);
	if (!*request)
		*request = peek_u64(log_ctx + l->ctx_request);
}

#define W5_PEER_NAME_MAX 1024 /* longer is no address or upstream name */
#define W5_PEER_NAME_PROBE 16 /* bytes of it looked at */

/* W5_CHECK_PEER_NAME for one ngx_str_t *: 0 when it holds, or is NULL or
 * empty (nothing to judge). */
static __always_inline __u32 check_peer_name(struct w5_layout_health *hl, __u64 str_addr)
{
	struct {
		__u64 len;
		__u64 data;
	} s = {};
	if (!str_addr)
		return 0;
	if (read_user(hl, &s, sizeof(s), str_addr))
		return W5_CHECK_PEER_NAME;
	if (s.len == 0)
		return 0;
	if (s.len > W5_PEER_NAME_MAX)
		return W5_CHECK_PEER_NAME;
	char head[W5_PEER_NAME_PROBE] = {};
	__u32 n = s.len < W5_PEER_NAME_PROBE - 1 ? (__u32)s.len : W5_PEER_NAME_PROBE - 1;
	n &= W5_PEER_NAME_PROBE - 1;
	if (n && read_user(hl, head, n, s.data))
		return W5_CHECK_PEER_NAME;
	for (__u32 i = 0; i < W5_PEER_NAME_PROBE; i++) {
		if (i >= n)
			break;
		if (head[i] <= ' ' || head[i] > '~')
			return W5_CHECK_PEER_NAME;
	}
	return 0;
}

#define W5_LAYOUT_TRUSTED 64
#define W5_LAYOUT_RECHECK 64

/* The live layout checks, on the request an event is about (its client
 * connection's fd, its r->upstream_states, its upstream u or 0). On a failure
 * the slot is marked for good and the caller emits nothing: userspace detaches
 * this binary's uprobes and attributes it kernel-only, rather than report what
 * wrong offsets read. */
static __always_inline bool layout_holds(const struct w5_nginx_layout *l, struct w5_layout_health *hl,
					 __s32 client_fd, __u64 states, __u64 u)
{
	/* A layout is of the binary, which does not change under a running
	 * process: once it has held on W5_LAYOUT_TRUSTED events, one event in
	 * W5_LAYOUT_RECHECK is checked again, and the rest go without the dozen
	 * reads the checks cost. */
	if (hl->checked >= W5_LAYOUT_TRUSTED && bpf_get_prandom_u32() % W5_LAYOUT_RECHECK)
		return true;
	__u32 failed = 0;
	/* A closed connection's fd is -1: nothing to judge. */
	if (client_fd >= 0 && !fd_to_sock(client_fd))
		failed |= W5_CHECK_CLIENT_FD;

	if (states) {
		struct {
			__u64 elts;
			__u64 nelts;
			__u64 size;
			__u64 nalloc;
		} a = {};
		if (read_user(hl, &a, sizeof(a), states) || a.size != l->state_size || a.nelts > a.nalloc) {
			failed |= W5_CHECK_STATE_SIZE;
			hl->seen_state_size = (__u32)a.size;
		} else if (a.nelts && a.nelts <= W5_PEER_NAME_MAX) {
			__u64 last = a.elts + (a.nelts - 1) * l->state_size;
			failed |= check_peer_name(hl, user_u64(hl, last + l->state_peer));
		}
	}
	if (u)
		failed |= check_peer_name(hl, user_u64(hl, u + l->u_peer + l->pc_name));

	if (failed) {
		__sync_fetch_and_or(&hl->failed, failed);
		return false;
	}
	__sync_fetch_and_add(&hl->checked, 1);
	return true;
}

/* c->requests, which tells the requests of one client connection apart (an
 * earlier one may have left its memory to this one); 0, unknown, unless
 * c->number reads back as the connection's number, so that a wrong offset in
 * a layout leaves the engine as it was without it. */
static __always_inline __u32 connection_requests(const struct client_connection *c, __u64 number)
{
	if (!number || c->number != number)
		return 0;
	return (__u32)c->requests;
}

#define W5_WANTS_CSTR 1u    /* %s, %*s */
#define W5_WANTS_NGX_STR 2u /* %V, %v */

/* The state of format_argument_reads()'s walk over a format. */
struct format_walk {
	char fmt[2 * W5_FMT_LEN];
	__u32 wants;
	__u32 word;
	bool in_directive;
};

/* One character of the format: the directives are ngx_vslprintf's, parsed as
 * format_into() in userspace parses them, which must stay in step. */
static long format_walk_step(__u64 i, struct format_walk *w)
{
	if (i >= sizeof(w->fmt) || w->word >= W5_LOG_ARGS)
		return 1;
	char c = w->fmt[i];
	if (c == 0)
		return 1;
	if (!w->in_directive) {
		w->in_directive = c == '%';
		return 0;
	}
	if ((c >= '0' && c <= '9') || c == '.' || c == 'u' || c == 'm' || c == 'X' || c == 'x')
		return 0;
	if (c == '*') { /* a width or length taken from a word */
		w->word++;
		return 0;
	}
	w->in_directive = false;
	if (c == '%' || c == 'Z' || c == 'N' || c == 'f') /* 'f': a double, in no word we see */
		return 0;
	if (c == 's')
		w->wants |= W5_WANTS_CSTR << (2 * w->word);
	else if (c == 'V' || c == 'v')
		w->wants |= W5_WANTS_NGX_STR << (2 * w->word);
	w->word++;
	return 0;
}

/* Which variadic words of ngx_log_error_core a format reads, and how: two
 * bits per word (W5_WANTS_* << 2 * word; numbers and unknown directives take
 * a word and want nothing read through it). Following a word that is no
 * pointer costs a faulting read or three, so only these are followed. The
 * walk is a bpf_loop, verified once: a plain loop's paths multiply past the
 * verifier's limit. The format is read again onto the stack, as a global
 * function may not take the event's memory. */
__noinline __u32 format_argument_reads(__u64 fmt_addr)
{
	struct format_walk w = {};
	if (bpf_probe_read_user_str(w.fmt, sizeof(w.fmt), (const void *)fmt_addr) <= 0)
		return 0;
	bpf_loop(sizeof(w.fmt), format_walk_step, &w, 0);
	return w.wants;
}

/* One variadic argument word and what it points to, the way its directive
 * means it (see struct w5_log_arg). */
static __always_inline void read_log_arg(__u64 word, struct w5_log_arg *a, __u32 wants)
{
	a->word = word;
	if (word < 4096)
		return;
	if ((wants & W5_WANTS_CSTR) && bpf_probe_read_user_str(a->cstr, sizeof(a->cstr), (const void *)word) > 0)
		a->readable |= W5_ARG_CSTR;
	if (!(wants & W5_WANTS_NGX_STR))
		return;
	struct {
		__u64 len;
		__u64 data;
	} s = {};
	if (bpf_probe_read_user(&s, sizeof(s), (const void *)word))
		return;
	a->str_len = s.len;
	__u64 n = s.len < W5_ARG_TEXT_LEN - 1 ? s.len : W5_ARG_TEXT_LEN - 1;
	n &= (W5_ARG_TEXT_LEN - 1);
	if (n == 0 || bpf_probe_read_user(a->ngx_str, n, (const void *)s.data) == 0)
		a->readable |= W5_ARG_NGX_STR;
}

/* Messages whose arguments are bytes of an upstream's response or a client's
 * request ("upstream sent invalid header: ..."): their text is not copied
 * (no header is ever read). Mirrors withholds_argument_text() in userspace. */
static __always_inline bool withholds_text(const char *fmt)
{
	const char upstream[] = "upstream sent";
	const char client[] = "client sent";
	bool is_upstream = true, is_client = true;
#pragma unroll
	for (int i = 0; i < (int)sizeof(upstream) - 1; i++) {
		if (fmt[i] != upstream[i])
			is_upstream = false;
		if (i < (int)sizeof(client) - 1 && fmt[i] != client[i])
			is_client = false;
	}
	return is_upstream || is_client;
}

/* ngx_log_error_core(level, log, err, fmt, ...): on x86-64 the variadic
 * words are in r8 and r9, then on the stack above the return address. Every
 * word is sent; only those the format reads as text are followed. */
static __always_inline void read_log_args(struct pt_regs *ctx, __u64 fmt, struct w5_ngx_log *e)
{
	__u64 words[W5_LOG_ARGS] = {};
	words[0] = PT_REGS_PARM5(ctx);
	words[1] = ctx->r9; /* libbpf 1.1 has no PT_REGS_PARM6 */
	__u64 stack_args = PT_REGS_SP(ctx) + 8;
	if (bpf_probe_read_user(&words[2], (W5_LOG_ARGS - 2) * sizeof(__u64), (const void *)stack_args))
		return;
	const __u32 wants = withholds_text(e->fmt) ? 0 : format_argument_reads(fmt);
	for (int i = 0; i < W5_LOG_ARGS; i++)
		read_log_arg(words[i], &e->args[i], (wants >> (2 * i)) & 3);
	e->n_args = W5_LOG_ARGS;
}

/* W5_EV_UPSTREAM_REUSE for a failure on an upstream connection that carried
 * earlier requests (c->requests counts them, this one included, at
 * requests_addr: the client connection's offset, trusted once that read
 * back). The failure path only: a healthy request never comes here. A global
 * function, verified once on its own: inlined, it took the log uprobe past
 * the verifier's complexity limit. Scalars only, as a global function's
 * arguments must be. */
__noinline int emit_upstream_reuse(__u64 r, __u64 number, __u64 requests_addr, __u64 sk_addr)
{
	__u64 carried = 0;
	if (bpf_probe_read_user(&carried, sizeof(carried), (const void *)requests_addr) || carried < 2)
		return 0;
	struct w5_upstream_reuse *e = reserve_event(sizeof(*e), W5_EV_UPSTREAM_REUSE);
	if (!e)
		return 0;
	const struct sock *sk = (const struct sock *)sk_addr;
	e->request = r;
	e->connection = number;
	e->upstream_sk = sk_addr;
	e->upstream_requests = carried > 0xffffffffULL ? 0xffffffffU : (__u32)carried;
	e->tcp_state = BPF_CORE_READ(sk, __sk_common.skc_state);
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (kernel_hz && (family == AF_INET || family == AF_INET6)) {
		const struct tcp_sock *tp = (const struct tcp_sock *)sk;
		e->hz = kernel_hz;
		e->srtt_us = BPF_CORE_READ(tp, srtt_us) >> 3; /* kept scaled by 8 */
		e->now_jiffies = (__u32)bpf_jiffies64();
		e->sent_jiffies = BPF_CORE_READ(tp, lsndtime);
		e->data_in_jiffies = BPF_CORE_READ(tp, inet_conn.icsk_ack.lrcvtime);
		e->ack_in_jiffies = BPF_CORE_READ(tp, rcv_tstamp);
	}
	submit_event(e);
	return 1;
}

/* The kernel socket of an upstream connection c (its fd at c_fd), as an
 * address; 0 when there is none. Global, for the reason above: the log
 * uprobe needs it before it reserves its event. */
__noinline __u64 upstream_socket(struct w5_layout_health *hl, __u64 c, __u32 c_fd)
{
	__s32 fd = -1;
	if (!hl || !c)
		return 0;
	if (bpf_probe_read_user(&fd, sizeof(fd), (const void *)(c + c_fd))) {
		__sync_fetch_and_add(&hl->read_failures, 1);
		return 0;
	}
	return (__u64)fd_to_sock(fd);
}

SEC("uprobe")
int BPF_KPROBE(ngx_log_error_core_entry, __u64 level, __u64 log, __s32 err, const char *fmt)
{
	if (level > NGX_LOG_WARN || !admit_current_process())
		return 0;
	const struct w5_nginx_layout *l = layout_of(ctx);
	struct w5_layout_health *hl = health_of(ctx);
	if (!l || !hl || hl->failed)
		return 0;

	/* Only logs written in the context of an HTTP request: log->data is an
	 * ngx_http_log_ctx_t whose request belongs to its connection. */
	struct nginx_log nl = {};
	read_nginx_log(l, hl, log, &nl);
	if (!nl.data)
		return 0;
	__u64 client_conn = 0, r = 0;
	read_http_log_ctx(l, nl.data, &client_conn, &r);
	struct nginx_request rq = {};
	if (!r || !client_conn || !read_request(l, hl, r, false, &rq) || rq.connection != client_conn)
		return 0;
	__u64 u = rq.upstream;
	struct client_connection cc = {};
	read_client_connection(l, hl, client_conn, &cc);
	if (!layout_holds(l, hl, cc.fd, rq.states, u))
		return 0;

	__u64 number = nl.connection;
	__u32 requests = connection_requests(&cc, number);
	__u64 upstream_conn = 0, peer_name = 0;
	read_upstream_peer(l, hl, u, &upstream_conn, &peer_name);
	__u64 upstream_sk = upstream_socket(hl, upstream_conn, l->c_fd);
	/* Before the log event, so that it is there when the engine reads that. */
	if (upstream_sk && requests)
		emit_upstream_reuse(r, number, upstream_conn + l->c_requests, upstream_sk);

	struct w5_ngx_log *e = reserve_event(sizeof(*e), W5_EV_NGX_LOG);
	if (!e)
		return 0;
	/* Stored at once: a value kept in a register across the argument reads
	 * below doubles the paths the verifier walks. */
	e->request = r;
	e->connection = number;
	e->requests = requests;
	e->upstream_sk = upstream_sk;
	e->level = (__u32)level;
	e->err = err;
	read_user_sockaddr(hl, cc.sockaddr, &e->client);
	/* A format longer than fmt[] goes on in fmt_rest[]. Neither it nor the
	 * arguments (any word may or may not be a pointer) count as read failures. */
	if (bpf_probe_read_user_str(e->fmt, sizeof(e->fmt), fmt) == sizeof(e->fmt))
		bpf_probe_read_user_str(e->fmt_rest, sizeof(e->fmt_rest), fmt + sizeof(e->fmt) - 1);
	read_log_args(ctx, (__u64)fmt, e);
	if (nl.action)
		read_user_str(hl, e->action, sizeof(e->action), nl.action);

	if (u) {
		struct sock *client_sk = fd_to_sock(cc.fd);
		e->client_sk = (__u64)client_sk;
		if (client_sk && client_responses_traced) {
			__u32 tgid = e->h.tgid;
			if (store_or_count(&clients_with_failures, &e->client_sk, &tgid, BPF_NOEXIST,
					   W5_LOST_MAP_FULL) == 0)
				__sync_fetch_and_add(&clients_with_failures_added, 1);
		}
		read_ngx_str(hl, peer_name, e->peer, sizeof(e->peer));
		if (e->upstream_sk)
			read_sock_addrs((const struct sock *)e->upstream_sk, &e->upstream_local, &e->upstream);
	}
	submit_event(e);
	return 0;
}

static __always_inline void read_upstream_state(const struct w5_nginx_layout *l, struct w5_layout_health *hl,
						__u64 state, struct w5_upstream_state *out)
{
	__u32 span = max_u32(max_u32(l->state_status, l->state_response_time),
			     max_u32(l->state_connect_time, l->state_header_time));
	span = max_u32(span, max_u32(max_u32(l->state_bytes_received, l->state_bytes_sent), l->state_peer)) + 8;
	__u64 peer = 0;
	const struct user_block *b = copy_block(state, span);
	if (b) {
		out->status = (__u32)block_u64(b, l->state_status);
		out->response_ms = block_u64(b, l->state_response_time);
		out->connect_ms = block_u64(b, l->state_connect_time);
		out->header_ms = block_u64(b, l->state_header_time);
		out->bytes_received = block_u64(b, l->state_bytes_received);
		out->bytes_sent = block_u64(b, l->state_bytes_sent);
		peer = block_u64(b, l->state_peer);
	}
	if (!b || !block_still_mine(b)) {
		out->status = (__u32)user_u64(hl, state + l->state_status);
		out->response_ms = user_u64(hl, state + l->state_response_time);
		out->connect_ms = user_u64(hl, state + l->state_connect_time);
		out->header_ms = user_u64(hl, state + l->state_header_time);
		out->bytes_received = user_u64(hl, state + l->state_bytes_received);
		out->bytes_sent = user_u64(hl, state + l->state_bytes_sent);
		peer = user_u64(hl, state + l->state_peer);
	}
	read_ngx_str(hl, peer, out->peer, sizeof(out->peer));
}

/* W5_EV_NGX_LOCATION: the name of r's location, r->loc_conf[0] being the
 * core module's ngx_http_core_loc_conf_t (ngx_http_core_module.ctx_index is
 * 0: the first NGX_HTTP_MODULE), whose first member is ngx_str_t name. */
static __always_inline void emit_location(const struct w5_nginx_layout *l, struct w5_layout_health *hl, __u64 r,
					  __u64 loc_conf, __u64 connection)
{
	__u64 clcf = user_u64(hl, loc_conf);
	if (!clcf)
		return;
	struct {
		__u64 len;
		__u64 data;
	} name = {};
	if (read_user(hl, &name, sizeof(name), clcf) || !name.len || !name.data)
		return;
	struct w5_ngx_location *e = reserve_event(sizeof(*e), W5_EV_NGX_LOCATION);
	if (!e)
		return;
	e->request = r;
	e->connection = connection;
	e->len = name.len > 0xffffffffull ? 0xffffffffu : (__u32)name.len;
	__u32 n = name.len < W5_LOCATION_LEN - 1 ? (__u32)name.len : W5_LOCATION_LEN - 1;
	n &= W5_LOCATION_LEN - 1;
	if (n && read_user(hl, e->name, n, name.data) == 0)
		e->name[n] = 0;
	submit_event(e);
}

SEC("uprobe")
int BPF_KPROBE(ngx_special_response_entry, __u64 r, __u64 status)
{
	if (status != 500 && status != 502 && status != 503 && status != 504)
		return 0;
	if (!admit_current_process())
		return 0;
	const struct w5_nginx_layout *l = layout_of(ctx);
	struct w5_layout_health *hl = health_of(ctx);
	if (!l || !hl || hl->failed || !r)
		return 0;

	struct nginx_request rq = {};
	read_request(l, hl, r, true, &rq);
	__u64 u = rq.upstream;
	struct client_connection cc = {};
	read_client_connection(l, hl, rq.connection, &cc);
	if (!layout_holds(l, hl, cc.fd, rq.states, u))
		return 0;
	/* The number nginx logs for the connection (ngx_log_t.connection). */
	const __u64 number = cc.log ? user_u64(hl, cc.log + l->log_connection) : 0;
	if (capture_request_line && l->r_request_line) {
		struct w5_request_line *line = reserve_event(sizeof(*line), W5_EV_REQUEST_LINE);
		if (line) {
			line->request = r;
			line->connection = number;
			__u64 len = user_u64(hl, r + l->r_request_line);
			__u64 data = user_u64(hl, r + l->r_request_line + 8);
			line->len = (__u32)len;
			__u32 n = len < W5_REQUEST_LINE_LEN - 1 ? (__u32)len : W5_REQUEST_LINE_LEN - 1;
			if (data && n)
				read_user(hl, line->line, n, data);
			submit_event(line);
		}
	}

	/* No upstream: a status nginx's configuration made; say where. */
	if (!u && l->r_loc_conf)
		emit_location(l, hl, r, rq.loc_conf, number);

	struct w5_ngx_error_page *e = reserve_event(sizeof(*e), W5_EV_NGX_ERROR_PAGE);
	if (!e)
		return 0;
	e->request = r;
	e->status = (__u32)status;

	e->connection = number;
	e->requests = connection_requests(&cc, number);
	read_user_sockaddr(hl, cc.sockaddr, &e->client);
	e->client_sk = (__u64)fd_to_sock(cc.fd);

	e->has_upstream = u != 0;
	if (u)
		read_ngx_str(hl, user_u64(hl, u + l->u_peer + l->pc_name), e->peer, sizeof(e->peer));

	struct {
		__u64 elts;
		__u64 nelts;
	} a = {};
	if (rq.states && read_user(hl, &a, sizeof(a), rq.states) == 0) {
		__u64 elts = a.elts, nelts = a.nelts;
		e->n_states = (__u32)nelts;
		/* The last attempts matter most: with more than fit, keep the last. */
		__u64 first = nelts > W5_MAX_STATES ? nelts - W5_MAX_STATES : 0;
		for (__u32 i = 0; i < W5_MAX_STATES; i++) {
			if (first + i >= nelts)
				break;
			read_upstream_state(l, hl, elts + (first + i) * l->state_size, &e->states[i]);
		}
	}
	submit_event(e);
	return 0;
}

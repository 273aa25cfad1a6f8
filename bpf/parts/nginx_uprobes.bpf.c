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
	__uint(map_flags, BPF_F_MMAPABLE); /* userspace reads it per event, mapped */
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
	note_nginx_cgroup();
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
	__u8 sa[W5_SOCKADDR_LEN] = {};
	if (!addr || read_user(hl, sa, sizeof(sa), addr))
		return;
	sockaddr_to_addr(sa, out);
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
 * subrequest's, else the main one), and whether that is a subrequest (the
 * current request is not the main one); none counts as a read failure, as
 * log->data need not be one (see peek_u64). */
static __always_inline void read_http_log_ctx(const struct w5_nginx_layout *l, __u64 log_ctx, __u64 *connection,
					      __u64 *request, bool *subrequest)
{
	__u32 span = max_u32(l->ctx_request, l->ctx_current_request) + 8;
	__u64 current = 0, main = 0;
	const struct user_block *b = copy_block(log_ctx, span);
	if (b) {
		*connection = block_u64(b, 0);
		current = block_u64(b, l->ctx_current_request);
		main = block_u64(b, l->ctx_request);
	}
	if (!b || !block_still_mine(b)) {
		*connection = peek_u64(log_ctx);
		current = peek_u64(log_ctx + l->ctx_current_request);
		main = peek_u64(log_ctx + l->ctx_request);
	}
	*request = current ? current : main;
	*subrequest = current && main && current != main;
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

/* A layout is of the binary, which does not change under a running process:
 * once it has held on W5_LAYOUT_TRUSTED events, one event in
 * W5_LAYOUT_RECHECK is checked again (layout_holds), and the rest go without
 * the dozen reads the checks cost. */
static __always_inline bool layout_check_due(const struct w5_layout_health *hl)
{
	return hl->checked < W5_LAYOUT_TRUSTED || bpf_get_prandom_u32() % W5_LAYOUT_RECHECK == 0;
}

/* The live layout checks, on the request an event is about (its client
 * connection's fd, its r->upstream_states, its upstream u or 0). On a failure
 * the slot is marked for good and the caller emits nothing: userspace detaches
 * this binary's uprobes and attributes it kernel-only, rather than report what
 * wrong offsets read. */
static __always_inline bool layout_holds(const struct w5_nginx_layout *l, struct w5_layout_health *hl,
					 __s32 client_fd, __u64 states, __u64 u)
{
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

#define W5_WANTS_CSTR 1u    /* %s */
#define W5_WANTS_NGX_STR 2u /* %V, %v */
/* %*s: as many bytes as the word before says, which may be no C string (a
 * FastCGI record's text, an OpenSSL error in a buffer): nothing past them
 * is copied. */
#define W5_WANTS_SIZED_CSTR 3u
/* format_argument_reads(): the W5_WANTS_* bits of each word in its low 16
 * bits (2 per word), and how many words the format reads above them. */
#define W5_READS_WANTS(reads) ((reads) & 0xffff)
#define W5_READS_WORDS(reads) ((reads) >> 16)

/* The state of format_argument_reads()'s walk over a format. */
struct format_walk {
	char fmt[W5_FMT_LEN]; /* the part of the format walked now */
	__u32 wants;
	__u32 word;
	bool in_directive;
	bool sized;           /* the directive took its length from a word ('*') */
	bool ended;           /* at the format's NUL, or its last word */
};

/* One character of the format: the directives are ngx_vslprintf's, parsed as
 * format_into() in userspace parses them, which must stay in step. */
static long format_walk_step(__u64 i, struct format_walk *w)
{
	if (i >= sizeof(w->fmt))
		return 1;
	char c = w->fmt[i];
	if (c == 0 || w->word >= W5_LOG_ARGS) {
		w->ended = i < sizeof(w->fmt) - 1 || w->word >= W5_LOG_ARGS;
		return 1;
	}
	if (!w->in_directive) {
		w->in_directive = c == '%';
		return 0;
	}
	if ((c >= '0' && c <= '9') || c == '.' || c == 'u' || c == 'm' || c == 'X' || c == 'x')
		return 0;
	if (c == '*') { /* a width or length taken from a word */
		w->word++;
		w->sized = true;
		return 0;
	}
	w->in_directive = false;
	bool sized = w->sized;
	w->sized = false;
	if (c == '%' || c == 'Z' || c == 'N' || c == 'f') /* 'f': a double, in no word we see */
		return 0;
	if (c == 's')
		w->wants |= (sized ? W5_WANTS_SIZED_CSTR : W5_WANTS_CSTR) << (2 * w->word);
	else if (c == 'V' || c == 'v')
		w->wants |= W5_WANTS_NGX_STR << (2 * w->word);
	w->word++;
	return 0;
}

/* Which variadic words of ngx_log_error_core a format reads, and how (see
 * W5_READS_*; numbers and unknown directives take a word and want nothing
 * read through it). Following a word that is no pointer costs a faulting
 * read or three, so only these are followed; and two failures are the same
 * only in the words their format reads. The walk is a bpf_loop, verified
 * once: a plain loop's paths multiply past the verifier's limit. */
__noinline __u32 format_argument_reads(__u64 fmt_addr)
{
	/* The format's first 2 * (W5_FMT_LEN - 1) bytes, as the event carries
	 * them (fmt, fmt_rest), in two parts: one would take the stack past
	 * its limit. */
	struct format_walk w = {};
	for (int part = 0; part < 2 && !w.ended; part++) {
		if (bpf_probe_read_user_str(w.fmt, sizeof(w.fmt), (const void *)fmt_addr) <= 0)
			break;
		bpf_loop(sizeof(w.fmt), format_walk_step, &w, 0);
		fmt_addr += sizeof(w.fmt) - 1;
	}
	return w.wants | (w.word << 16);
}

/* The argument words of one ngx_log_error_core call and what they point to,
 * built per CPU by read_log_args() and copied into the event whole. */
struct log_arguments {
	__u64 reader; /* bpf_get_current_pid_tgid() of the thread that built it */
	__u64 words[W5_LOG_ARGS];
	struct w5_log_arg args[W5_LOG_ARGS];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct log_arguments);
} log_arguments SEC(".maps");

/* ngx_log_error_core(level, log, err, fmt, ...): on x86-64 the variadic
 * words are in r8 and r9, then on the stack above the return address. Read
 * into this CPU's log_arguments, or NULL. */
static __always_inline struct log_arguments *read_log_words(struct pt_regs *ctx)
{
	__u32 zero = 0;
	struct log_arguments *a = bpf_map_lookup_elem(&log_arguments, &zero);
	if (!a)
		return NULL;
	a->reader = bpf_get_current_pid_tgid();
	a->words[0] = PT_REGS_PARM5(ctx);
	a->words[1] = ctx->r9; /* libbpf 1.1 has no PT_REGS_PARM6 */
	if (bpf_probe_read_user(&a->words[2], (W5_LOG_ARGS - 2) * sizeof(__u64), (const void *)(PT_REGS_SP(ctx) + 8)))
		return NULL;
	return a;
}

/* One variadic argument word and what it points to, the way its directive
 * means it (see struct w5_log_arg). */
static __always_inline void read_log_arg(__u64 word, __u64 size_word, struct w5_log_arg *a, __u32 wants)
{
	/* The scratch holds the last call's bytes: none may reach the event. */
	__builtin_memset(a, 0, sizeof(*a));
	a->word = word;
	if (word < 4096)
		return;
	if (wants == W5_WANTS_SIZED_CSTR) {
		__u64 n = size_word < W5_ARG_CSTR_LEN - 1 ? size_word : W5_ARG_CSTR_LEN - 1;
		n &= W5_ARG_CSTR_LEN - 1;
		/* (A failed read leaves the bytes zeroed.) */
		if (n == 0 || bpf_probe_read_user(a->cstr, n, (const void *)word) == 0)
			a->readable |= W5_ARG_CSTR;
		return;
	}
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

/* Follows the words of a (read_log_words) that the format reads as text
 * (reads: format_argument_reads()). A global function, verified once: inlined,
 * the combinations of its branches over six words took the log uprobe to
 * 790 000 verified instructions, near the verifier's limit. */
__noinline int read_log_args(struct log_arguments *a, __u32 reads)
{
	if (!a)
		return 0;
	for (int i = 0; i < W5_LOG_ARGS; i++)
		read_log_arg(a->words[i], i > 0 ? a->words[i - 1] : 0, &a->args[i], (reads >> (2 * i)) & 3);
	return 0;
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

/* W5_EV_UPSTREAM_REUSE for a failure on an upstream connection that carried
 * earlier requests (carried: its c->requests, this one included). The
 * failure path only: a healthy request never comes here. A global function,
 * verified once on its own: inlined, it took the log uprobe past the
 * verifier's complexity limit. Scalars only, as a global function's arguments
 * must be. */
__noinline int emit_upstream_reuse(__u64 r, __u64 number, __u64 carried, __u64 sk_addr)
{
	if (carried < 2 || !sk_addr)
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

/* The kernel socket behind one of the current process's descriptors, as an
 * address; 0 when there is none. Global, for the reason above. */
__noinline __u64 socket_of_fd(__s32 fd)
{
	return (__u64)fd_to_sock(fd);
}

/* What the log uprobe reads of an upstream's ngx_connection_t, in one read:
 * its descriptor and, with_requests (c_requests read back right on the
 * client's connection), c->requests. */
struct upstream_connection {
	__s32 fd;       /* -1: none, or unread */
	__u64 requests; /* requests it carried, this one included */
};

static __always_inline void read_upstream_connection(const struct w5_nginx_layout *l, struct w5_layout_health *hl,
						     __u64 c, bool with_requests, struct upstream_connection *out)
{
	out->fd = -1;
	out->requests = 0;
	if (!c)
		return;
	__u32 span = with_requests ? max_u32(l->c_fd + 4, l->c_requests + 8) : l->c_fd + 4;
	const struct user_block *b = copy_block(c, span);
	if (b) {
		out->fd = (__s32)block_u32(b, l->c_fd);
		out->requests = with_requests ? block_u64(b, l->c_requests) : 0;
		if (block_still_mine(b))
			return;
	}
	out->fd = connection_fd(l, hl, c);
	out->requests = with_requests ? user_u64(hl, c + l->c_requests) : 0;
}

/*
 * What a thread's last logged failure leaves for the next one, by thread id:
 * - the W5_EV_NGX_LOG it last sent whole: the template of W5_EV_NGX_LOG_REPEAT.
 *   While the same failure repeats (a storm), only what differs per request is
 *   read and sent: no format, no argument text, no action, no peer name.
 * - the request that failure was about: its error page takes the client's
 *   address, socket and numbers, and the peer's name, from here.
 * - without --lean, the client socket whose next response the send program
 *   reports (await_response).
 * An LRU map: a thread quiet for long loses its entry, and its next failure
 * goes whole. Userspace keeps the template of each thread as the kernel does
 * (events/log_repeats), and a repeat names its template by time, so that one
 * whose template was lost is counted, never made whole from another.
 */
struct thread_failure {
	__u64 template_ts;  /* h.ts_ns of the template; 0: none */
	__u64 fmt;          /* the template's format, its address in nginx */
	__u64 action;       /* log->action's address */
	__u64 peer_name;    /* u->peer.name's address (the text is peer below) */
	__u64 words[W5_LOG_ARGS]; /* the words its format reads; the rest 0 */
	__u32 tgid;
	__s32 err;
	__u32 level;
	__u32 reads;        /* format_argument_reads(fmt), less the withheld text */
	/* The request last logged, for its error page. */
	__u64 request;
	__u64 client_conn;
	__u64 number;
	__u64 client_sk;
	__u32 requests;
	__u32 subrequest; /* the request logged is a subrequest (SSI, mirror, auth_request) */
	struct w5_addr client;
	char peer[W5_NAME_LEN]; /* the text at peer_name */
	/* The client socket of the thread's last failure, while its next
	 * response is not sent (without --lean: see await_response). */
	__u64 awaiting_sk;
	__u32 awaiting_tgid;
	__u32 pad2;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, W5_MAX_NGINX_PROCS);
	__type(key, __u32);
	__type(value, struct thread_failure);
} thread_failures SEC(".maps");

/* Never written: a thread's first entry. */
static struct thread_failure no_thread_failure;

/* tid's entry, made when it has none; NULL when the map had no room (its
 * failures then go whole: nothing is lost). */
static __always_inline struct thread_failure *thread_failure_of(__u32 tid)
{
	struct thread_failure *tf = bpf_map_lookup_elem(&thread_failures, &tid);
	if (tf)
		return tf;
	bpf_map_update_elem(&thread_failures, &tid, &no_thread_failure, BPF_NOEXIST);
	return bpf_map_lookup_elem(&thread_failures, &tid);
}

/* Threads whose thread_failures entry holds an awaiting_sk: while it and
 * clients_with_failures_added are zero, a healthy response looks at no map. */
__u64 awaiting_threads = 0;

static __always_inline void await_in_map(__u64 client_sk, __u32 tgid)
{
	if (store_or_count(&clients_with_failures, &client_sk, &tgid, BPF_NOEXIST, W5_LOST_MAP_FULL) == 0)
		__sync_fetch_and_add(&clients_with_failures_added, 1);
}

/* The next response nginx sends on client_sk is reported, whatever it is (a
 * retry's success, or the error page's echo): the send program asks the
 * thread's entry first, which costs no map update, and clients_with_failures
 * for the rest. A thread's failure usually is the next thing it answers, but
 * while a retry runs the thread serves other clients: when one of those fails
 * first, the earlier socket moves to the map. */
static __always_inline void await_response(struct thread_failure *tf, __u64 client_sk, __u32 tgid)
{
	if (!tf) {
		await_in_map(client_sk, tgid);
		return;
	}
	if (tf->awaiting_sk == client_sk && tf->awaiting_tgid == tgid)
		return;
	if (!tf->awaiting_sk)
		__sync_fetch_and_add(&awaiting_threads, 1);
	else if (tf->awaiting_tgid == tgid) /* (another process's: a thread id reused) */
		await_in_map(tf->awaiting_sk, tgid);
	tf->awaiting_sk = client_sk;
	tf->awaiting_tgid = tgid;
}

/* Whether the first n words of a are the template's: with none to compare,
 * a need not have been read (NULL); otherwise it must still be this
 * thread's (reader). */
static __always_inline bool same_words(const struct thread_failure *tf, const struct log_arguments *a, __u32 n,
				       __u64 reader)
{
	if (n == 0)
		return true;
	if (!a || a->reader != reader)
		return false;
	__u64 differ = 0;
#pragma unroll
	for (int i = 0; i < W5_LOG_ARGS; i++)
		if (i < n)
			differ |= a->words[i] ^ tf->words[i];
	return differ == 0;
}

/* Whether tf (or NULL) holds a template of this process's format fmt. */
static __always_inline bool template_of_format(const struct thread_failure *tf, __u32 tgid, __u64 fmt)
{
	return tf && tf->template_ts && tf->tgid == tgid && tf->fmt == fmt;
}

/* The failure being logged is the template in tf (which may be NULL) again:
 * the same process, format (an address in nginx's read-only data: the same
 * text), argument words (numbers; a format that reads text through a word
 * never repeats), errno, level, action and upstream peer. */
static __always_inline bool repeats_template(const struct thread_failure *tf, const struct log_arguments *a,
					     __u64 pid_tgid, __u64 fmt, __s32 err, __u64 level, __u64 action,
					     __u64 peer_name)
{
	return template_of_format(tf, pid_tgid >> 32, fmt) && tf->err == err && tf->level == level &&
	       tf->action == action && tf->peer_name == peer_name &&
	       W5_READS_WANTS(tf->reads) == 0 && same_words(tf, a, W5_READS_WORDS(tf->reads), pid_tgid);
}

/* Whether the thread's template is of this format and reads none of its
 * words: then whether this call repeats it needs no word (most of nginx's
 * upstream failures, "connect() failed" and "upstream timed out" among them,
 * pass none), and the stack is read only if it does not. */
static __always_inline bool template_reads_no_words(const struct thread_failure *tf, __u32 tgid, __u64 fmt)
{
	return template_of_format(tf, tgid, fmt) && tf->reads == 0;
}

/* The request a log event (whole or a repeat) was about, for its error page
 * (the client's address is copied from the event). */
static __always_inline void note_logged_request(struct thread_failure *tf, __u64 r, __u64 client_conn, __u64 number,
						__u32 requests, __u64 client_sk, bool subrequest)
{
	tf->request = r;
	tf->client_conn = client_conn;
	tf->number = number;
	tf->requests = requests;
	tf->client_sk = client_sk;
	tf->subrequest = subrequest;
}

/* A whole log event becomes its thread's template. */
static __always_inline void note_template(struct thread_failure *tf, const struct w5_ngx_log *e,
					  const struct log_arguments *a, __u64 fmt, __u64 action, __u64 peer_name,
					  __u32 reads)
{
	tf->template_ts = e->h.ts_ns;
	tf->tgid = e->h.tgid;
	tf->fmt = fmt;
	tf->err = e->err;
	tf->level = e->level;
	tf->action = action;
	tf->peer_name = peer_name;
	tf->reads = reads;
	__u32 n = W5_READS_WORDS(reads);
#pragma unroll
	for (int i = 0; i < W5_LOG_ARGS; i++)
		tf->words[i] = i < n ? a->words[i] : 0;
	__builtin_memcpy(tf->peer, e->peer, sizeof(tf->peer));
}

/* W5_EV_NGX_LOG_REPEAT of tf's template (its client's address goes to tf
 * too); false when the ring had no room. */
static __always_inline bool emit_log_repeat(struct w5_layout_health *hl, struct thread_failure *tf, __u64 r,
					    __u64 number, __u32 requests, __u64 upstream_sk, __u64 client_sk,
					    __u64 client_sockaddr)
{
	struct w5_ngx_log_repeat *e = reserve_event(sizeof(*e), W5_EV_NGX_LOG_REPEAT);
	if (!e)
		return false;
	e->template_ts = tf->template_ts;
	e->request = r;
	e->connection = number;
	e->requests = requests;
	e->upstream_sk = upstream_sk;
	e->client_sk = client_sk;
	read_user_sockaddr(hl, client_sockaddr, &e->client);
	if (upstream_sk)
		read_sock_addrs((const struct sock *)upstream_sk, &e->upstream_local, &e->upstream);
	__builtin_memcpy(&tf->client, &e->client, sizeof(tf->client));
	submit_event(e);
	return true;
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
	bool subrequest = false;
	read_http_log_ctx(l, nl.data, &client_conn, &r, &subrequest);
	struct nginx_request rq = {};
	if (!r || !client_conn || !read_request(l, hl, r, false, &rq) || rq.connection != client_conn)
		return 0;
	__u64 u = rq.upstream;
	struct client_connection cc = {};
	read_client_connection(l, hl, client_conn, &cc);
	if (layout_check_due(hl) && !layout_holds(l, hl, cc.fd, rq.states, u))
		return 0;

	const __u64 pid_tgid = bpf_get_current_pid_tgid();
	const __u32 tgid = pid_tgid >> 32;
	__u64 number = nl.connection;
	__u32 requests = connection_requests(&cc, number);
	__u64 upstream_conn = 0, peer_name = 0;
	read_upstream_peer(l, hl, u, &upstream_conn, &peer_name);
	struct upstream_connection uc = {};
	read_upstream_connection(l, hl, upstream_conn, requests != 0 && l->c_requests, &uc);
	__u64 upstream_sk = uc.fd >= 0 ? socket_of_fd(uc.fd) : 0;
	/* Before the log event, so that it is there when the engine reads that. */
	if (upstream_sk && requests)
		emit_upstream_reuse(r, number, uc.requests, upstream_sk);
	__u64 client_sk = 0;
	if (u)
		client_sk = cc.fd >= 0 ? socket_of_fd(cc.fd) : 0;

	struct thread_failure *tf = thread_failure_of((__u32)pid_tgid);
	/* (A subrequest's failure is not its client's: the next response on
	 * that connection is the main request's.) */
	if (client_sk && client_responses_traced && !subrequest)
		await_response(tf, client_sk, tgid);
	struct log_arguments *a = template_reads_no_words(tf, tgid, (__u64)fmt) ? NULL : read_log_words(ctx);
	if (repeats_template(tf, a, pid_tgid, (__u64)fmt, err, level, nl.action, peer_name)) {
		if (emit_log_repeat(hl, tf, r, number, requests, upstream_sk, client_sk, cc.sockaddr))
			note_logged_request(tf, r, client_conn, number, requests, client_sk, subrequest);
		return 0;
	}
	if (!a)
		a = read_log_words(ctx);

	struct w5_ngx_log *e = reserve_event(sizeof(*e), W5_EV_NGX_LOG);
	if (!e)
		return 0;
	/* Stored at once: a value kept in a register across the reads below
	 * doubles the paths the verifier walks. */
	e->request = r;
	e->connection = number;
	e->requests = requests;
	e->upstream_sk = upstream_sk;
	e->client_sk = client_sk;
	e->level = (__u32)level;
	e->err = err;
	e->fmt_addr = (__u64)fmt;
	read_user_sockaddr(hl, cc.sockaddr, &e->client);
	/* A format longer than fmt[] goes on in fmt_rest[]. Neither it nor the
	 * arguments (any word may or may not be a pointer) count as read failures. */
	if (bpf_probe_read_user_str(e->fmt, sizeof(e->fmt), fmt) == sizeof(e->fmt))
		bpf_probe_read_user_str(e->fmt_rest, sizeof(e->fmt_rest), fmt + sizeof(e->fmt) - 1);
	/* What the format reads is the thread's last answer while its format is
	 * the same one. */
	__u32 reads = 0;
	if (template_of_format(tf, tgid, (__u64)fmt))
		reads = tf->reads;
	else
		reads = withholds_text(e->fmt) ? W5_READS_WORDS(format_argument_reads((__u64)fmt)) << 16
					       : format_argument_reads((__u64)fmt);
	bool args_whole = false;
	if (a) {
		read_log_args(a, reads);
		bpf_probe_read_kernel(e->args, sizeof(e->args), a->args);
		/* Another thread on this CPU may have used the scratch meanwhile
		 * (a uprobe program can be preempted): then none of it is sent. */
		args_whole = a->reader == pid_tgid;
		if (args_whole)
			e->n_args = W5_LOG_ARGS;
		else
			bpf_probe_read_kernel(e->args, sizeof(e->args), w5_zeroes);
	}
	if (nl.action)
		read_user_str(hl, e->action, sizeof(e->action), nl.action);
	if (u) {
		read_ngx_str(hl, peer_name, e->peer, sizeof(e->peer));
		if (upstream_sk)
			read_sock_addrs((const struct sock *)upstream_sk, &e->upstream_local, &e->upstream);
	}
	if (tf) {
		note_logged_request(tf, r, client_conn, number, requests, client_sk, subrequest);
		__builtin_memcpy(&tf->client, &e->client, sizeof(tf->client));
		/* nginx's formats are in its read-only data, which a worker may not
		 * have touched since its fork, and a uprobe cannot fault a page in:
		 * an unread format makes no template, so the next failure reads it
		 * again (nginx has read it meanwhile). */
		if (args_whole && e->fmt[0])
			note_template(tf, e, a, (__u64)fmt, nl.action, peer_name, reads);
		else
			tf->template_ts = 0;
	}
	submit_event(e);
	return 0;
}

/* One ngx_http_upstream_state_t, but its peer's name: the address of that
 * ngx_str_t is returned (see put_peer_name). */
static __always_inline __u64 read_upstream_state(const struct w5_nginx_layout *l, struct w5_layout_health *hl,
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
	return peer;
}

/* The name at peer (an ngx_str_t * of nginx's) into out: copied from the
 * thread's last failure when that named the same peer (tf: of this process,
 * or NULL), else read. */
static __always_inline void put_peer_name(struct w5_layout_health *hl, const struct thread_failure *tf, __u64 peer,
					  char *out)
{
	if (tf && peer && peer == tf->peer_name)
		__builtin_memcpy(out, tf->peer, W5_NAME_LEN);
	else
		read_ngx_str(hl, peer, out, W5_NAME_LEN);
}

/* W5_EV_NGX_LOCATION: the name of r's location, from clcf, r's
 * ngx_http_core_loc_conf_t (see the page's entry), whose first member is
 * ngx_str_t name. */
static __always_inline void emit_location(struct w5_layout_health *hl, __u64 r, __u64 clcf, __u64 connection)
{
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

#define W5_MAX_ERROR_PAGES 32  /* error_page statuses of a location looked at (a list of every 4xx and 5xx has ~25) */
#define W5_ERR_PAGE_SIZE 80    /* sizeof(ngx_http_err_page_t): checked by scripts/nginx-layout.py */

/* W5_EV_NGX_ERROR_PAGE_TARGET: the error_page of r's location that names
 * status, as ngx_http_special_response_handler is about to look it up
 * (clcf->error_pages, an ngx_array_t of ngx_http_err_page_t
 * {ngx_int_t status, overwrite; ngx_http_complex_value_t value (its raw
 * ngx_str_t first); ...}). A target given by a variable is not sent: where
 * it leads is known only once nginx has evaluated it. */
static __always_inline void emit_error_page_target(const struct w5_nginx_layout *l, struct w5_layout_health *hl,
						   __u64 r, __u64 clcf, __u64 connection, __u64 status)
{
	if (!l->clcf_error_pages || !clcf)
		return;
	__u64 pages = user_u64(hl, clcf + l->clcf_error_pages);
	if (!pages)
		return;  /* no error_page in this location */
	struct {
		__u64 elts;
		__u64 nelts;
	} a = {};
	if (read_user(hl, &a, sizeof(a), pages) || !a.elts)
		return;
	for (__u32 i = 0; i < W5_MAX_ERROR_PAGES; i++) {
		if (i >= a.nelts)
			return;
		struct {
			__s64 status;
			__s64 overwrite;
			__u64 len;  /* value.value */
			__u64 data;
		} page = {};
		if (read_user(hl, &page, sizeof(page), a.elts + (__u64)i * W5_ERR_PAGE_SIZE))
			return;
		if (page.status != (__s64)status)
			continue;
		if (page.overwrite < -1 || page.overwrite > 999)
			return;  /* no status nginx's configuration parser lets through: not an err_page */
		char first = 0;
		if (!page.len || !page.data || read_user(hl, &first, 1, page.data) || first == '$')
			return;
		struct w5_ngx_error_page_target *e = reserve_event(sizeof(*e), W5_EV_NGX_ERROR_PAGE_TARGET);
		if (!e)
			return;
		e->request = r;
		e->connection = connection;
		e->status = (__u32)status;
		e->overwrite = (__s32)page.overwrite;
		e->target = first == '/' ? W5_ERROR_PAGE_URI : first == '@' ? W5_ERROR_PAGE_NAMED : W5_ERROR_PAGE_URL;
		submit_event(e);
		return;
	}
}

/* Whether the request on client connection c (at the address tf's logged
 * request had) is that request, and not a later one that got its memory, as
 * a page nginx builds without logging does (`return 502`, an upstream's 5xx
 * it intercepts, an error below the error_log level). nginx reuses both: on
 * the same keepalive connection c->requests tells them apart, and a new
 * connection, which may get the same ngx_connection_t, has another
 * c->number. Without both in the layout it cannot be told: no. */
static __always_inline bool still_logged_request(const struct w5_nginx_layout *l, __u64 c,
						 const struct thread_failure *tf)
{
	if (!l->c_number || !l->c_requests || !tf->requests)
		return false;
	__u32 first = l->c_number < l->c_requests ? l->c_number : l->c_requests;
	const struct user_block *b = copy_block(c + first, max_u32(l->c_number, l->c_requests) + 8 - first);
	if (!b)
		return false;
	bool same = block_u64(b, l->c_number - first) == tf->number &&
		    block_u64(b, l->c_requests - first) == tf->requests;
	return same && block_still_mine(b);
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
	/* The thread's last logged failure, if it was this request's (the
	 * usual case: nginx logs why, then builds the page): its client is
	 * known, and so is its peer's name. */
	const __u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid;
	const struct thread_failure *tf = bpf_map_lookup_elem(&thread_failures, &tid);
	if (tf && tf->tgid != pid_tgid >> 32)
		tf = NULL;
	/* Tested for NULL below as the verifier sees it, not through the tgid
	 * compare clang would otherwise reuse. */
	barrier_var(tf);
	/* (A log without an upstream leaves no client socket: read it then.) */
	bool logged = tf && rq.connection && tf->request == r && tf->client_conn == rq.connection && tf->client_sk &&
		      still_logged_request(l, rq.connection, tf);
	/* A subrequest's page (an SSI include, a mirror, an auth_request) goes
	 * into its main request's response, or nowhere: the client gets the
	 * main request's status, and a failure of the main request builds a
	 * page of its own. */
	if (logged && tf->subrequest)
		return 0;
	const bool check = layout_check_due(hl);
	struct client_connection cc = {};
	cc.fd = -1;
	if (check || !logged)
		read_client_connection(l, hl, rq.connection, &cc);
	if (check && !layout_holds(l, hl, cc.fd, rq.states, u))
		return 0;
	/* The number nginx logs for the connection (ngx_log_t.connection). */
	__u64 number = 0;
	if (logged)
		number = tf->number;
	else if (cc.log)
		number = user_u64(hl, cc.log + l->log_connection);
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

	/* r's location: r->loc_conf[0], the core module's
	 * ngx_http_core_loc_conf_t (ngx_http_core_module.ctx_index is 0: the
	 * first NGX_HTTP_MODULE), read once for its name and its error_page. */
	const bool named = !u && l->r_loc_conf;
	__u64 clcf = rq.loc_conf && (named || l->clcf_error_pages) ? user_u64(hl, rq.loc_conf) : 0;
	/* No upstream: a status nginx's configuration made; say where. */
	if (named)
		emit_location(hl, r, clcf, number);
	/* Where error_page sends it: the client may get another status. */
	emit_error_page_target(l, hl, r, clcf, number, status);

	struct w5_ngx_error_page *e = reserve_event(sizeof(*e), W5_EV_NGX_ERROR_PAGE);
	if (!e)
		return 0;
	e->request = r;
	e->status = (__u32)status;
	e->connection = number;
	if (logged) {
		e->requests = tf->requests;
		__builtin_memcpy(&e->client, &tf->client, sizeof(e->client));
		e->client_sk = tf->client_sk;
	} else {
		e->requests = connection_requests(&cc, number);
		read_user_sockaddr(hl, cc.sockaddr, &e->client);
		e->client_sk = (__u64)fd_to_sock(cc.fd);
	}

	e->has_upstream = u != 0;
	if (u)
		put_peer_name(hl, tf, user_u64(hl, u + l->u_peer + l->pc_name), e->peer);

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
			__u64 peer = read_upstream_state(l, hl, elts + (first + i) * l->state_size, &e->states[i]);
			put_peer_name(hl, tf, peer, e->states[i].peer);
		}
	}
	submit_event(e);
	return 0;
}

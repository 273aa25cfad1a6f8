/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The pure parsers of the BPF programs: what the bytes nginx sends and
 * receives say (an HTTP status line, a request's protocol, a FastCGI Status
 * header). No helper calls and no maps, only bytes already copied in: BPF
 * includes them, and the unit tests compile and check them as they are.
 */
#ifndef WHY502_BYTE_PARSERS_H
#define WHY502_BYTE_PARSERS_H

#include "why502_wire.h"

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif
#if defined(__bpf__)
#define W5_UNROLL _Pragma("unroll")
#else
#define W5_UNROLL
#endif

/* Bytes of a FastCGI STDOUT record looked at for its Status header. */
#define W5_FCGI_SCAN_LEN 96
/* FastCGI records: an 8-byte header (version, type, request id, content
 * length, padding length, reserved), the content, the padding. */
#define W5_FCGI_HEADER 8
#define W5_FCGI_STDOUT 6
#define W5_FCGI_STDERR 7

static __always_inline int w5_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static __always_inline __u32 w5_three_digits(const char *p)
{
	if (!w5_is_digit(p[0]) || !w5_is_digit(p[1]) || !w5_is_digit(p[2]))
		return 0;
	return (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
}

/* "HTTP/1.x NNN" → NNN, else 0; b holds at least 12 bytes. */
static __always_inline __u32 w5_http_status_line(const char *b)
{
	if (b[0] != 'H' || b[1] != 'T' || b[2] != 'T' || b[3] != 'P' || b[4] != '/' ||
	    b[5] != '1' || b[6] != '.' || b[8] != ' ')
		return 0;
	return w5_three_digits(&b[9]);
}

/* A uwsgi packet as nginx's uwsgi module sends it: modifier1, the size of
 * the variables (little-endian), modifier2, then the variables, each a
 * little-endian length and its bytes; the first name is a CGI variable's
 * (QUERY_STRING from uwsgi_params, else an uwsgi_param's or HTTP_HOST). b
 * holds at least 16 bytes. */
static __always_inline int w5_uwsgi_request(const char *b)
{
	__u32 datasize = (__u8)b[1] | ((__u32)(__u8)b[2] << 8);
	__u32 key_len = (__u8)b[4] | ((__u32)(__u8)b[5] << 8);
	if (key_len < 2 || key_len > 64 || datasize < key_len + 4)
		return 0;
	int name = 1;
	W5_UNROLL
	for (int i = 0; i < 10; i++) {
		char c = b[6 + i];
		int name_byte = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
				c == '-' || c == '.';
		name &= name_byte | (i >= (int)key_len);
	}
	return name;
}

/* An SCGI request as nginx's scgi module sends it: a netstring whose first
 * header is CONTENT_LENGTH ("123:CONTENT_LENGTH\0..."); b holds at least 16
 * bytes. */
static __always_inline int w5_scgi_request(const char *b)
{
	/* In two words, so that the colon's place is a shift of a scalar: BPF
	 * may index its stack only with constants. */
	__u64 lo = 0, hi = 0;
	W5_UNROLL
	for (int i = 0; i < 8; i++) {
		lo |= (__u64)(__u8)b[i] << (8 * i);
		hi |= (__u64)(__u8)b[8 + i] << (8 * i);
	}
	int digits = 0, run = 1;
	W5_UNROLL
	for (int i = 0; i < 7; i++) {
		run &= w5_is_digit((char)(lo >> (8 * i)));
		digits += run;
	}
	if (digits == 0 || ((lo >> (8 * digits)) & 0xff) != ':')
		return 0;
	const __u64 content_ = 0x5f544e45544e4f43ull; /* "CONTENT_", little-endian */
	__u32 name = 8 * (digits + 1);
	__u64 after = name == 64 ? hi : (lo >> name) | (hi << (64 - name));
	return after == content_;
}

/* An HTTP request line ("GET /", "POST http://…"), a FastCGI BEGIN_REQUEST,
 * or an SCGI request, else 0; b holds at least 16 bytes. A uwsgi packet is
 * told apart only on a socket nginx connected (w5_uwsgi_request): its first
 * bytes are binary. */
static __always_inline __u32 w5_request_protocol(const char *b)
{
	if (b[0] == 1 && b[1] == 1 && b[4] == 0 && b[5] == 8)
		return W5_PROTO_FASTCGI;
	int i = 0;
	W5_UNROLL
	for (; i < 8; i++) {
		if (b[i] < 'A' || b[i] > 'Z')
			break;
	}
	if (i >= 3 && i < 8 && b[i] == ' ' && (b[i + 1] == '/' || b[i + 1] == 'h'))
		return W5_PROTO_HTTP;
	if (w5_scgi_request(b))
		return W5_PROTO_SCGI;
	return 0;
}

/* Bytes of a uwsgi or SCGI response looked at for its status. */
#define W5_CGI_SCAN_LEN 64

/* "Status: NNN" (the name in any case, as nginx takes it) at the start of a
 * line among the CGI headers in b[from, len), b holding scan bytes. */
static __always_inline __u32 w5_cgi_status_header(const char *b, int from, int len, int scan)
{
	for (int i = from; i < scan - 10; i++) {
		if (i + 10 > len)
			break;
		if ((i == from || b[i - 1] == '\n') && (b[i] | 0x20) == 's' && (b[i + 1] | 0x20) == 't' &&
		    (b[i + 2] | 0x20) == 'a' && (b[i + 3] | 0x20) == 't' && (b[i + 4] | 0x20) == 'u' &&
		    (b[i + 5] | 0x20) == 's' && b[i + 6] == ':') {
			int at = b[i + 7] == ' ' ? i + 8 : i + 7;
			/* (b holds older bytes of nginx's buffer past len) */
			return at + 3 <= len ? w5_three_digits(&b[at]) : 0;
		}
	}
	return 0;
}

/* The bytes of the FastCGI record whose header b holds. */
static __always_inline __u32 w5_fastcgi_record_size(const char *b)
{
	return W5_FCGI_HEADER + (((__u32)(__u8)b[4] << 8) | (__u8)b[5]) + (__u8)b[6];
}

/* "Status: NNN" among the first CGI headers of a FastCGI STDOUT record: b
 * holds W5_FCGI_SCAN_LEN bytes, of which the first len are the record's. */
static __always_inline __u32 w5_fastcgi_status(const char *b, int len)
{
	if (len < 16 || b[0] != 1 || b[1] != W5_FCGI_STDOUT) /* version 1 */
		return 0;
	return w5_cgi_status_header(b, 8, len, W5_FCGI_SCAN_LEN);
}

/* The status of a uwsgi or SCGI response: its HTTP status line, or a CGI
 * Status header among the first ones (nginx's uwsgi and scgi modules take
 * either). b holds W5_CGI_SCAN_LEN bytes, of which the first len were read. */
static __always_inline __u32 w5_cgi_response_status(const char *b, int len)
{
	if (len >= 12 && b[0] == 'H') {
		__u32 status = w5_http_status_line(b);
		if (status)
			return status;
	}
	return w5_cgi_status_header(b, 0, len, W5_CGI_SCAN_LEN);
}

/* HTTP/2 (RFC 9113) as nginx speaks it to an upstream over cleartext. */
#define W5_H2_FRAME_HEADER 9
#define W5_H2_HEADERS 0x1
#define W5_H2_DATA 0x0
#define W5_H2_RST_STREAM 0x3
#define W5_H2_GOAWAY 0x7
#define W5_H2_PADDED 0x8
#define W5_H2_PRIORITY 0x20
/* Bytes of a header block looked at for its :status. */
#define W5_HPACK_PEEK 8

/* The client connection preface, "PRI * HTTP/2.0\r\n": what nginx sends
 * first on a new HTTP/2 upstream connection; b holds at least 16 bytes. */
static __always_inline int w5_h2_preface(const char *b)
{
	return b[0] == 'P' && b[1] == 'R' && b[2] == 'I' && b[3] == ' ' && b[4] == '*' && b[5] == ' ' &&
	       b[6] == 'H' && b[7] == 'T' && b[8] == 'T' && b[9] == 'P' && b[10] == '/' && b[11] == '2' &&
	       b[12] == '.' && b[13] == '0' && b[14] == '\r' && b[15] == '\n';
}

/* A HEADERS frame on a client-initiated (odd) stream: what nginx sends first
 * for a request on a reused HTTP/2 upstream connection. nginx's responses to
 * its own HTTP/2 clients look the same, so the caller checks the socket is
 * one nginx connected; b holds at least 9 bytes. */
static __always_inline int w5_h2_request_headers(const char *b)
{
	return b[3] == W5_H2_HEADERS && (b[8] & 1) && !(b[5] & 0x80);
}

/* One digit of an HPACK Huffman string (RFC 7541 appendix B: '0'-'2' are
 * 00000-00010, '3'-'9' are 011001-011111) from bits, a 24-bit string whose
 * unread part ends at bit *left; -1 for anything else. */
static __always_inline int w5_huffman_digit(__u32 bits, int *left)
{
	if (*left < 5)
		return -1;
	__u32 five = (bits >> (*left - 5)) & 0x1f;
	if (five <= 2) {
		*left -= 5;
		return (int)five;
	}
	if (*left < 6)
		return -1;
	__u32 six = (bits >> (*left - 6)) & 0x3f;
	if (six < 0x19 || six > 0x1f)
		return -1;
	*left -= 6;
	return (int)(six - 0x19) + 3;
}

/* The :status of an HPACK field representation (RFC 7541 §6) at f, of
 * which len bytes are the block's (f holds at least 5); 0 for another field. */
static __always_inline __u32 w5_hpack_field_status(const __u8 *f, int len)
{
	if (len < 1)
		return 0;
	__u8 c = f[0];
	if (c & 0x80) { /* indexed field: the static table's :status entries 8-14 */
		switch (c & 0x7f) {
		case 8: return 200;
		case 9: return 204;
		case 10: return 206;
		case 11: return 304;
		case 12: return 400;
		case 13: return 404;
		case 14: return 500;
		default: return 0;
		}
	}
	/* A literal whose name is a :status entry of the static table: with
	 * incremental indexing (01xxxxxx), without (0000xxxx) or never (0001xxxx). */
	__u8 name = (c & 0xc0) == 0x40 ? (c & 0x3f) : (c & 0xe0) == 0 ? (c & 0x0f) : 0;
	if (name < 8 || name > 14 || len < 2)
		return 0;
	__u8 v = f[1];
	int value_len = v & 0x7f;
	if (!(v & 0x80))
		return value_len == 3 && len >= 5 ? w5_three_digits((const char *)&f[2]) : 0;
	/* Huffman: three digits take 15 to 18 bits, so 2 or 3 bytes. */
	if (value_len < 2 || value_len > 3 || len < 2 + value_len)
		return 0;
	__u32 bits = ((__u32)f[2] << 16) | ((__u32)f[3] << 8) | (value_len == 3 ? f[4] : 0xff);
	int left = 24;
	int d0 = w5_huffman_digit(bits, &left);
	int d1 = w5_huffman_digit(bits, &left);
	int d2 = w5_huffman_digit(bits, &left);
	if (d0 < 0 || d1 < 0 || d2 < 0)
		return 0;
	return (__u32)(d0 * 100 + d1 * 10 + d2);
}

/* The :status of an HPACK header block when it is the block's first field,
 * as servers send it; 0 when it cannot be read so. b holds W5_HPACK_PEEK
 * bytes, of which the first len are the block's. */
static __always_inline __u32 w5_hpack_status(const __u8 *b, int len)
{
	/* A dynamic table size update (001xxxxx) may come first; one of several
	 * bytes is not followed. Two calls at fixed offsets: the verifier takes
	 * no variable offset into the stack. */
	if ((b[0] & 0xe0) == 0x20)
		return (b[0] & 0x1f) == 0x1f ? 0 : w5_hpack_field_status(b + 1, len - 1);
	return w5_hpack_field_status(b, len);
}

#endif /* WHY502_BYTE_PARSERS_H */

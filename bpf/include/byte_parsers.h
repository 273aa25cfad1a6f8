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

/* An HTTP request line ("GET /", "POST http://…") or a FastCGI
 * BEGIN_REQUEST, else 0; b holds at least 10 bytes. */
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
	return 0;
}

/* "Status: NNN" among the first CGI headers of a FastCGI STDOUT record: b
 * holds W5_FCGI_SCAN_LEN bytes, of which the first len are the record's. */
static __always_inline __u32 w5_fastcgi_status(const char *b, int len)
{
	if (len < 16 || b[0] != 1 || b[1] != 6) /* version 1, FCGI_STDOUT */
		return 0;
	for (int i = 8; i < W5_FCGI_SCAN_LEN - 11; i++) {
		if (i + 11 > len)
			break;
		if ((i == 8 || b[i - 1] == '\n') && b[i] == 'S' && b[i + 1] == 't' &&
		    b[i + 2] == 'a' && b[i + 3] == 't' && b[i + 4] == 'u' && b[i + 5] == 's' &&
		    b[i + 6] == ':' && b[i + 7] == ' ')
			return w5_three_digits(&b[i + 8]);
	}
	return 0;
}

#endif /* WHY502_BYTE_PARSERS_H */

#!/usr/bin/env python3
"""A misbehaving FastCGI upstream for the integration tests, by the request's
path:

  /v2, /v3, ...   a STDOUT record of a protocol version nginx does not speak
                  (the number the path ends with), so that nginx logs
                  "upstream sent unsupported FastCGI protocol version: N" with
                  N chosen per request: two failures in a row that differ only
                  in that number are the same format with other words.
  /stderr-503     what PHP does when it warns and answers 503: a STDERR record
                  first ("PHP message: PHP Warning: ..."), on its own (nginx
                  reads it alone, 50 ms before the rest), then STDOUT with
                  "Status: 503" and END_REQUEST.
  /big-stderr-503 the same with a warning and a stack trace of 10 000 bytes,
                  sent with the rest at once: longer than nginx's buffer, so
                  nginx reads the STDERR record in pieces before STDOUT.

Usage: fastcgi_misbehave.py
Listens on a free TCP port of 127.0.0.1, prints "ready 127.0.0.1:PORT" once
listening, and serves one request per connection until SIGTERM.
"""

import signal
import socket
import struct
import sys
import time

FCGI_PARAMS = 4
FCGI_STDIN = 5
FCGI_STDOUT = 6
FCGI_STDERR = 7
FCGI_END_REQUEST = 3

WARNING = b"PHP message: PHP Warning:  the database at 10.0.0.5 is down, answering 503 in /srv/www/index.php on line 4"
STACK_TRACE = WARNING + b"".join(b"\n#%d /srv/www/vendor/db/Connection.php(%d): Connection->retry()" % (i, 100 + i)
                                 for i in range(200))[:10000 - len(WARNING)]
UNAVAILABLE = (b"Status: 503 Service Unavailable\r\nContent-Type: text/plain\r\n\r\ndown\n")


def read_exactly(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def read_length(data, at):
    """A FastCGI name or value length: one byte, or four with the top bit set."""
    if data[at] < 0x80:
        return data[at], at + 1
    return struct.unpack("!I", data[at:at + 4])[0] & 0x7FFFFFFF, at + 4


def parse_params(data):
    params = {}
    at = 0
    while at < len(data):
        name_len, at = read_length(data, at)
        value_len, at = read_length(data, at)
        name = data[at:at + name_len]
        at += name_len
        params[name] = data[at:at + value_len]
        at += value_len
    return params


def read_request(conn):
    """The request's FastCGI params, once its stdin has ended; None on EOF."""
    params = b""
    while True:
        header = read_exactly(conn, 8)
        if header is None:
            return None
        _, kind, _, length, padding = struct.unpack("!BBHHBx", header)
        body = read_exactly(conn, length + padding)
        if body is None:
            return None
        if kind == FCGI_PARAMS:
            params += body[:length]
        elif kind == FCGI_STDIN and length == 0:
            return parse_params(params)


def version_for(params):
    uri = params.get(b"REQUEST_URI", b"").decode("latin-1")
    digits = uri.rsplit("/v", 1)[-1]
    return int(digits) if digits.isdigit() and 1 < int(digits) < 256 else 2


def record(kind, content, version=1):
    return struct.pack("!BBHHBx", version, kind, 1, len(content), 0) + content


def serve(conn):
    with conn:
        params = read_request(conn)
        if params is None:
            return
        answer = (record(FCGI_STDOUT, UNAVAILABLE) + record(FCGI_STDOUT, b"") +
                  record(FCGI_END_REQUEST, bytes(8)))
        if params.get(b"REQUEST_URI", b"").endswith(b"/big-stderr-503"):
            conn.sendall(record(FCGI_STDERR, STACK_TRACE) + answer)
            return
        if params.get(b"REQUEST_URI", b"").endswith(b"/stderr-503"):
            conn.sendall(record(FCGI_STDERR, WARNING))
            time.sleep(0.05)  # the warning in a read of its own, as a slow script's
            conn.sendall(answer)
            return
        # A STDOUT record header whose version byte is wrong: nginx stops at it.
        conn.sendall(struct.pack("!BBHHBx", version_for(params), FCGI_STDOUT, 1, 0, 0))


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    print(f"ready 127.0.0.1:{listener.getsockname()[1]}", flush=True)
    while True:
        conn, _ = listener.accept()
        try:
            serve(conn)
        except OSError:
            pass  # nginx hung up first


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(0)

#!/usr/bin/env python3
"""An upstream that answers every request with one status, over FastCGI or HTTP/2
(h2c, prior knowledge, as nginx's grpc_pass speaks it): what cgskb_bench.py --check
proxies to, to see whether the prototype reads those statuses from the skb.

Usage: status_backend.py --proto fastcgi|h2 --port PORT [--status 502]
Prints "ready" once listening; SIGTERM and SIGINT exit 0.
"""

import argparse
import signal
import socket
import struct
import sys
import threading

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
H2_HEADERS, H2_SETTINGS = 0x1, 0x4
H2_END_STREAM, H2_END_HEADERS, H2_ACK = 0x1, 0x4, 0x1
FCGI_END_REQUEST, FCGI_STDIN, FCGI_STDOUT = 3, 5, 6


def read_exactly(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise ConnectionError("peer closed")
        data += chunk
    return data


def h2_frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def serve_h2(conn, status):
    if read_exactly(conn, len(PREFACE)) != PREFACE:
        return
    conn.sendall(h2_frame(H2_SETTINGS, 0, 0))
    # :status as a literal without indexing whose name is static entry 8 (":status 200")
    block = bytes([0x08, 3]) + str(status).encode()
    while True:
        header = read_exactly(conn, 9)
        length = int.from_bytes(header[:3], "big")
        kind, flags = header[3], header[4]
        stream = int.from_bytes(header[5:9], "big") & 0x7FFFFFFF
        read_exactly(conn, length)
        if kind == H2_SETTINGS and not flags & H2_ACK:
            conn.sendall(h2_frame(H2_SETTINGS, H2_ACK, 0))
        elif kind == H2_HEADERS:
            conn.sendall(h2_frame(H2_HEADERS, H2_END_HEADERS | H2_END_STREAM, stream, block))


def fcgi_record(kind, request, content):
    return struct.pack(">BBHHBx", 1, kind, request, len(content), 0) + content


def serve_fastcgi(conn, status):
    while True:
        header = read_exactly(conn, 8)
        _, kind, request, length, padding = struct.unpack(">BBHHBx", header)
        read_exactly(conn, length + padding)
        if kind == FCGI_STDIN and length == 0:
            body = ("Status: %d Upstream Said So\r\nContent-Type: text/plain\r\n\r\nbad\n" % status).encode()
            conn.sendall(fcgi_record(FCGI_STDOUT, request, body) + fcgi_record(FCGI_STDOUT, request, b"") +
                         fcgi_record(FCGI_END_REQUEST, request, bytes(8)))
            return  # nginx closes a FastCGI connection after each request without fastcgi_keep_conn


def handle(conn, proto, status):
    with conn:
        try:
            (serve_h2 if proto == "h2" else serve_fastcgi)(conn, status)
        except (ConnectionError, OSError):
            pass


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--proto", choices=("fastcgi", "h2"), required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--status", type=int, default=502)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", args.port))
    listener.listen(512)
    print("ready", flush=True)
    try:
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=handle, args=(conn, args.proto, args.status), daemon=True).start()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""A deliberately misbehaving HTTP/2 (h2c, prior knowledge) upstream.

nginx talks HTTP/2 to it with `proxy_http_version 2` or `grpc_pass`. It speaks
just enough of RFC 9113 by hand (no HTTP/2 library) to fail a request the way
a real backend does:

  rst_stream  answer the request's HEADERS with RST_STREAM(--code)
              -> nginx: upstream rejected request with error CODE
  goaway      answer it with GOAWAY(last stream 0, --code), then close
              gracefully
              -> nginx: upstream sent goaway with error CODE

Usage: h2_misbehave.py --listen 127.0.0.1:PORT --mode MODE [--code N]
PORT 0 picks a free port. Once listening, one line "ready ADDR" goes to
stdout, so tests wait for it instead of sleeping. SIGTERM and SIGINT exit 0.
"""

import argparse
import signal
import socket
import struct
import sys
import threading

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, GOAWAY = 0x0, 0x1, 0x3, 0x4, 0x7
ACK = 0x1


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def read_exactly(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise ConnectionError("peer closed")
        data += chunk
    return data


def serve(conn, mode, code):
    try:
        if read_exactly(conn, len(PREFACE)) != PREFACE:
            return
        conn.sendall(frame(SETTINGS, 0, 0))
        while True:
            header = read_exactly(conn, 9)
            length = int.from_bytes(header[:3], "big")
            kind, flags = header[3], header[4]
            stream = int.from_bytes(header[5:9], "big") & 0x7FFFFFFF
            read_exactly(conn, length)
            if kind == SETTINGS and not flags & ACK:
                conn.sendall(frame(SETTINGS, ACK, 0))
            elif kind == HEADERS and mode == "rst_stream":
                conn.sendall(frame(RST_STREAM, 0, stream, struct.pack(">I", code)))
            elif kind == HEADERS and mode == "goaway":
                conn.sendall(frame(GOAWAY, 0, 0, struct.pack(">II", 0, code)))
                # A graceful close: what nginx still sends is read, so the
                # kernel ends the connection with FIN, not RST.
                conn.shutdown(socket.SHUT_WR)
                while conn.recv(65536):
                    pass
                return
    except (ConnectionError, OSError):
        pass
    finally:
        conn.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", required=True)
    parser.add_argument("--mode", required=True, choices=("rst_stream", "goaway"))
    parser.add_argument("--code", type=int, default=2)
    args = parser.parse_args()
    host, port = args.listen.rsplit(":", 1)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, int(port)))
    listener.listen(64)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    print("ready %s:%d" % listener.getsockname(), flush=True)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn, args.mode, args.code), daemon=True).start()


if __name__ == "__main__":
    main()

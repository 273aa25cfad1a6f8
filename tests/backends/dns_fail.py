#!/usr/bin/env python3
"""A DNS server that fails every query, for nginx's resolver in tests.

Usage: dns_fail.py [--rcode N]   (3 = NXDOMAIN, the default; 2 = SERVFAIL)
Listens on UDP 127.0.0.1 (a free port), prints "ready 127.0.0.1:PORT" once
bound, and answers each query with the given error code until SIGTERM.
"""

import argparse
import signal
import socket
import struct
import sys


def answer(query: bytes, rcode: int) -> bytes:
    """The query sent back as a response: same id and question, no answers."""
    if len(query) < 12:
        return b""
    (ident, flags, qdcount) = struct.unpack("!HHH", query[:6])
    response_flags = 0x8000 | (flags & 0x0100) | 0x0080 | (rcode & 0xF)  # QR, RD copied, RA
    return struct.pack("!HHHHHH", ident, response_flags, qdcount, 0, 0, 0) + query[12:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rcode", type=int, default=3)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    print(f"ready 127.0.0.1:{sock.getsockname()[1]}", flush=True)
    while True:
        query, peer = sock.recvfrom(4096)
        reply = answer(query, args.rcode)
        if reply:
            sock.sendto(reply, peer)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(0)

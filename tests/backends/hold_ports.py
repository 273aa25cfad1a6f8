#!/usr/bin/env python3
"""Holds open TCP connections to ADDR until no local port is left toward it
(connect() fails with EADDRNOTAVAIL) or COUNT are open, then prints
"ready N" (N: connections held) and waits for SIGTERM / SIGINT (exit 0).
Run inside a network namespace with a tiny net.ipv4.ip_local_port_range, it
leaves the next connect() toward ADDR no port.

Usage: hold_ports.py HOST:PORT COUNT
"""

import errno
import signal
import socket
import sys


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    count = int(sys.argv[2])
    held = []
    while len(held) < count:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.connect((host, int(port)))
        except OSError as e:
            s.close()
            if e.errno != errno.EADDRNOTAVAIL:
                raise
            break
        held.append(s)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    print("ready", len(held), flush=True)
    while True:
        signal.pause()


if __name__ == "__main__":
    main()

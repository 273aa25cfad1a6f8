#!/usr/bin/env python3
"""Sends N GET requests at once, one connection each, all waiting together,
and prints "answered K" (K: how many got 200). With tests/backends/held.py
behind nginx, nginx needs N upstream connections at the same time.

With --requests-per-connection K, each connection sends K requests one
after another over keep-alive (the last one closes it), and K counts as K.

Usage: concurrent_get.py HOST PORT PATH N [--timeout SECONDS] [--requests-per-connection K]
Only for loopback or a test's own network namespace.
"""

import argparse
import asyncio
import resource
import sys


async def response(reader):
    """The status line of one response, its headers and body read."""
    status = await reader.readline()
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    if length:
        await reader.readexactly(length)
    return status


async def one(host, port, path, timeout, requests):
    answered = 0
    try:
        reader, writer = await asyncio.open_connection(host, port)
        for i in range(requests):
            close = "close" if i == requests - 1 else "keep-alive"
            writer.write(("GET %s HTTP/1.1\r\nHost: test\r\nConnection: %s\r\n\r\n" % (path, close)).encode())
            await writer.drain()
            status = await asyncio.wait_for(response(reader), timeout)
            answered += status.startswith(b"HTTP/1.1 200")
        writer.close()
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError):
        pass
    return answered


async def all_at_once(args):
    results = await asyncio.gather(
        *(one(args.host, args.port, args.path, args.timeout, args.requests_per_connection) for _ in range(args.n)))
    return sum(results)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("path")
    parser.add_argument("n", type=int)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--requests-per-connection", type=int, default=1)
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    print("answered %d" % asyncio.run(all_at_once(args)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Sends N GET requests at once, one connection each, all waiting together,
and prints "answered K" (K: how many got 200). With tests/backends/held.py
behind nginx, nginx needs N upstream connections at the same time.

Usage: concurrent_get.py HOST PORT PATH N [--timeout SECONDS]
Only for loopback or a test's own network namespace.
"""

import argparse
import asyncio
import resource
import sys


async def one(host, port, path, timeout):
    try:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(("GET %s HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n" % path).encode())
        await writer.drain()
        status = await asyncio.wait_for(reader.readline(), timeout)
        writer.close()
        return status.startswith(b"HTTP/1.1 200")
    except (OSError, asyncio.TimeoutError):
        return False


async def all_at_once(args):
    results = await asyncio.gather(*(one(args.host, args.port, args.path, args.timeout) for _ in range(args.n)))
    return sum(results)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("path")
    parser.add_argument("n", type=int)
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    print("answered %d" % asyncio.run(all_at_once(args)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

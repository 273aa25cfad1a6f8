#!/usr/bin/env python3
"""An HTTP/1.1 keepalive backend that holds its first N requests until all N
are waiting, then answers them together: the proxy in front of it must open N
upstream connections at once, and keeps them idle in its pool afterwards.
Later requests are answered at once. Prints "ready 127.0.0.1:PORT" when
listening and "held N" when the N requests were released.

Usage: held.py --port PORT --hold N [--give-up SECONDS]   (PORT 0: a free one)
Listens on 127.0.0.1 only; SIGTERM and SIGINT exit 0.
"""

import argparse
import asyncio
import signal
import sys

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Type: text/plain\r\n\r\nok\n"


class Barrier:
    """Releases every waiter once `size` have arrived, or when giving up (so
    a proxy that never sends all N cannot hang the caller forever)."""

    def __init__(self, size, give_up_seconds):
        self.size = size
        self.waiting = 0
        self.released = asyncio.Event()
        self.give_up_seconds = give_up_seconds

    async def wait(self):
        if self.released.is_set():
            return
        self.waiting += 1
        if self.waiting == 1:
            asyncio.get_running_loop().call_later(self.give_up_seconds, self.release)
        if self.waiting >= self.size:
            self.release()
        await self.released.wait()

    def release(self):
        if not self.released.is_set():
            self.released.set()
            print("held %d" % self.waiting, flush=True)


async def serve(port, barrier):
    async def connection(reader, writer):
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")  # EOF raises IncompleteReadError
                await barrier.wait()
                writer.write(RESPONSE)
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(connection, "127.0.0.1", port, backlog=16384)
    print("ready 127.0.0.1:%d" % server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--hold", type=int, required=True)
    parser.add_argument("--give-up", type=float, default=60.0)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        asyncio.run(serve(args.port, Barrier(args.hold, args.give_up)))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""An asyncio echo server on a chosen event loop, for load tests (``iomux bench python``).

    python3 bench/asyncio_echo_server.py [--stop-on-eof] LOOP [HOST PORT]

LOOP is one of
- ``std``: asyncio's own default loop (on Linux a selector loop on ``selectors.EpollSelector``);
- ``iomux``: ``asyncio.SelectorEventLoop(iomux.selectors.EpollSelector())``, the same loop on
  iomux's selector;
- ``uvloop``: uvloop's loop (libuv, in C), the anchor for a native loop.

The echo is a ``Protocol`` whose ``data_received`` writes the bytes back: the least Python per
message, so the figures are about the loop (a streams server adds the same StreamReader and
StreamWriter work on every loop). Port 0, the default, picks a free port. It prints
``LISTENING <port> <loop> nofile=<n>`` (or ``UNAVAILABLE <why>``: see ``peer.py``) and serves
until SIGTERM or SIGINT, or, with ``--stop-on-eof``, until its standard input (a pipe or a
terminal) ends.
"""

import asyncio
import os
import signal
import sys

import peer


class Echo(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)


def loop_factory(name):
    """A new event loop of the kind named, and a one-word description of it."""
    if name == "std":
        loop = asyncio.new_event_loop()
        return loop, f"asyncio.{type(loop).__name__}({type(loop._selector).__name__})"
    if name == "iomux":
        try:
            import iomux.selectors
        except ImportError as e:
            peer.unavailable(f"iomux cannot be imported ({e})")
        loop = asyncio.SelectorEventLoop(iomux.selectors.EpollSelector())
        return loop, "asyncio.SelectorEventLoop(iomux.selectors.EpollSelector)"
    if name == "uvloop":
        try:
            import uvloop
        except ImportError as e:
            peer.unavailable(f"uvloop cannot be imported ({e}): pip install uvloop")
        return uvloop.new_event_loop(), f"uvloop-{uvloop.__version__}"
    sys.exit(f"unknown loop {name!r}: std, iomux or uvloop")


async def serve(host, port, stop_on_eof, what, nofile):
    loop = asyncio.get_running_loop()
    stop = loop.create_future()

    def stop_serving():
        if not stop.done():
            stop.set_result(None)

    def input_readable():
        # Only the end of the input matters; anything typed is read and ignored.
        if not os.read(sys.stdin.fileno(), 4096):
            stop_serving()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop_serving)
    if stop_on_eof:
        loop.add_reader(sys.stdin.fileno(), input_readable)
    # asyncio's default backlog is 100; a load generator connecting 1,000 clients at once
    # would see dropped SYNs (a second's retry each) while the loop catches up.
    server = await loop.create_server(Echo, host, port, backlog=1024)
    async with server:
        peer.announce(server.sockets[0].getsockname()[1], what, nofile)
        await stop


def main():
    args = sys.argv[1:]
    stop_on_eof = "--stop-on-eof" in args
    if stop_on_eof:
        args.remove("--stop-on-eof")
    host, port = (args[1], int(args[2])) if len(args) > 2 else ("127.0.0.1", 0)
    loop, what = loop_factory(args[0])
    nofile = peer.raise_nofile_limit()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(serve(host, port, stop_on_eof, what, nofile))
    finally:
        loop.close()


if __name__ == "__main__":
    main()

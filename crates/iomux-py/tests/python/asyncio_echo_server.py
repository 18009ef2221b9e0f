"""An asyncio echo server on asyncio's selector event loop with an iomux selector.

    python3 asyncio_echo_server.py [--stop-on-eof] BACKEND [HOST PORT]

Prints ``LISTENING <port>`` when it accepts connections (port 0, the default, picks a free
one), serves until SIGTERM or SIGINT (or, with ``--stop-on-eof``, until its standard input
ends), and then prints ``STATS`` and the selector's cost counters.
"""

import asyncio
import signal
import sys

import iomux.asyncio


async def echo(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def serve(host, port, stop_on_eof):
    loop = asyncio.get_running_loop()
    stop = loop.create_future()

    def stop_serving():
        if not stop.done():
            stop.set_result(None)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop_serving)
    if stop_on_eof:
        # Readable at once when the input ends; the server reads nothing from it.
        loop.add_reader(sys.stdin.fileno(), stop_serving)
    server = await asyncio.start_server(echo, host, port)
    async with server:
        print(f"LISTENING {server.sockets[0].getsockname()[1]}", flush=True)
        await stop
    print(f"STATS {loop._selector.stats()}", flush=True)


def main():
    args = sys.argv[1:]
    stop_on_eof = "--stop-on-eof" in args
    if stop_on_eof:
        args.remove("--stop-on-eof")
    backend = args[0]
    host, port = (args[1], int(args[2])) if len(args) > 2 else ("127.0.0.1", 0)
    iomux.asyncio.run(serve(host, port, stop_on_eof), backend=backend)


if __name__ == "__main__":
    main()

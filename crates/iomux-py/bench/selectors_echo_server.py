"""The course notes' selectors server as an echo server, for load tests (``iomux load``,
``iomux bench python``).

    python3 bench/selectors_echo_server.py [--stop-on-eof] MODULE HOST PORT [CLASS]

MODULE is ``selectors`` (the standard module) or ``iomux.selectors`` (iomux's); CLASS is the
selector class to use, ``DefaultSelector`` if not given (the standard module's is epoll;
iomux's follows ``IOMUX_BACKEND``), e.g. ``EpollSelector`` or ``IoUringSelector``. The
structure is the notes' ``seed/python/selectors_server.py``: accept and read callbacks stored
as each key's data, one ``recv(1024)`` per readiness; the only change is that it sends back
what it read, so that ``iomux load`` can verify every byte. Port 0 picks a free port.

It prints ``LISTENING <port> <module.class> nofile=<n>`` (or ``UNAVAILABLE <why>``: see
``peer.py``) and serves until SIGTERM or SIGINT, or, with ``--stop-on-eof``, until its
standard input (a pipe or a terminal: epoll refuses files) ends, so that it cannot outlive a
benchmark that dies. Then it prints its CPU seconds and, on iomux, the selector's counters.
"""

import importlib
import os
import signal
import sys
import time
from socket import AF_INET, SO_REUSEADDR, SOCK_STREAM, SOL_SOCKET, socket

import peer

args = sys.argv[1:]
stop_on_eof = "--stop-on-eof" in args
if stop_on_eof:
    args.remove("--stop-on-eof")
MODULE, HOST, PORT = args[0], args[1], int(args[2])
CLASS = args[3] if len(args) > 3 else "DefaultSelector"

try:
    selectors = importlib.import_module(MODULE)
except ImportError as e:
    peer.unavailable(f"{MODULE} cannot be imported ({e})")
selector_class = getattr(selectors, CLASS, None)
if selector_class is None:
    # iomux.selectors names only the classes this kernel runs; BACKENDS says why one is absent.
    why = next(
        (w for c, w in getattr(selectors, "BACKENDS", {}).values() if c.__name__ == CLASS),
        "no such class",
    )
    peer.unavailable(f"{MODULE}.{CLASS}: {why}")
try:
    sel = selector_class()
except OSError as e:
    peer.unavailable(f"{MODULE}.{CLASS}: {e}")
nofile = peer.raise_nofile_limit()


def accept(server, mask):
    conn, addr = server.accept()
    conn.setblocking(False)
    sel.register(conn, selectors.EVENT_READ, read)


def read(conn, mask):
    try:
        data = conn.recv(1024)
        if data:
            conn.send(data)
            return
    except OSError:
        pass
    sel.unregister(conn)
    conn.close()


def input_readable(fd, mask):
    # Only the end of the input matters; anything typed is read and ignored.
    if not os.read(fd, 4096):
        raise KeyboardInterrupt


def stop(signum, frame):
    raise KeyboardInterrupt


server = socket(AF_INET, SOCK_STREAM)
server.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
server.bind((HOST, PORT))
# The notes' backlog is 5; a load generator connecting 1,000 clients at once needs more.
server.listen(1024)
server.setblocking(False)
sel.register(server, selectors.EVENT_READ, accept)
if stop_on_eof:
    sel.register(sys.stdin.fileno(), selectors.EVENT_READ, input_readable)
signal.signal(signal.SIGTERM, stop)
peer.announce(server.getsockname()[1], f"{MODULE}.{CLASS}", nofile)
try:
    while True:
        for key, mask in sel.select():
            key.data(key.fileobj, mask)
except KeyboardInterrupt:
    pass
print(f"CPU {time.process_time():.3f}", flush=True)
if hasattr(sel, "stats"):
    print(f"STATS {sel.stats()}", flush=True)

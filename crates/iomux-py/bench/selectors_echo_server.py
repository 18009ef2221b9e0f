"""The course notes' selectors server as an echo server, for load tests (``iomux load``).

    python3 bench/selectors_echo_server.py MODULE HOST PORT

MODULE is ``selectors`` (the standard module; its DefaultSelector is epoll) or
``iomux.selectors`` (iomux's; ``IOMUX_BACKEND`` picks the backend). The structure is the
notes' ``seed/python/selectors_server.py``: accept and read callbacks stored as each key's
data, one ``recv(1024)`` per readiness; the only change is that it sends back what it read,
so that ``iomux load`` can verify every byte. Prints ``LISTENING <port>``; on SIGTERM or
SIGINT it prints its CPU seconds and, on iomux, the selector's counters.
"""

import importlib
import signal
import sys
import time
from socket import AF_INET, SO_REUSEADDR, SOCK_STREAM, SOL_SOCKET, socket

selectors = importlib.import_module(sys.argv[1])
HOST, PORT = sys.argv[2], int(sys.argv[3])

sel = selectors.DefaultSelector()


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


def stop(signum, frame):
    raise KeyboardInterrupt


server = socket(AF_INET, SOCK_STREAM)
server.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
server.bind((HOST, PORT))
server.listen(1024)
server.setblocking(False)
sel.register(server, selectors.EVENT_READ, accept)
signal.signal(signal.SIGTERM, stop)
print(f"LISTENING {server.getsockname()[1]}", flush=True)
try:
    while True:
        for key, mask in sel.select():
            key.data(key.fileobj, mask)
except KeyboardInterrupt:
    pass
print(f"CPU {time.process_time():.3f}", flush=True)
if hasattr(sel, "stats"):
    print(f"STATS {sel.stats()}", flush=True)

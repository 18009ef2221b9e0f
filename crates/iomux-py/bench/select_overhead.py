"""What one select() costs in Python: the standard module's selectors against iomux's.

    python3 bench/select_overhead.py [SECONDS]

N socket pairs (N = 1, 10, 100, 1000) each have a byte waiting, never read, and are
registered for reading, so that every select(0) reports all N (level-triggered). Each figure
is the CPU time of a select(0) call plus a loop over its result that touches each key's data
(what a server's dispatch loop does), per call and per reported event, best of 3 runs. The
kernel's share (epoll_wait copying N events, or poll scanning N fds) is in every figure;
what differs is the Python-side work of building the result.
"""

import selectors
import socket
import sys
import time

import iomux.selectors

PAIRS = (1, 10, 100, 1000)


def classes():
    std = [
        ("std EpollSelector", selectors.EpollSelector),
        ("std PollSelector", selectors.PollSelector),
    ]
    ours = [
        (f"iomux {cls.__name__}", cls)
        for name, (cls, unavailable) in iomux.selectors.BACKENDS.items()
        if unavailable is None and name in ("epoll", "poll", "io-uring")
    ]
    return std + ours


def per_call(cls, pairs, seconds):
    """CPU seconds per select(0) + dispatch loop, best of 3."""
    sel = cls()
    sockets = [socket.socketpair() for _ in range(pairs)]
    try:
        for reader, writer in sockets:
            writer.send(b"x")
            sel.register(reader, selectors.EVENT_READ, reader)
        assert len(sel.select(0)) == pairs
        best = float("inf")
        for _ in range(3):
            calls = 0
            start = time.process_time()
            deadline = start + seconds / 3
            while True:
                for _ in range(50):
                    for key, events in sel.select(0):
                        key.data
                calls += 50
                now = time.process_time()
                if now >= deadline:
                    break
            best = min(best, (now - start) / calls)
        return best
    finally:
        sel.close()
        for reader, writer in sockets:
            reader.close()
            writer.close()


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
    rows = []
    for label, cls in classes():
        rows.append((label, [per_call(cls, n, seconds) for n in PAIRS]))
    base = dict(rows)["std EpollSelector"]
    header = "".join(f"{f'{n} ready':>22}" for n in PAIRS)
    print(f"{'ns per select() call (per event)':34}{header}")
    for label, figures in rows:
        cells = "".join(
            f"{f'{t * 1e9:.0f} ({t * 1e9 / n:.0f}) {t / b:.2f}x':>22}"
            for n, t, b in zip(PAIRS, figures, base)
        )
        print(f"{label:34}{cells}")


if __name__ == "__main__":
    main()

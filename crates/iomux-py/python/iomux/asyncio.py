"""asyncio on iomux: its selector event loop with an ``iomux.selectors`` selector.

    import iomux.asyncio
    iomux.asyncio.run(main())                     # DefaultSelector (IOMUX_BACKEND, else epoll)
    iomux.asyncio.run(main(), backend="io-uring")

or, for code that creates its loops itself, ``asyncio.set_event_loop_policy(
iomux.asyncio.EventLoopPolicy())``. Only the level-triggered backends fit asyncio, which
expects a ready fd to be reported until it is drained.
"""

import asyncio as _asyncio

from . import selectors as _selectors


def selector(backend=None):
    """A new selector on ``backend`` (an iomux backend name), or the default one."""
    if backend is None:
        return _selectors.DefaultSelector()
    return _selectors.BACKENDS[backend][0]()


def new_event_loop(backend=None):
    """asyncio's selector event loop on an iomux selector."""
    return _asyncio.SelectorEventLoop(selector(backend))


def run(main, *, backend=None, debug=None):
    """``asyncio.run(main)`` on an iomux event loop (Python 3.11+: it uses ``asyncio.Runner``)."""
    with _asyncio.Runner(debug=debug, loop_factory=lambda: new_event_loop(backend)) as runner:
        return runner.run(main)


class EventLoopPolicy(_asyncio.DefaultEventLoopPolicy):
    """The default policy, making its loops with :func:`new_event_loop`."""

    def __init__(self, backend=None):
        super().__init__()
        self._backend = backend

    def new_event_loop(self):
        return new_event_loop(self._backend)

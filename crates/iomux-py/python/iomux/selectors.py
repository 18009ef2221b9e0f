"""Python's ``selectors`` module on iomux's Rust selector.

A drop-in for the standard module: the same ``EVENT_READ``, ``EVENT_WRITE`` and
``SelectorKey`` (the standard module's own named tuple, so ``isinstance`` checks written
against ``selectors`` hold), the same methods, arguments, results and exceptions, and one
class per iomux backend that this kernel can run, named after the backend::

    select -> SelectSelector        epoll-et    -> EpollEdgeSelector
    poll   -> PollSelector          io-uring    -> IoUringSelector
    epoll  -> EpollSelector         io-uring-et -> IoUringEdgeSelector

(The list comes from iomux itself, ``iomux._selector.backends()``.) ``DefaultSelector`` is the
class of the backend named by the ``IOMUX_BACKEND`` environment variable, epoll if unset.

Moving a program onto iomux is its import line: ``from iomux import selectors``.

What iomux adds: ``stats()`` on every selector (its cost counters: waits, events, fds handed
to the kernel, registration syscalls, io_uring submissions, time waiting) and
``reset_stats()``; the ``BACKEND`` name on each class.

Where it differs from the standard module, on purpose:

- ``SelectSelector`` refuses an fd >= ``FD_SETSIZE`` in ``register()`` (``ValueError``), where
  the standard one accepts it and fails in every later ``select()``.
- Registering an fd that is not open raises ``OSError`` (``EBADF``) on every backend, not only
  on those that make a syscall at registration.
- The edge-triggered classes report a ready fd once per change, as their backends do: drain it
  (read or write until ``BlockingIOError``) before selecting again.
- While one thread is inside ``select()``, other threads may read (``get_key``, ``get_map``,
  ``stats``) but not change the registrations: ``RuntimeError``. (The standard epoll selector
  lets the kernel sort that out; iomux's selector is one owned value.)
- ``fileno()`` is offered where the backend waits on a kernel object (epoll, io_uring), as
  the standard module offers it on ``EpollSelector`` only.
"""

import selectors as _std
from collections.abc import Mapping as _Mapping

from . import _selector

EVENT_READ = _std.EVENT_READ
EVENT_WRITE = _std.EVENT_WRITE
SelectorKey = _std.SelectorKey
BaseSelector = _std.BaseSelector
FD_SETSIZE = _selector.FD_SETSIZE

# The extension builds select()'s results with its own copy of the event bits.
if (_selector.EVENT_READ, _selector.EVENT_WRITE) != (EVENT_READ, EVENT_WRITE):
    raise ImportError("iomux._selector's event bits differ from the selectors module's")

_ALL_EVENTS = EVENT_READ | EVENT_WRITE


def _fd_of(fileobj):
    """The fd of an int or of an object with ``fileno()``; ``ValueError`` if there is none."""
    if isinstance(fileobj, int):
        fd = fileobj
    else:
        try:
            fd = int(fileobj.fileno())
        except (AttributeError, TypeError, ValueError):
            raise ValueError(f"Invalid file object: {fileobj!r}") from None
    if fd < 0:
        raise ValueError(f"Invalid file descriptor: {fd}")
    return fd


class _KeyMapping(_Mapping):
    """The read-only fileobj -> SelectorKey view that ``get_map()`` returns.

    It reads the live table in the Rust core, so it follows later registrations, and is empty
    once the selector is closed.
    """

    __slots__ = ("_selector",)

    def __init__(self, selector):
        self._selector = selector

    def __len__(self):
        return len(self._selector._core)

    def __getitem__(self, fileobj):
        selector = self._selector
        key = selector._core.get(selector._fileobj_lookup(fileobj))
        if key is None:
            raise KeyError(f"{fileobj!r} is not registered")
        return key

    def __iter__(self):
        return iter(self._selector._core.fds())


class IomuxSelector(BaseSelector):
    """A selector on the iomux backend named by the class's ``BACKEND``."""

    BACKEND = None

    def __init__(self):
        self._core = _selector.Selector(self.BACKEND)
        self._map = _KeyMapping(self)

    def _fileobj_lookup(self, fileobj):
        """The fd of ``fileobj``; for an object that no longer has one (a closed socket), the
        fd it was registered with, so that it can still be unregistered."""
        try:
            return _fd_of(fileobj)
        except ValueError:
            for key in self._core.keys():
                if key.fileobj is fileobj:
                    return key.fd
            raise

    def register(self, fileobj, events, data=None):
        if not events or events & ~_ALL_EVENTS:
            raise ValueError(f"Invalid events: {events!r}")
        fd = self._fileobj_lookup(fileobj)
        key = SelectorKey(fileobj, fd, events, data)
        try:
            self._core.register(fd, events, key)
        except KeyError:
            raise KeyError(f"{fileobj!r} (FD {fd}) is already registered") from None
        return key

    def unregister(self, fileobj):
        try:
            return self._core.unregister(self._fileobj_lookup(fileobj))
        except KeyError:
            raise KeyError(f"{fileobj!r} is not registered") from None

    def modify(self, fileobj, events, data=None):
        fd = self._fileobj_lookup(fileobj)
        key = self._core.get(fd)
        if key is None:
            raise KeyError(f"{fileobj!r} is not registered")
        if events == key.events and data == key.data:
            return key
        if not events or events & ~_ALL_EVENTS:
            raise ValueError(f"Invalid events: {events!r}")
        new_key = key._replace(events=events, data=data)
        try:
            self._core.modify(fd, events, new_key)
        except BaseException:
            # As the standard module does: a registration the kernel would not change is
            # dropped, so the caller is not left guessing what is being watched.
            self._core.unregister(fd)
            raise
        return new_key

    def select(self, timeout=None):
        return self._core.select(timeout)

    def close(self):
        self._core.close()
        self._map = None

    def get_map(self):
        return self._map

    def get_key(self, fileobj):
        # BaseSelector's, without the mapping in between (asyncio calls it on every change).
        if self._map is None:
            raise RuntimeError("Selector is closed")
        key = self._core.get(self._fileobj_lookup(fileobj))
        if key is None:
            raise KeyError(f"{fileobj!r} is not registered")
        return key

    def stats(self):
        """iomux's cost counters for this selector, as a dict."""
        return self._core.stats()

    def reset_stats(self):
        """Sets the cost counters back to zero."""
        self._core.reset_stats()


def _class_name(backend):
    """``epoll-et`` -> ``EpollEdgeSelector``, ``io-uring`` -> ``IoUringSelector``."""
    words = ("Edge" if word == "et" else word.capitalize() for word in backend.split("-"))
    return "".join(words) + "Selector"


def _fileno(self):
    """The descriptor of the kernel object this selector waits on (epoll's, io_uring's)."""
    return self._core.fileno()


def _selector_class(backend, edge_triggered, unavailable, has_fileno):
    trigger = "edge" if edge_triggered else "level"
    doc = f"A selector on iomux's {backend} backend ({trigger}-triggered)."
    if unavailable:
        doc += f" Not available on this machine: {unavailable}."
    name = _class_name(backend)
    namespace = {"__doc__": doc, "__module__": __name__, "__qualname__": name, "BACKEND": backend}
    if has_fileno:
        namespace["fileno"] = _fileno
    return type(name, (IomuxSelector,), namespace)


#: Every backend iomux knows: name -> (class, why this machine cannot run it or None).
BACKENDS = {
    name: (_selector_class(name, edge, unavailable, has_fileno), unavailable)
    for name, edge, unavailable, has_fileno in _selector.backends()
}

__all__ = [
    "EVENT_READ",
    "EVENT_WRITE",
    "SelectorKey",
    "BaseSelector",
    "IomuxSelector",
    "DefaultSelector",
]
for _name, (_cls, _unavailable) in BACKENDS.items():
    if _unavailable is None:
        globals()[_cls.__name__] = _cls
        __all__.append(_cls.__name__)

# An IOMUX_BACKEND this kernel cannot run still names the class: creating a selector then
# raises OSError saying why and which backends work.
DefaultSelector = BACKENDS[_selector.default_backend()][0]

del _name, _cls, _unavailable

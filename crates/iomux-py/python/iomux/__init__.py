"""iomux for Python: ``iomux.selectors``, the standard ``selectors`` module on iomux's Rust
selector, on any of its backends (select, poll, epoll, io_uring; level- or edge-triggered),
with its cost counters; ``iomux.asyncio``, asyncio's selector event loop on it.

    from iomux import selectors   # instead of: import selectors
"""

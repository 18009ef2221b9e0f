//! # iomux-py: `iomux.selectors` for Python
//!
//! A drop-in for Python's standard `selectors` module whose selectors are iomux's Rust
//! [`iomux::Selector`], on any of its backends ([`iomux::BackendKind`]). Built with maturin
//! (`pip install ./crates/iomux-py`).
//!
//! The package is two layers:
//! - this crate, the extension module `iomux._selector`: the `Selector` class (`src/core.rs`),
//!   which holds the Rust selector and the fd → `SelectorKey` table and does register /
//!   modify / unregister / select (the result list built here, GIL released while waiting),
//!   plus the list of backends, so that Python never spells one;
//! - `python/iomux/selectors.py`, pure Python: file objects, argument checking, the mapping
//!   view and one class per backend, in the shape of the standard module.
//!
//! The crate has no Rust API and no Rust tests of its own; `tests/python.rs` builds the
//! extension and runs CPython's own selector tests, the notes' selectors server and an asyncio
//! echo server against it.
#![forbid(unsafe_code)]

use std::thread;

use iomux::BackendKind;
use pyo3::prelude::*;

mod core;
mod errors;

/// Every backend iomux knows, in its order, as `(name, edge_triggered, unavailable,
/// has_fileno)`: `unavailable` is `None` when this machine can run the backend, else why it
/// cannot; `has_fileno` says whether its selectors wait on a kernel object with a descriptor
/// (epoll, io_uring; asked of a selector made for the purpose, where the backend runs).
#[pyfunction]
fn backends() -> Vec<(&'static str, bool, Option<String>, bool)> {
    BackendKind::ALL
        .into_iter()
        .map(|kind| {
            let unavailable = kind.probe().err();
            let has_fileno = unavailable.is_none()
                && iomux::Selector::<()>::with_backend(kind)
                    .is_ok_and(|selector| selector.kernel_fd().is_some());
            (
                kind.name(),
                kind.is_edge_triggered(),
                unavailable,
                has_fileno,
            )
        })
        .collect()
}

/// The backend a default selector uses: `IOMUX_BACKEND` if set (an unknown name is a
/// `ValueError`, never silently replaced), else the recommended one.
#[pyfunction]
fn default_backend() -> PyResult<&'static str> {
    BackendKind::default_choice()
        .map(BackendKind::name)
        .map_err(|e| errors::to_py(e.into()))
}

/// The extension module `iomux._selector`.
#[pymodule]
#[pyo3(name = "_selector")]
fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // Python runs signal handlers on its main thread only; remember which Rust thread that is
    // (when imported there, as usual) so that only its waits are sliced (see core.rs).
    let threading = m.py().import("threading")?;
    if threading
        .call_method0("current_thread")?
        .is(&threading.call_method0("main_thread")?)
    {
        let _ = core::SIGNAL_THREAD.set(thread::current().id());
    }
    m.add_class::<core::Core>()?;
    m.add_function(wrap_pyfunction!(backends, m)?)?;
    m.add_function(wrap_pyfunction!(default_backend, m)?)?;
    m.add("FD_SETSIZE", iomux::FD_SETSIZE)?;
    m.add("EVENT_READ", core::EVENT_READ)?;
    m.add("EVENT_WRITE", core::EVENT_WRITE)?;
    Ok(())
}

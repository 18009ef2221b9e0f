//! `iomux._selector.Selector`: the Rust half of every `iomux.selectors` class.
//!
//! It owns an [`iomux::Selector`] (the kernel side: which fd is watched for what) and, beside
//! it, the Python `SelectorKey` of each registered fd, in a table indexed by fd. Keeping the
//! keys here is what makes `select()` cheap: one call waits, drops stale events, and builds the
//! finished `[(key, events), ...]` list, with no Python-level loop and no dict lookup per event.
//!
//! The two halves are locked differently so that reading the key table never waits for a
//! `select()` in progress: the kernel side sits in a `Mutex` that `select()` holds (with the GIL
//! released) while it waits; the key table is guarded by PyO3's borrow flag, shared by
//! `select()` and the readers (`get`, `len`, `keys`), exclusive for the mutators. A mutator
//! called from another thread during a wait is refused with `RuntimeError` (see
//! [`errors::busy`]).
use std::sync::{Mutex, OnceLock};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use iomux::{BackendKind, Events, Interest, Readiness, Stats};
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use pyo3::PyTraverseError;

use crate::errors;

/// `selectors.EVENT_READ` and `EVENT_WRITE`.
pub(crate) const EVENT_READ: u8 = 1;
pub(crate) const EVENT_WRITE: u8 = 2;
const EVENT_BOTH: u8 = EVENT_READ | EVENT_WRITE;

/// The longest a wait on the main thread goes without running Python's signal handlers.
///
/// iomux's `Selector::select` retries `EINTR` itself (with the time left), so a signal does not
/// end the wait early. Python runs its handlers only between waits, on the main thread; waiting
/// in slices this long there keeps PEP 475's promise (a handler that raises ends `select()`
/// with its exception, one that returns lets the wait go on to its full timeout) at the price
/// of 20 wake-ups a second on an idle main thread. Other threads wait in one piece.
const SIGNAL_CHECK_INTERVAL: Duration = Duration::from_millis(50);

/// The thread on which Python runs signal handlers, if the module was imported on it (the usual
/// case). Unknown means every thread waits in slices.
pub(crate) static SIGNAL_THREAD: OnceLock<ThreadId> = OnceLock::new();

/// The kernel side: the selector and its reusable event buffer. `None` once closed.
struct Kernel {
    selector: iomux::Selector<()>,
    events: Events,
    /// Events one wait may return (`events`' capacity), kept at least the registered count as
    /// the standard `EpollSelector` does, so one `select()` reports every ready fd.
    capacity: usize,
}

/// A selector on one iomux backend, keyed by fd; the Python layer (`iomux/selectors.py`)
/// adds file objects, argument checks and the `selectors` API around it.
#[pyclass(module = "iomux._selector", name = "Selector")]
pub(crate) struct Core {
    kernel: Mutex<Option<Kernel>>,
    /// The `SelectorKey` of each registered fd, at index fd.
    keys: Vec<Option<Py<PyAny>>>,
    len: usize,
    backend: BackendKind,
    /// The kernel object's descriptor (epoll, io_uring), for `fileno()`; `None` for select
    /// and poll, and once closed. Kept here so that `fileno()` never waits for a `select()`.
    kernel_fd: Option<i32>,
    /// The counters as they were when the running `select()` began, for `stats()` calls made
    /// from another thread meanwhile.
    stats_at_wait: Mutex<Stats>,
}

impl Core {
    fn kernel_mut(&mut self) -> PyResult<&mut Kernel> {
        self.kernel
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .as_mut()
            .ok_or_else(errors::closed)
    }

    /// Drops the kernel side and every key.
    fn shut(&mut self) {
        *self
            .kernel
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
        self.keys = Vec::new();
        self.len = 0;
        self.kernel_fd = None;
    }

    fn key_slot(&self, fd: i64) -> Option<&Py<PyAny>> {
        let index = usize::try_from(fd).ok()?;
        self.keys.get(index)?.as_ref()
    }

    /// The finished `select()` result for the events of the last wait.
    fn ready_list<'py>(&self, py: Python<'py>, kernel: &Kernel) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        // `ready` drops events of registrations replaced since the wait and masks readiness
        // by each key's interest; every key it yields is in the table.
        for (reg, readiness) in kernel.selector.ready(&kernel.events) {
            if let Some(key) = self.key_slot(i64::from(reg.fd())) {
                list.append((key.clone_ref(py), python_events(readiness, reg.interest())))?;
            }
        }
        Ok(list)
    }
}

/// `selectors`' events for what a wait found: an error or hang-up wakes both directions (the
/// next read or write returns it), as the standard poll and epoll selectors report them.
fn python_events(readiness: Readiness, interest: Interest) -> u8 {
    let trouble = readiness.is_error_or_hangup();
    let mut events = 0;
    if interest.is_readable() && (readiness.is_readable() || readiness.is_read_closed() || trouble)
    {
        events |= EVENT_READ;
    }
    if interest.is_writable() && (readiness.is_writable() || trouble) {
        events |= EVENT_WRITE;
    }
    events
}

fn interest_of(events: u8) -> PyResult<Interest> {
    match events {
        EVENT_READ => Ok(Interest::READ),
        EVENT_WRITE => Ok(Interest::WRITE),
        EVENT_BOTH => Ok(Interest::BOTH),
        _ => Err(pyo3::exceptions::PyValueError::new_err(format!(
            "Invalid events: {events}"
        ))),
    }
}

/// `select(timeout)`'s argument as iomux's: `None` blocks, zero or less polls.
fn wait_limit(timeout: Option<f64>) -> PyResult<Option<Duration>> {
    match timeout {
        None => Ok(None),
        Some(t) if t <= 0.0 => Ok(Some(Duration::ZERO)),
        Some(t) => Duration::try_from_secs_f64(t)
            .map(Some)
            .map_err(|_| errors::bad_timeout(t)),
    }
}

fn signals_run_on_this_thread() -> bool {
    SIGNAL_THREAD
        .get()
        .is_none_or(|id| *id == thread::current().id())
}

#[pymethods]
impl Core {
    /// A selector on the backend named `backend` (as `IOMUX_BACKEND` spells it).
    #[new]
    fn new(backend: &str) -> PyResult<Self> {
        let kind: BackendKind = backend
            .parse()
            .map_err(|e: iomux::UnknownBackend| errors::to_py(e.into()))?;
        let selector = iomux::Selector::with_backend(kind).map_err(errors::to_py)?;
        let kernel_fd = selector.kernel_fd();
        Ok(Core {
            kernel: Mutex::new(Some(Kernel {
                selector,
                events: Events::with_capacity(1),
                capacity: 1,
            })),
            keys: Vec::new(),
            len: 0,
            backend: kind,
            kernel_fd,
            stats_at_wait: Mutex::new(Stats::default()),
        })
    }

    /// The descriptor of the kernel object the selector waits on, as the standard
    /// `EpollSelector.fileno()` gives its epoll's; `ValueError` once closed, as there.
    fn fileno(&self) -> PyResult<i32> {
        self.kernel_fd.ok_or_else(|| {
            pyo3::exceptions::PyValueError::new_err(
                "I/O operation on a closed selector (or one whose backend has no descriptor)",
            )
        })
    }

    /// The backend's name.
    #[getter]
    fn backend(&self) -> &'static str {
        self.backend.name()
    }

    /// Starts watching `fd` for `events`; `key` is what `get` and `select` hand back for it.
    fn register(slf: &Bound<'_, Self>, fd: i32, events: u8, key: Py<PyAny>) -> PyResult<()> {
        let mut this = slf.try_borrow_mut().map_err(|_| errors::busy("register"))?;
        let interest = interest_of(events)?;
        let kernel = this.kernel_mut()?;
        kernel
            .selector
            .register(fd, interest, ())
            .map_err(errors::to_py)?;
        let index = fd as usize; // non-negative: iomux refused negative fds above
        if this.keys.len() <= index {
            this.keys.resize_with(index + 1, || None);
        }
        this.keys[index] = Some(key);
        this.len += 1;
        Ok(())
    }

    /// Changes the events of a registered fd (no syscall if they are unchanged) and replaces
    /// its key.
    fn modify(slf: &Bound<'_, Self>, fd: i32, events: u8, key: Py<PyAny>) -> PyResult<()> {
        let mut this = slf.try_borrow_mut().map_err(|_| errors::busy("modify"))?;
        let interest = interest_of(events)?;
        this.kernel_mut()?
            .selector
            .set_interest(fd, interest)
            .map_err(errors::to_py)?;
        this.keys[fd as usize] = Some(key); // registered: set_interest checked it
        Ok(())
    }

    /// Stops watching `fd` (also one closed since it was registered) and returns its key.
    fn unregister(slf: &Bound<'_, Self>, fd: i32) -> PyResult<Py<PyAny>> {
        let mut this = slf
            .try_borrow_mut()
            .map_err(|_| errors::busy("unregister"))?;
        this.kernel_mut()?
            .selector
            .unregister(fd)
            .map_err(errors::to_py)?;
        this.len -= 1;
        Ok(this.keys[fd as usize].take().expect("registered"))
    }

    /// The key of `fd`, or `None`.
    fn get(&self, py: Python<'_>, fd: i64) -> Option<Py<PyAny>> {
        self.key_slot(fd).map(|k| k.clone_ref(py))
    }

    fn __len__(&self) -> usize {
        self.len
    }

    /// The registered fds, in fd order.
    fn fds(&self) -> Vec<usize> {
        (0..self.keys.len())
            .filter(|&fd| self.keys[fd].is_some())
            .collect()
    }

    /// The registered keys, in fd order.
    fn keys(&self, py: Python<'_>) -> Vec<Py<PyAny>> {
        self.keys
            .iter()
            .flatten()
            .map(|k| k.clone_ref(py))
            .collect()
    }

    /// Waits as `selectors`' `select(timeout)` does and returns `[(key, events), ...]`. The GIL
    /// is released while waiting; signal handlers run as described at
    /// [`SIGNAL_CHECK_INTERVAL`].
    #[pyo3(signature = (timeout=None))]
    fn select<'py>(slf: &Bound<'py, Self>, timeout: Option<f64>) -> PyResult<Bound<'py, PyList>> {
        let py = slf.py();
        let this = slf.try_borrow().map_err(|_| errors::busy("select"))?;
        let limit = wait_limit(timeout)?;
        let mut guard = this.kernel.try_lock().map_err(|_| errors::busy("select"))?;
        let kernel = guard.as_mut().ok_or_else(errors::closed)?;
        *this
            .stats_at_wait
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = kernel.selector.stats();
        if kernel.capacity < this.len {
            kernel.capacity = this.len.next_power_of_two();
            kernel.events = Events::with_capacity(kernel.capacity);
        }
        let deadline = limit.and_then(|t| Instant::now().checked_add(t));
        let sliced =
            limit.is_none_or(|t| t > SIGNAL_CHECK_INTERVAL) && signals_run_on_this_thread();
        loop {
            let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let wait = match (sliced, remaining.or(limit)) {
                (true, Some(r)) => Some(r.min(SIGNAL_CHECK_INTERVAL)),
                (true, None) => Some(SIGNAL_CHECK_INTERVAL),
                (false, r) => r,
            };
            let Kernel {
                selector, events, ..
            } = &mut *kernel;
            let found = py
                .detach(|| selector.select(events, wait))
                .map_err(errors::to_py)?;
            if found > 0 {
                return this.ready_list(py, kernel);
            }
            let timed_out = match (limit, deadline) {
                (Some(t), _) if t.is_zero() => true,
                (Some(_), Some(d)) => Instant::now() >= d,
                _ => false,
            };
            if timed_out || !sliced {
                return Ok(PyList::empty(py));
            }
            // PEP 475: run the handlers of signals that arrived during the slice; one that
            // raises ends select() with its exception.
            py.check_signals()?;
        }
    }

    /// Closes the kernel side and forgets every key. Idempotent.
    fn close(slf: &Bound<'_, Self>) -> PyResult<()> {
        slf.try_borrow_mut()
            .map_err(|_| errors::busy("close"))?
            .shut();
        Ok(())
    }

    // The keys hold the callers' file objects and data, which often lead back to the selector
    // (asyncio: key -> handle -> transport -> loop -> selector). Like the standard module's
    // dict of keys, the table takes part in garbage collection, so that such a cycle is
    // collected when the selector is dropped without close().
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        for key in self.keys.iter().flatten() {
            visit.call(key)?;
        }
        Ok(())
    }

    fn __clear__(&mut self) {
        self.shut();
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        match self.kernel.try_lock() {
            Ok(kernel) => kernel.is_none(),
            Err(_) => false, // a select() is running on it
        }
    }

    /// iomux's cost counters for this selector, as a dict (see `iomux::Stats`): waits made
    /// (`wait_calls`, retries and signal-check slices included), `events_returned`,
    /// `fds_passed` (descriptors handed to the kernel by the waits), `ctl_calls`, the io_uring
    /// counters (`submissions`, `completions`, `enter_calls`) and `wait_time` in seconds.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let stats = match self.kernel.try_lock() {
            Ok(kernel) => kernel.as_ref().ok_or_else(errors::closed)?.selector.stats(),
            // Another thread is waiting: its counters as of that wait's start.
            Err(_) => *self
                .stats_at_wait
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        };
        let dict = PyDict::new(py);
        dict.set_item("wait_calls", stats.wait_calls)?;
        dict.set_item("events_returned", stats.events_returned)?;
        dict.set_item("fds_passed", stats.fds_passed)?;
        dict.set_item("ctl_calls", stats.ctl_calls)?;
        dict.set_item("submissions", stats.submissions)?;
        dict.set_item("completions", stats.completions)?;
        dict.set_item("enter_calls", stats.enter_calls)?;
        dict.set_item("wait_time", stats.wait_time.as_secs_f64())?;
        Ok(dict)
    }

    /// Sets every counter back to zero.
    fn reset_stats(slf: &Bound<'_, Self>) -> PyResult<()> {
        let mut this = slf
            .try_borrow_mut()
            .map_err(|_| errors::busy("reset_stats"))?;
        this.kernel_mut()?.selector.reset_stats();
        Ok(())
    }
}

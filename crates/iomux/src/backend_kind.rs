//! [`BackendKind`]: the one list of the mechanisms iomux can wait with. Everything that names
//! backends (the selector, `IOMUX_BACKEND`, the command line's models, the lab, the tests)
//! takes them from [`BackendKind::ALL`], so a new backend is one variant here.
use std::fmt;
use std::str::FromStr;

/// The environment variable that overrides the default backend.
pub const BACKEND_ENV: &str = "IOMUX_BACKEND";

/// The readiness mechanisms a [`Selector`](crate::Selector) can run on.
///
/// | kind | syscall | registration | each wait costs | limit |
/// |---|---|---|---|---|
/// | `select` | `select(2)` | bookkeeping only | copy of 3 bitmaps in and out, scan of every fd up to the highest | fds < 1024 (`FD_SETSIZE`) |
/// | `poll` | `ppoll(2)` | bookkeeping only | copy of the whole `pollfd` array in and out, scan of every entry | `RLIMIT_NOFILE` |
/// | `epoll` | `epoll_wait(2)`, level-triggered | one `epoll_ctl` per change | only the ready fds are copied out | `RLIMIT_NOFILE` |
/// | `epoll-et` | `epoll_wait(2)`, edge-triggered | one `epoll_ctl` per change | as `epoll`; each fd reported once per new readiness | `RLIMIT_NOFILE` |
/// | `io-uring` | `io_uring_enter(2)`, one-shot `POLL_ADD`s re-armed after delivery (level-triggered) | an entry queued per change, submitted with the next wait | the completions are read from shared memory; re-arms ride in the same syscall | `RLIMIT_NOFILE` |
/// | `io-uring-et` | `io_uring_enter(2)`, multishot `POLL_ADD`s (edge-triggered) | as `io-uring` | as `io-uring`, without re-arms | `RLIMIT_NOFILE` |
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BackendKind {
    /// `select(2)`.
    Select,
    /// `poll(2)`.
    Poll,
    /// `epoll(7)`, level-triggered: a ready fd is reported by every wait until it is no longer ready.
    Epoll,
    /// `epoll(7)`, edge-triggered: a ready fd is reported once per change (new data, new buffer
    /// space); the caller must read or write until `WouldBlock` before waiting for it again.
    EpollEdge,
    /// `io_uring(7)` polls, level-triggered: one-shot polls re-armed after each report (Linux 5.11+).
    IoUring,
    /// `io_uring(7)` multishot polls, edge-triggered: one report per wake-up (Linux 5.13+).
    IoUringEdge,
}

impl BackendKind {
    /// Every backend iomux knows, in the order of the table above.
    pub const ALL: [BackendKind; 6] = [
        BackendKind::Select,
        BackendKind::Poll,
        BackendKind::Epoll,
        BackendKind::EpollEdge,
        BackendKind::IoUring,
        BackendKind::IoUringEdge,
    ];

    /// The name used by `IOMUX_BACKEND` and the command line.
    pub const fn name(self) -> &'static str {
        match self {
            BackendKind::Select => "select",
            BackendKind::Poll => "poll",
            BackendKind::Epoll => "epoll",
            BackendKind::EpollEdge => "epoll-et",
            BackendKind::IoUring => "io-uring",
            BackendKind::IoUringEdge => "io-uring-et",
        }
    }

    /// The backends this machine can run (discovered, not assumed: each kernel interface is
    /// opened once).
    pub fn supported() -> Vec<BackendKind> {
        Self::ALL
            .into_iter()
            .filter(|k| k.probe().is_ok())
            .collect()
    }

    /// Whether this machine can run the backend; if not, why (a kernel without epoll, a
    /// seccomp filter that refuses it).
    pub fn probe(self) -> Result<(), String> {
        match self {
            BackendKind::Select | BackendKind::Poll => Ok(()),
            BackendKind::Epoll | BackendKind::EpollEdge => iomux_sys::epoll::Epoll::new()
                .map(drop)
                .map_err(|e| format!("epoll_create1 failed: {e}")),
            BackendKind::IoUring => iomux_sys::uring::probe(),
            BackendKind::IoUringEdge => iomux_sys::uring::probe().and_then(|()| {
                if iomux_sys::uring::kernel_at_least(5, 13) {
                    Ok(())
                } else {
                    Err("multishot polls need Linux 5.13".to_owned())
                }
            }),
        }
    }

    /// The best supported backend: level-triggered epoll on Linux.
    pub fn recommended() -> BackendKind {
        BackendKind::Epoll
    }

    /// The backend named by `IOMUX_BACKEND`, if the variable is set (an empty value counts as
    /// unset). An unknown name is an error, never silently ignored.
    pub fn from_env() -> Result<Option<BackendKind>, UnknownBackend> {
        match std::env::var(BACKEND_ENV) {
            Ok(name) if !name.trim().is_empty() => name.trim().parse().map(Some),
            _ => Ok(None),
        }
    }

    /// The backend a default selector uses: `IOMUX_BACKEND` if set, else [`recommended`](Self::recommended).
    pub fn default_choice() -> Result<BackendKind, UnknownBackend> {
        Ok(Self::from_env()?.unwrap_or_else(Self::recommended))
    }

    /// Whether each wait hands the whole registered set to the kernel (select, poll).
    pub const fn scans_every_fd(self) -> bool {
        matches!(self, BackendKind::Select | BackendKind::Poll)
    }

    /// The fd numbers it can watch are below this limit (select: `FD_SETSIZE`); `None` means
    /// only `RLIMIT_NOFILE` limits it.
    pub const fn fd_limit(self) -> Option<usize> {
        match self {
            BackendKind::Select => Some(iomux_sys::select::FD_SETSIZE),
            _ => None,
        }
    }

    /// Whether readiness is reported once per change rather than while it lasts.
    pub const fn is_edge_triggered(self) -> bool {
        matches!(self, BackendKind::EpollEdge | BackendKind::IoUringEdge)
    }

    /// Whether errors and hang-ups are reported as such (everything but select, which reports
    /// them as plain readability or writability).
    pub const fn reports_hangup(self) -> bool {
        !matches!(self, BackendKind::Select)
    }
}

impl FromStr for BackendKind {
    type Err = UnknownBackend;
    fn from_str(name: &str) -> Result<Self, UnknownBackend> {
        let wanted = name.to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|k| k.name() == wanted || (wanted == "epoll-lt" && *k == BackendKind::Epoll))
            .ok_or_else(|| UnknownBackend {
                name: name.to_owned(),
            })
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is no backend iomux knows (from `IOMUX_BACKEND` or a command-line flag).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownBackend {
    /// What was asked for.
    pub name: String,
}

impl fmt::Display for UnknownBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown I/O backend {:?}; known backends: ", self.name)?;
        for (i, kind) in BackendKind::ALL.iter().enumerate() {
            f.write_str(if i == 0 { "" } else { ", " })?;
            f.write_str(kind.name())?;
        }
        Ok(())
    }
}

impl std::error::Error for UnknownBackend {}

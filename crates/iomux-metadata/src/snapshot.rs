//! [`Snapshot`]: a running server's live counters, as `iomux serve --stats-addr ADDR` answers
//! `GET /stats` and as `iomux web` and `iomux bench soak` read them.
use serde::{Deserialize, Serialize};

/// What `GET /stats` answers: totals since the server started (the watcher makes rates).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Snapshot {
    pub model: String,
    pub backend: Option<String>,
    pub threads: usize,
    pub pid: u32,
    /// Seconds since the server started.
    pub uptime_s: f64,
    /// Connections open now.
    pub open: usize,
    pub accepted: u64,
    pub refused: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Reads that brought data: one message each for the notes' protocols.
    pub reads: u64,
    /// Waits (`select`/`poll`/`epoll_wait` calls, or ring turns).
    pub waits: u64,
    pub fds_passed: u64,
    pub events: u64,
    pub ctl_calls: u64,
    pub cpu_user_s: f64,
    pub cpu_system_s: f64,
    /// Bytes owed to clients, buffered in the server's own buffers (not the kernel's), when
    /// the threads last published; absent where the model does not add them up.
    #[serde(default)]
    pub buffered_bytes: Option<u64>,
}

//! [`Snapshot`]: a running server's live counters, as `iomux serve --stats-addr ADDR` answers
//! `GET /stats` and as `iomux web` and `iomux bench soak` read them.
use serde::{Deserialize, Serialize};

/// What `GET /stats` answers: totals since the server started (the watcher makes rates).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Snapshot {
    /// The I/O model's name, as `--model` takes it.
    pub model: String,
    /// The selector backend the model waits with, if it waits on one.
    pub backend: Option<String>,
    /// Server threads (`--threads`).
    pub threads: usize,
    /// The server's process id.
    pub pid: u32,
    /// Seconds since the server started.
    pub uptime_s: f64,
    /// Connections open now.
    pub open: usize,
    /// Connections accepted.
    pub accepted: u64,
    /// Connections accepted and then closed unserved (refused by the selector, or no thread).
    pub refused: u64,
    /// Bytes read from clients.
    pub bytes_in: u64,
    /// Bytes written to clients.
    pub bytes_out: u64,
    /// Reads that brought data: one message each for the notes' protocols.
    pub reads: u64,
    /// Waits (`select`/`poll`/`epoll_wait` calls, or ring turns).
    pub waits: u64,
    /// Descriptors handed to the kernel by the waits, summed (none for epoll).
    pub fds_passed: u64,
    /// Events the waits returned, summed.
    pub events: u64,
    /// Registration changes that cost the kernel work (`epoll_ctl` calls, io_uring poll requests).
    pub ctl_calls: u64,
    /// CPU seconds the process has used in user space.
    pub cpu_user_s: f64,
    /// CPU seconds the process has used in the kernel.
    pub cpu_system_s: f64,
    /// Bytes owed to clients, buffered in the server's own buffers (not the kernel's), when
    /// the threads last published; absent where the model does not add them up.
    #[serde(default)]
    pub buffered_bytes: Option<u64>,
}

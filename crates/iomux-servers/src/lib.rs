//! The course notes' servers, one per I/O model, all speaking the same protocols
//! (`iomux serve`).
//!
//! Every model shares binding, signal handling, the shutdown sequence and the summary
//! ([`run()`]); what differs is how a model waits for work:
//! - `blocking` ([`blocking`]): a thread per connection, blocking reads and writes;
//! - `nonblocking` ([`nonblocking`]): one thread trying every socket in a loop, no readiness
//!   API;
//! - one readiness model per selector backend ([`readiness`]): one loop, written once, run
//!   over that backend of the selector library;
//! - `callbacks` ([`callbacks`]): the callback event loop, as the notes' selectors server;
//! - `uring` ([`uring`]): io_uring completions.
//!
//! Every model accepts by the same rules ([`accept`]), serves each client through the library's
//! connection core (`iomux::conn`, paired with its socket in [`conn`]), and drains the same way
//! on shutdown ([`shutdown`]). The HTTP serving loop ([`http`]) follows the same accept and
//! shutdown rules on the callback event loop; `iomux web` and `--stats-addr` ([`stats`]) serve
//! on it.
//!
//! `--threads N` (readiness models) runs N independent loops, each with its own listening
//! socket bound to the same port with `SO_REUSEPORT`: the kernel spreads new connections over
//! the listeners by a hash of the 4-tuple, so there is no acceptor thread, no hand-off queue and
//! no lock between loops. (The cost: a loop that is busy still gets its share of new
//! connections.)
//!
//! What a server says to other processes (the model names, its ready lines, its summary, its
//! live counters, its trace file) is in `iomux-metadata`, which the lab reads without linking
//! this crate.
pub mod accept;
pub mod answer;
pub mod blocking;
pub mod board;
pub mod callbacks;
pub mod config;
pub mod conn;
pub mod counters;
pub mod http;
pub mod listener;
pub mod nonblocking;
pub mod plant;
pub mod readiness;
pub mod run;
pub mod shared;
pub mod shutdown;
pub mod stats;
pub mod uring;

pub use answer::Answer;
pub use config::Config;
pub use counters::Counters;
pub use iomux_metadata::{Model, Summary};
pub use run::run;
pub use shared::Shared;

//! HTTP in the command: the protocol from the `iomux-http` library (framing, pipelining,
//! limits), and the loop that serves it here ([`server`]), with the command's accept and
//! shutdown rules. Used by `iomux web` (the front end) and by `iomux serve --stats-addr` (a
//! server's live counters).
pub use iomux_http::*;

pub mod server;

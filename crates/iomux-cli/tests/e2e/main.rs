//! End-to-end tests: the real `iomux` binary, started on 127.0.0.1 port 0, driven over loopback.
#![allow(missing_docs)]

mod bench;
mod cli;
mod load;
mod matrix;
mod seed;
mod ugly;
mod util;

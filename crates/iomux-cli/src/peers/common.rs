//! Shared by the reference echo servers of `iomux bench echo`, each a binary of this package:
//! `peer-tokio`, `peer-mio` and `peer-epoll`. Like `iomux serve`, each takes `--addr IP:PORT` (port 0 picks a free port),
//! prints `listening on IP:PORT` when ready, and echoes every byte until killed.
//!
//! They exist to be measured against; the iomux library never depends on them or on their
//! runtimes.
use std::net::SocketAddr;

/// The `--addr` argument (default `127.0.0.1:0`).
pub fn addr_from_args() -> SocketAddr {
    let args: Vec<String> = std::env::args().collect();
    let value = args
        .iter()
        .position(|a| a == "--addr")
        .and_then(|i| args.get(i + 1))
        .map(String::as_str);
    value.unwrap_or("127.0.0.1:0").parse().unwrap_or_else(|e| {
        eprintln!("bad --addr: {e}");
        std::process::exit(2)
    })
}

/// Announces the bound address the way `iomux serve` does.
pub fn announce(addr: SocketAddr) {
    use std::io::Write;
    println!("listening on {addr}");
    let _ = std::io::stdout().flush();
}

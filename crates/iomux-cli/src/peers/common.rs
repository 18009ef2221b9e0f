//! Shared by the reference echo servers of `iomux bench echo`, each a binary of this package:
//! `peer-tokio`, `peer-mio`, `peer-epoll` and `peer-monoio`. Like `iomux serve`, each takes `--addr IP:PORT` (port 0 picks a free port),
//! prints `listening on IP:PORT` when ready, and echoes every byte until killed.
//!
//! They exist to be measured against; the iomux library never depends on them or on their
//! runtimes.
use std::net::SocketAddr;

/// Parses the command line (`--addr`, default `127.0.0.1:0`; `--help` describes the peer
/// as `about`) and returns the address to listen on.
pub fn addr_from_args(about: &'static str) -> SocketAddr {
    let matches = clap::Command::new(env!("CARGO_BIN_NAME"))
        .about(about)
        .arg(
            clap::Arg::new("addr")
                .long("addr")
                .default_value("127.0.0.1:0")
                .value_parser(clap::value_parser!(SocketAddr))
                .help("Address to listen on (port 0 picks a free port)"),
        )
        .get_matches();
    *matches.get_one("addr").expect("has a default")
}

/// Announces the bound address the way `iomux serve` does.
pub fn announce(addr: SocketAddr) {
    use std::io::Write;
    println!("{}", iomux_metadata::announce::listening(addr));
    let _ = std::io::stdout().flush();
}

//! The lines a server prints on standard output when it is ready, each written by one function
//! and read back by its pair.
use std::net::SocketAddr;

/// The first line every server prints once it accepts: `listening on IP:PORT` (`iomux serve`,
/// `iomux web`, the lab's peers). The lab reads it back with [`listening_on`].
pub fn listening(addr: SocketAddr) -> String {
    format!("listening on {addr}")
}

/// The address a [`listening`] line names.
pub fn listening_on(line: &str) -> Option<SocketAddr> {
    line.trim().strip_prefix("listening on ")?.parse().ok()
}

/// The line a server prints once its stats address is bound (read back with
/// [`stats_on`]).
pub fn stats(addr: SocketAddr) -> String {
    format!("stats on http://{addr}/stats")
}

/// The stats address a [`stats`] line names.
pub fn stats_on(line: &str) -> Option<SocketAddr> {
    line.trim()
        .strip_prefix("stats on http://")?
        .strip_suffix("/stats")?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_line_reads_back_as_written() {
        let addr: SocketAddr = "127.0.0.1:4242".parse().unwrap();
        assert_eq!(listening_on(&format!("{}\n", listening(addr))), Some(addr));
        assert_eq!(stats_on(&format!("{}\n", stats(addr))), Some(addr));
        assert_eq!(listening_on("listening on nowhere"), None);
        assert_eq!(stats_on(&listening(addr)), None);
    }
}

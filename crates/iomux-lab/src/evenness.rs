//! Whether a closed-loop point's connections were served evenly.
//!
//! A closed loop's latency percentiles count messages, and a connection that is served fast
//! completes many more of them than one that waits: a server that favours some connections
//! while it starves others shows a low p50 beside a huge p99, and its p50 then describes the
//! favoured few. Seen at 1,000 connections × 16 KiB × pipeline 16 (BENCHMARKS §21): p50 5 ms,
//! p99 1.5 s, where an even server's p50 was 200 ms. The load generator measures how evenly
//! each connection was answered (Jain's index); the lab says so under a point that fell short.
use iomux_store::record::Point;

/// Jain's index below which a point's latencies are flagged: 0.9 is one connection in ten
/// getting about twice the others' share, or a quarter of them served at half the rate.
pub const FLOOR: f64 = 0.9;

/// The line said under `point` if its connections were served unevenly, naming the server
/// `server` (its recorded `fairness` and `least_served`; `None` when it has none).
pub fn point_warning(server: &str, point: &Point) -> Option<String> {
    warning(server, point.get("fairness")?, point.get("least_served")?)
}

/// The line said under a point where `server`'s connections were served unevenly.
fn warning(server: &str, fairness: f64, least_served: f64) -> Option<String> {
    (fairness < FLOOR).then(|| {
        format!(
            "uneven service: {server} answered its connections unevenly (Jain's index {fairness:.2}, the least-served connection got {least_served:.2} of the mean); its latency percentiles mostly count the favoured connections' messages"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_point_served_unevenly_is_flagged() {
        assert_eq!(warning("uring", 0.97, 0.8), None);
        assert_eq!(warning("uring", f64::NAN, 0.8), None, "not measured");
        let line = warning("uring", 0.56, 0.51).unwrap();
        assert!(line.contains("uring answered its connections unevenly (Jain's index 0.56, the least-served connection got 0.51 of the mean)"), "{line}");
    }
}

//! `iomux bench wait`: the cost of one readiness wait as the number of watched descriptors grows.
//!
//! This is the libevent `bench.c` experiment (Davide Libenzi's chain): N descriptors, A of them
//! made ready at the start of a round; each one that fires is read and makes the next one in the
//! ring ready, until W writes have been made. The time per round is mostly the waits, and a
//! wait on select or poll costs O(N) (every descriptor copied in and scanned) while epoll's
//! costs O(ready). Each item is one eventfd in semaphore mode (one descriptor, readable while its counter is
//! non-zero), so N can approach RLIMIT_NOFILE; the original uses socket pairs (two each).
use std::io;
use std::time::{Duration, Instant};

use iomux::{BackendKind, Error, Events, Interest, Selector};
use iomux_sys::eventfd::EventFd;
use serde_json::json;

use super::chart::{line_chart, Series};
use super::{median, table, Lab};

#[derive(Clone, Debug)]
pub struct Params {
    pub fds: Vec<usize>,
    pub active: usize,
    pub writes: usize,
    pub rounds: usize,
    pub backends: Vec<BackendKind>,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            fds: vec![100, 1_000, 5_000, 10_000, 15_000],
            active: 100,
            writes: 100,
            rounds: 25,
            backends: BackendKind::ALL.to_vec(),
        }
    }
}

/// One backend at one N.
struct Point {
    round_us: f64,
    waits_per_round: f64,
    fds_per_wait: f64,
    wait_us: f64,
}

pub fn run(lab: &mut Lab, p: &Params) -> io::Result<()> {
    let budget = super::fd_budget()?;
    let (_, hard) = iomux_sys::process::nofile_limit()?;
    lab.say(&format!(
        "wait: the libevent bench.c chain, {} active, {} writes per round, median of {} rounds; one eventfd per item; RLIMIT_NOFILE {budget}",
        p.active, p.writes, p.rounds
    ));
    let mut rows = Vec::new();
    let mut series: Vec<Series> = p
        .backends
        .iter()
        .map(|k| Series {
            name: k.name().into(),
            points: Vec::new(),
        })
        .collect();
    let mut at_smallest: Vec<Option<f64>> = vec![None; p.backends.len()];
    for &n in &p.fds {
        if n as u64 + 64 > budget {
            lab.say(&format!(
                "  N={n} skipped: it needs about {} descriptors and RLIMIT_NOFILE is {budget} (hard limit {hard}); raise the hard limit (ulimit -Hn) to go there",
                n + 64
            ));
            continue;
        }
        let items = (0..n)
            .map(|_| EventFd::semaphore())
            .collect::<io::Result<Vec<_>>>()?;
        let mut row = vec![n.to_string()];
        for (b, &kind) in p.backends.iter().enumerate() {
            match measure(kind, &items, p) {
                Ok(point) => {
                    let base = *at_smallest[b].get_or_insert(point.round_us);
                    row.push(format!(
                        "{:.1} us ({:.2}x), {:.0} fds",
                        point.round_us,
                        point.round_us / base,
                        point.fds_per_wait
                    ));
                    series[b].points.push((n as f64, point.round_us));
                    lab.record(&json!({
                        "experiment": "wait", "backend": kind.name(), "fds": n, "active": p.active, "writes": p.writes,
                        "round_us": point.round_us, "waits_per_round": point.waits_per_round,
                        "fds_passed_per_wait": point.fds_per_wait, "wait_us": point.wait_us,
                    }))?;
                }
                Err(Error::FdTooLarge { .. }) => row.push("FD_SETSIZE wall".into()),
                Err(e) => return Err(e.into()),
            }
        }
        rows.push(row);
    }
    let mut headers = vec!["N fds"];
    headers.extend(p.backends.iter().map(|k| k.name()));
    lab.say("cells: microseconds per round (its ratio to the smallest N), and fds handed to the kernel per wait");
    lab.say(&table(&headers, &rows));
    lab.write_chart(
        "wait",
        &line_chart(
            "Time per round vs registered fds (bench.c chain)",
            "registered descriptors (N)",
            "microseconds per round",
            &series,
            true,
            true,
        ),
    )?;
    Ok(())
}

fn measure(kind: BackendKind, items: &[EventFd], p: &Params) -> iomux::Result<Point> {
    let n = items.len();
    let mut selector: Selector<usize> = Selector::with_backend(kind)?;
    for (i, item) in items.iter().enumerate() {
        selector.register(item, Interest::READ, i)?;
    }
    let active = p.active.clamp(1, n);
    let space = (n / active).max(1);
    let mut events = Events::with_capacity(1024);
    let mut times = Vec::with_capacity(p.rounds);
    let mut waits = Vec::with_capacity(p.rounds);
    let mut wait_us = Vec::with_capacity(p.rounds);
    let mut fds = Vec::with_capacity(p.rounds);
    // One untimed round warms caches and (for epoll) the ready list's memory.
    for round in 0..=p.rounds {
        selector.reset_stats();
        let started = Instant::now();
        for a in 0..active {
            items[(a * space) % n].signal()?;
        }
        let mut writes = p.writes;
        let mut fired = 0;
        while fired < active + p.writes {
            selector.select(&mut events, Some(Duration::from_secs(5)))?;
            if events.is_empty() {
                return Err(
                    io::Error::other("bench wait: a round stalled (no event within 5 s)").into(),
                );
            }
            for event in &events {
                let Some((key, _)) = selector.resolve(event) else {
                    continue;
                };
                let i = *key.data();
                items[i].drain()?;
                fired += 1;
                if writes > 0 {
                    items[(i + 1) % n].signal()?;
                    writes -= 1;
                }
            }
        }
        let elapsed = started.elapsed();
        if round > 0 {
            let s = selector.stats();
            times.push(elapsed.as_secs_f64() * 1e6);
            waits.push(s.wait_calls as f64);
            wait_us.push(s.wait_time.as_secs_f64() * 1e6 / s.wait_calls.max(1) as f64);
            fds.push(s.fds_per_wait());
        }
    }
    Ok(Point {
        round_us: median(times),
        waits_per_round: median(waits),
        fds_per_wait: median(fds),
        wait_us: median(wait_us),
    })
}

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
use serde::{Deserialize, Serialize};

use crate::chart::{line_chart, Series};
use crate::experiment::Experiment;
use crate::lab::Lab;
use crate::params::quick;
use crate::report::Report;
use crate::table::table;
use iomux_store::compare::median;
use iomux_store::record::Point;

/// The experiment's name, in records and on the command line.
pub const NAME: &str = "wait";
/// The subject the others are compared with across testbeds.
pub const REFERENCE: &str = "epoll";

/// `iomux bench wait` parameters; their defaults are the flags' defaults.
#[derive(clap::Args, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// Numbers of registered descriptors to try (one eventfd each).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "100,1000,5000,10000,15000"
    )]
    pub fds: Vec<usize>,
    /// Descriptors made ready at the start of each round (libevent's default: 1, a pure chain).
    #[arg(long, default_value_t = 1)]
    pub active: usize,
    /// Chained writes per round.
    #[arg(long, default_value_t = 100)]
    pub writes: usize,
    /// Timed rounds per point (the median is reported).
    #[arg(long, default_value_t = 25)]
    pub rounds: usize,
    /// Backends to measure (default: every backend this machine supports).
    #[arg(long, value_delimiter = ',')]
    #[serde(with = "crate::units::names")]
    pub backends: Vec<BackendKind>,
}

impl Experiment for Params {
    const NAME: &'static str = NAME;
    const REFERENCE: &'static str = REFERENCE;
    const HEADLINE: &'static str = "wait_us";

    /// Measures every backend at every N and records a point for each.
    fn measure(&self, lab: &mut Lab) -> io::Result<()> {
        let p = self;
        let budget = crate::params::fd_budget()?;
        let (_, hard) = iomux_sys::process::nofile_limit()?;
        let rounds = if lab.quick { 2 } else { p.rounds };
        for &n in &p.fds {
            let point = |kind: BackendKind| {
                Point::new(NAME, kind.name())
                    .param("fds", n)
                    .param("active", p.active)
                    .param("writes", p.writes)
                    .param("rounds", rounds)
            };
            let skip = if lab.quick && n > quick::MAX_FDS {
                Some(format!(
                    "skipped: more than {} fds in a --quick run",
                    quick::MAX_FDS
                ))
            } else if n as u64 + 64 > budget {
                Some(format!("skipped: needs about {} fds; RLIMIT_NOFILE is {budget} (hard limit {hard}; raise it with ulimit -Hn)", n + 64))
            } else {
                None
            };
            if let Some(why) = skip {
                for kind in p.backends() {
                    lab.point(point(kind).param("skipped", why.as_str()))?;
                }
                continue;
            }
            let items = (0..n)
                .map(|_| EventFd::semaphore())
                .collect::<io::Result<Vec<_>>>()?;
            for kind in p.backends() {
                match measure_one(kind, &items, p, rounds) {
                    Ok(m) => lab.point(
                        point(kind)
                            .metric("round_us", m.round_us)
                            .metric("waits_per_round", m.waits_per_round)
                            .metric("fds_passed_per_wait", m.fds_per_wait)
                            .metric("wait_us", m.wait_us),
                    )?,
                    Err(Error::FdTooLarge { limit, .. }) => lab.point(
                        point(kind).param("skipped", format!("FD_SETSIZE wall ({limit})")),
                    )?,
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(())
    }

    /// The table and the chart, from the recorded points.
    fn render(&self, report: &mut Report, points: &[Point]) -> io::Result<()> {
        let p = self;
        let rounds = points
            .iter()
            .find_map(|pt| pt.at("rounds"))
            .unwrap_or(p.rounds as u64);
        report.say(&format!(
            "wait: the libevent bench.c chain, {} active, {} writes per round, median of {rounds} rounds; one eventfd per item",
            p.active, p.writes
        ));
        let backends = p.backends();
        let mut rows = Vec::new();
        let mut series: Vec<Series> = backends
            .iter()
            .map(|k| Series {
                name: k.name().into(),
                points: Vec::new(),
            })
            .collect();
        let mut at_smallest: Vec<Option<f64>> = vec![None; backends.len()];
        for &n in &p.fds {
            let mut row = vec![n.to_string()];
            for (b, kind) in backends.iter().enumerate() {
                let found = points
                    .iter()
                    .find(|pt| pt.subject == kind.name() && pt.at("fds") == Some(n as u64));
                let cell = match found {
                    None => "-".to_owned(),
                    Some(pt) => match (pt.get("round_us"), pt.params.get("skipped")) {
                        (Some(round_us), _) => {
                            let base = *at_smallest[b].get_or_insert(round_us);
                            series[b].points.push((n as f64, round_us));
                            format!(
                                "{round_us:.1} us ({:.2}x), {:.0} fds",
                                round_us / base,
                                pt.get("fds_passed_per_wait").unwrap_or(f64::NAN)
                            )
                        }
                        (None, Some(why)) => why.as_str().unwrap_or("skipped").to_owned(),
                        (None, None) => "?".to_owned(),
                    },
                };
                row.push(cell);
            }
            rows.push(row);
        }
        let mut headers = vec!["N fds"];
        headers.extend(backends.iter().map(|k| k.name()));
        report.say("cells: microseconds per round (its ratio to the smallest N), and fds handed to the kernel per wait");
        report.say(&table(&headers, &rows));
        report.write_chart(
            "wait",
            &line_chart(
                "Time per round vs registered fds (bench.c chain)",
                "registered descriptors (N)",
                "microseconds per round",
                &series,
                true,
                true,
            ),
        )
    }
}

impl Params {
    fn backends(&self) -> Vec<BackendKind> {
        if self.backends.is_empty() {
            BackendKind::supported()
        } else {
            self.backends.clone()
        }
    }
}

/// One backend at one N.
struct Measured {
    round_us: f64,
    waits_per_round: f64,
    fds_per_wait: f64,
    wait_us: f64,
}

fn measure_one(
    kind: BackendKind,
    items: &[EventFd],
    p: &Params,
    rounds: usize,
) -> iomux::Result<Measured> {
    let n = items.len();
    let mut selector: Selector<usize> = Selector::with_backend(kind)?;
    for (i, item) in items.iter().enumerate() {
        selector.register(item, Interest::READ, i)?;
    }
    let active = p.active.clamp(1, n);
    let space = (n / active).max(1);
    let mut events = Events::with_capacity(1024);
    let mut times = Vec::with_capacity(rounds);
    let mut waits = Vec::with_capacity(rounds);
    let mut wait_us = Vec::with_capacity(rounds);
    let mut fds = Vec::with_capacity(rounds);
    // One untimed round warms caches and (for epoll) the ready list's memory.
    for round in 0..=rounds {
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
    Ok(Measured {
        round_us: median(times),
        waits_per_round: median(waits),
        fds_per_wait: median(fds),
        wait_us: median(wait_us),
    })
}

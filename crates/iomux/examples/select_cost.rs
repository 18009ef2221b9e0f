//! What one wait costs on each backend with N registered descriptors, K of them ready: the
//! selector's own counters for a single call, then the mean time per call over many calls.
//! Run: `cargo run --release -p iomux --example select_cost -- 1000 10`
//!
//! Each descriptor is an eventfd (one fd each, so 1,000 of them fit below select's FD_SETSIZE).
use std::time::Duration;

use iomux::{BackendKind, Events, Interest, Selector};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(Ok(1000), |a| a.parse())?;
    let ready: usize = args.next().map_or(Ok(10), |a| a.parse())?;
    iomux_sys::process::raise_nofile_limit()?;
    let fds: Vec<_> = (0..n)
        .map(|_| iomux_sys::eventfd::EventFd::new())
        .collect::<Result<_, _>>()?;
    for fd in fds.iter().step_by((n / ready.max(1)).max(1)).take(ready) {
        fd.signal()?;
    }
    println!("{n} registered, {ready} ready");
    println!(
        "{:<9} {:>10} {:>11} {:>7} {:>10} {:>12} {:>14}",
        "backend", "wait calls", "fds passed", "events", "ctl calls", "wait time", "mean per call"
    );
    for kind in BackendKind::ALL {
        let mut sel = Selector::with_backend(kind)?;
        for (i, fd) in fds.iter().enumerate() {
            sel.register(fd, Interest::READ, i)?;
        }
        let registration = sel.stats();
        sel.reset_stats();
        let mut events = Events::with_capacity(1024);
        sel.select(&mut events, Some(Duration::ZERO))?;
        let one = sel.stats();
        let rounds = 2_000;
        for _ in 0..rounds {
            sel.select(&mut events, Some(Duration::ZERO))?;
        }
        let mean = (sel.stats().wait_time - one.wait_time) / rounds;
        println!(
            "{:<9} {:>10} {:>11} {:>7} {:>10} {:>12?} {:>14?}",
            kind.name(),
            one.wait_calls,
            one.fds_passed,
            one.events_returned,
            registration.ctl_calls,
            one.wait_time,
            mean
        );
    }
    println!("(ctl calls: registration syscalls for all {n}; epoll-et reports each ready fd once, so its later calls return nothing)");
    Ok(())
}

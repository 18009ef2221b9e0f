//! `iomux serve` under scripted syscall faults: the server runs with `IOMUX_FAULTS` (see
//! `iomux_sys::fault`; the binary the tests build has the sys layer's fault injection compiled
//! in), and the lab's load generator checks every byte.
//!
//! With transient faults (`EINTR`, short writes, spurious wake-ups, failed accepts; and,
//! level-triggered, `EAGAIN`s and short reads) every message must come back and no connection
//! may fail; with resets as well, connections may end early but no byte may differ. Either way
//! the server must still answer a new client afterwards and shut down cleanly. The seed comes
//! from the clock and is printed with a failure; `IOMUX_FAULT_SEED` replays it.
//!
//! Every model runs: the readiness models, callbacks and `blocking` get faults on reads,
//! writes, accepts and waits; `uring` gets short sends, `EINTR` and early returns from
//! `io_uring_enter`, and reused numbers on accepted connections. Edge-triggered models and
//! `blocking` get no `EAGAIN` (nor short reads): to the first it may mean "drained", to the
//! second "the read timed out", so a kernel would not send it to them spuriously.
use std::io::{Read, Write};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::util::*;

macro_rules! under_faults {
    ($($module:ident = $model:literal,)+) => {
        $(mod $module {
            #[test]
            fn serves_verified_load_under_transient_faults() {
                super::serves_verified_load_under_faults($model, false);
            }
            #[test]
            fn resets_end_connections_but_corrupt_no_byte() {
                super::serves_verified_load_under_faults($model, true);
            }
        })+
    };
}

under_faults! {
    blocking = "blocking",
    nonblocking = "nonblocking",
    select = "select",
    poll = "poll",
    epoll = "epoll",
    epoll_et = "epoll-et",
    io_uring = "io-uring",
    io_uring_et = "io-uring-et",
    callbacks = "callbacks",
    uring = "uring",
}

fn seed() -> u64 {
    std::env::var("IOMUX_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        })
}

fn serves_verified_load_under_faults(model: &str, resets: bool) {
    let seed = seed();
    let mut faults = format!("{seed},60");
    if model.ends_with("-et") || model == "blocking" {
        faults.push_str(",edge");
    }
    if resets {
        faults.push_str(",resets");
    }
    let context = format!("model {model}, IOMUX_FAULTS={faults} (replay: IOMUX_FAULT_SEED={seed})");
    let server = Server::start_with_env(&[("IOMUX_FAULTS", &faults)], model, "echo", &[]);
    let out = Command::new(BIN)
        .args(["load", "--addr", &server.addr.to_string(), "--json"])
        .args(["--conns", "20", "--size", "64", "--pipeline", "4"])
        .args(["--duration", "0.5", "--warmup", "0"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: serde_json::Value = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("{context}: no JSON from load: {stdout}"));
    assert_eq!(report["mismatches"], 0, "{context}: {report}");
    assert!(
        report["messages"].as_u64().unwrap() > 0,
        "{context}: {report}"
    );
    if !resets {
        assert_eq!(report["errors"], 0, "{context}: {report}");
        assert_eq!(report["unanswered"], 0, "{context}: {report}");
    }
    // Alive and answering after it all. The faults go on, so with resets a connection may be
    // reset (found in CI): one of a few must get its answer. Without them, the first must.
    let attempts = if resets { 10 } else { 1 };
    let answered = (0..attempts).any(|_| {
        let mut client = server.connect();
        client
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let mut got = [0u8; 11];
        client.write_all(b"still there").is_ok()
            && client.read_exact(&mut got).is_ok()
            && &got == b"still there"
    });
    assert!(
        answered,
        "{context}: no answer after the load ({attempts} tries)"
    );
    let (status, stderr) = server.stop_for_stderr();
    assert!(status.success(), "{context}: exit {status}; {stderr}");
    // Each thread that had a schedule said what it injected as it ended.
    let injected: u64 = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("iomux-sys: "))
        .filter_map(|l| l.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    assert!(
        injected > 0,
        "{context}: no fault reached the server; stderr: {stderr}"
    );
}

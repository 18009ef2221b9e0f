//! `iomux runs claims`: the notes' claims checked against a seeded store (runs whose figures
//! this file chooses, so each verdict is known: held, not held, not measured, corrected), and
//! against an empty store (every command that would measure them). The same store seeds the
//! web's claims page and run tables (web.rs, browser.rs).
use std::path::Path;

use iomux_store::record::{Point, Run};
use iomux_store::testing::Scratch;
use serde_json::Value;

use crate::store::{iomux, ok, write_jsonl};
use crate::util::BIN;

/// The seeded echo run (every subject of the edge-triggered and io_uring claims).
pub const ECHO_RUN: &str = "claims-echo";

/// The verdict each claim must get from [`claims_store`], by claim id.
pub const SEEDED_VERDICTS: &[(&str, &str)] = &[
    ("busy-loop", "held"),
    ("select-scans", "held"),
    ("select-wall", "held"),
    ("poll-scans", "held"),
    ("epoll-ready-only", "held"),
    ("idle-connections", "unmeasured"),
    ("edge-triggered", "not-held"),
    ("epoll-mmap", "corrected"),
    ("async-io", "held"),
];

/// The run record `iomux bench ARGS --dry-run` prints (this binary's own parameters for the
/// experiment), as run `id` started at `started`.
fn run_record(args: &[&str], id: &str, started: f64) -> Run {
    let out = std::process::Command::new(BIN)
        .args(["bench"])
        .args(args)
        .args(["--dry-run", "--no-db"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let mut run: Run = serde_json::from_slice(&out.stdout).unwrap();
    run.id = id.to_owned();
    // As the command was typed, in late 2026 (`started` counts seconds from there).
    run.command_line = ["iomux", "bench"]
        .into_iter()
        .chain(args.iter().copied())
        .map(str::to_owned)
        .collect();
    let started = 1_796_000_000.0 + started;
    run.started = started;
    run.finished = Some(started + 10.0);
    run.git_commit = format!("commit-{id}");
    run
}

/// A busy run: `share` of a core for the busy loop, 1% for epoll.
pub fn busy_run(id: &str, started: f64, share: f64) -> (Run, Vec<Point>) {
    let run = run_record(&["busy"], id, started);
    let point = |subject: &str, share: f64, cpu: f64| {
        Point::new("busy", subject)
            .param("idle", 100)
            .param("active", 10)
            .param("rate", 200.0)
            .metric("msgs_per_s", 200.0)
            .metric("server_cpu_us_per_msg", cpu)
            .metric("server_cpu_share", share)
            .metric("p50_us", 110.0)
            .metric("p99_us", 300.0)
    };
    let points = vec![
        point("nonblocking", share, share * 5000.0),
        point("epoll", 0.01, 50.0),
    ];
    (run, points)
}

fn wait_run(id: &str, started: f64) -> (Run, Vec<Point>) {
    let run = run_record(
        &[
            "wait",
            "--fds",
            "100,1000,5000",
            "--backends",
            "select,poll,epoll",
        ],
        id,
        started,
    );
    let mut points = Vec::new();
    for (n, scan_us, epoll_us) in [(100u64, 9.0, 1.1), (1000, 36.0, 1.1), (5000, 158.0, 1.2)] {
        // select a little dearer than poll, as measured (BENCHMARKS.md §1).
        let scan_us = |subject: &str| {
            if subject == "select" {
                scan_us * 1.04
            } else {
                scan_us
            }
        };
        for subject in ["select", "poll", "epoll"] {
            let pt = Point::new("wait", subject)
                .param("fds", n)
                .param("active", 1)
                .param("writes", 100)
                .param("rounds", 25);
            let pt = match subject {
                "select" if n > 1024 => pt.param("skipped", "FD_SETSIZE wall (1024)"),
                "epoll" => pt
                    .metric("round_us", epoll_us * 101.0)
                    .metric("waits_per_round", 101.0)
                    .metric("fds_passed_per_wait", 0.0)
                    .metric("wait_us", epoll_us),
                _ => pt
                    .metric("round_us", scan_us(subject) * 101.0)
                    .metric("waits_per_round", 101.0)
                    .metric("fds_passed_per_wait", n as f64)
                    .metric("wait_us", scan_us(subject)),
            };
            points.push(pt);
        }
    }
    (run, points)
}

/// An echo run at one point: (subject, server CPU µs per message, messages per second), and a
/// syscall-counting pass of (subject, syscalls per message).
pub fn echo_run(
    id: &str,
    started: f64,
    timed: &[(&str, f64, f64)],
    syscalls: &[(&str, f64)],
) -> (Run, Vec<Point>) {
    let servers: Vec<&str> = timed.iter().map(|(s, _, _)| *s).collect();
    let run = run_record(
        &[
            "echo",
            "--servers",
            &servers.join(","),
            "--conns",
            "100",
            "--sizes",
            "64",
            "--pipelines",
            "1",
        ],
        id,
        started,
    );
    let at = |subject: &str| {
        Point::new("echo", subject)
            .param("conns", 100)
            .param("size", 64)
            .param("pipeline", 1)
    };
    let mut points: Vec<Point> = timed
        .iter()
        .map(|&(subject, cpu, rate)| {
            at(subject)
                .metric("msgs_per_s", rate)
                .metric("server_cpu_us_per_msg", cpu)
                .metric("p50_us", 900.0)
                .metric("p99_us", 1500.0)
                .metric("errors", 0.0)
                .metric("mismatches", 0.0)
        })
        .collect();
    points.extend(syscalls.iter().map(|&(subject, per_msg)| {
        at(subject)
            .param("pass", "syscalls")
            .metric("total", per_msg * 10_000.0)
            .metric("messages", 10_000.0)
            .metric("per_msg", per_msg)
    }));
    (run, points)
}

/// The echo run of [`ECHO_RUN`]: epoll-et no cheaper than epoll; uring at 1% of epoll's
/// syscalls; floor 17% under tokio (better), uring 26% over it (worse).
pub fn seeded_echo() -> (Run, Vec<Point>) {
    echo_run(
        ECHO_RUN,
        3000.0,
        &[
            ("epoll", 4.8, 101_000.0),
            ("epoll-et", 4.75, 99_000.0),
            ("uring", 5.9, 97_000.0),
            ("tokio", 4.7, 103_000.0),
            ("floor", 3.9, 105_000.0),
        ],
        &[("epoll", 2.0), ("uring", 0.02), ("tokio", 2.0)],
    )
}

/// A store where every measured claim but the idle one has a run: see [`SEEDED_VERDICTS`].
/// The newest echo run measured only tokio and epoll, so the edge-triggered and io_uring
/// claims must come from the older full one.
pub fn claims_store(dir: &Path) -> String {
    let db = dir.join("claims.db").to_str().unwrap().to_owned();
    let runs = vec![
        busy_run("claims-busy", 1000.0, 0.99),
        wait_run("claims-wait", 2000.0),
        seeded_echo(),
        echo_run(
            "claims-echo-partial",
            4000.0,
            &[("epoll", 4.8, 101_000.0), ("tokio", 4.7, 103_000.0)],
            &[],
        ),
    ];
    let folder = dir.join("claims-seed");
    write_jsonl(&folder, &runs);
    ok(iomux(&["runs", "import", folder.to_str().unwrap()], &db));
    db
}

fn findings(db: &str) -> Value {
    let out = ok(iomux(&["runs", "claims", "--json"], db));
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

fn by_id<'a>(json: &'a Value, id: &str) -> &'a Value {
    json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == id)
        .unwrap_or_else(|| panic!("no claim {id}: {json}"))
}

#[test]
fn runs_claims_judges_each_claim_by_the_newest_run_that_measures_it() {
    let dir = Scratch::new("claims-e2e", "seeded");
    let db = claims_store(&dir);
    let json = findings(&db);
    let found = json["findings"].as_array().unwrap();
    assert_eq!(found.len(), SEEDED_VERDICTS.len(), "{json}");
    for (i, (id, verdict)) in SEEDED_VERDICTS.iter().enumerate() {
        assert_eq!(found[i]["id"], *id, "the notes' order");
        assert_eq!(found[i]["verdict"], *verdict, "{id}: {}", found[i]);
    }
    // The figures behind a verdict, and the run they come from.
    let busy = by_id(&json, "busy-loop");
    assert_eq!(busy["run"]["id"], "claims-busy");
    let shares: Vec<f64> = busy["figures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["value"].as_f64().unwrap())
        .collect();
    assert_eq!(shares, vec![0.99, 0.01]);
    // The edge-triggered and io_uring claims skip the newer run that lacks their subjects.
    for id in ["edge-triggered", "async-io"] {
        assert_eq!(by_id(&json, id)["run"]["id"], ECHO_RUN, "{id}");
    }
    assert!(by_id(&json, "async-io")["summary"]
        .as_str()
        .unwrap()
        .contains("0.010x"));
    assert_eq!(
        json["commands"],
        serde_json::json!(["iomux bench idle --models poll,epoll"])
    );

    let text = ok(iomux(&["runs", "claims"], &db));
    assert!(text.contains("1. A server that polls"), "{text}");
    assert!(
        text.contains("[HELD]") && text.contains("[NOT HELD]"),
        "{text}"
    );
    assert!(
        text.contains("[NOT MEASURED]") && text.contains("[CORRECTED]"),
        "{text}"
    );
    assert!(
        text.contains("nonblocking used 99% of a core, epoll 1.0% (99.0x)"),
        "{text}"
    );
    assert!(text.contains("run: claims-busy"), "{text}");
    assert!(
        text.ends_with("To measure what no stored run has measured yet:\n  iomux bench idle --models poll,epoll\n"),
        "{text}"
    );

    // A newer busy run in which the busy loop used a third of a core: the verdict follows it.
    let newer = dir.join("newer");
    write_jsonl(&newer, &[busy_run("claims-busy-2", 5000.0, 0.33)]);
    ok(iomux(&["runs", "import", newer.to_str().unwrap()], &db));
    let json = findings(&db);
    let busy = by_id(&json, "busy-loop");
    assert_eq!(busy["run"]["id"], "claims-busy-2");
    assert_eq!(busy["verdict"], "not-held", "{busy}");
    // Only this machine's runs, or another's: none there.
    let other = ok(iomux(
        &["runs", "claims", "--json", "--testbed", "elsewhere"],
        &db,
    ));
    let other: Value = serde_json::from_str(&other).unwrap();
    assert!(other["findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["verdict"] == "unmeasured" || f["verdict"] == "corrected"));
}

#[test]
fn runs_claims_on_an_empty_store_prints_the_commands_that_measure_them() {
    let dir = Scratch::new("claims-e2e", "empty");
    let db = dir.join("empty.db").to_str().unwrap().to_owned();
    let text = ok(iomux(&["runs", "claims"], &db));
    assert_eq!(text.matches("[NOT MEASURED]").count(), 8, "{text}");
    assert_eq!(text.matches("[CORRECTED]").count(), 1, "{text}");
    assert!(text.contains("no stored run of `bench busy` yet"), "{text}");
    let tail: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("To measure what no stored run"))
        .skip(1)
        .collect();
    assert_eq!(
        tail,
        vec![
            "  iomux bench busy",
            "  iomux bench wait",
            "  iomux bench idle --models poll,epoll",
            "  iomux bench echo --servers epoll,epoll-et --repeat 3",
            "  iomux bench echo --servers epoll,uring",
        ]
    );
    let json = findings(&db);
    assert_eq!(json["commands"].as_array().unwrap().len(), 5, "{json}");
    assert!(json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["run"].is_null() && f["figures"] == serde_json::json!([])));
}

#[test]
fn a_real_quick_busy_run_gets_a_verdict_from_its_own_figures() {
    let dir = Scratch::new("claims-e2e", "real");
    let db = dir.join("real.db").to_str().unwrap().to_owned();
    ok(iomux(
        &[
            "bench",
            "busy",
            "--quick",
            "--out",
            dir.join("busy").to_str().unwrap(),
        ],
        &db,
    ));
    let json = findings(&db);
    let busy = by_id(&json, "busy-loop");
    assert!(
        busy["verdict"] == "held" || busy["verdict"] == "not-held",
        "a real run decides: {busy}"
    );
    assert_eq!(busy["figures"].as_array().unwrap().len(), 2, "{busy}");
    assert_eq!(busy["run"]["quick"], true);
    assert!(
        ok(iomux(&["runs", "claims"], &db)).contains("a --quick run: figures for checking only")
    );
}

//! The lab's verdicts on known changes: a cost planted in the servers (`IOMUX_PLANT`, compiled
//! into this test build only) must be caught — one more syscall per message between two runs,
//! extra CPU per message between the interleaved arms of one run — and the same code must not
//! be called changed.
use std::path::Path;
use std::process::{Command, Output};

use crate::util::BIN;

fn temp_dir(name: &str) -> iomux_store::testing::Scratch {
    iomux_store::testing::Scratch::new("verdicts-e2e", name)
}

/// `iomux ARGS` with a store of the test's own and `IOMUX_PLANT` as given (unset if `None`).
fn iomux(args: &[&str], db: &Path, plant: Option<&str>) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env("IOMUX_DB", db).env_remove("IOMUX_PLANT");
    if let Some(plant) = plant {
        cmd.env("IOMUX_PLANT", plant);
    }
    cmd.output().unwrap()
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The rows of `runs compare ... --json`.
fn rows(json: &str) -> Vec<serde_json::Value> {
    let c: serde_json::Value = serde_json::from_str(json).unwrap();
    c["rows"].as_array().unwrap().clone()
}

fn verdict_of<'a>(rows: &'a [serde_json::Value], point: &str, metric: &str) -> &'a str {
    rows.iter()
        .find(|r| r["point"].as_str().unwrap().starts_with(point) && r["metric"] == metric)
        .unwrap_or_else(|| panic!("no row {point} {metric} in {rows:?}"))["verdict"]
        .as_str()
        .unwrap()
}

/// One syscall more per message, planted, is a regression of the strace pass's count between
/// two runs; and a planted run is never taken for a clean run of its commit.
#[test]
fn a_planted_syscall_per_message_is_a_regression_between_two_runs() {
    if Command::new("strace").arg("-V").output().is_err() {
        assert!(
            std::env::var_os("IOMUX_REQUIRE_TOOLS").is_none(),
            "strace is required here"
        );
        eprintln!("skipped: strace is not installed");
        return;
    }
    let dir = temp_dir("planted-syscall");
    let db = dir.join("runs.db");
    let args = [
        "bench",
        "echo",
        "--servers",
        "epoll,uring",
        "--conns",
        "10",
        "--sizes",
        "64",
        "--pipelines",
        "1",
        "--duration",
        "0.3",
        "--warmup",
        "0.05",
        "--syscalls",
        "probe",
    ];
    for (out, plant) in [("a", None), ("b", Some("syscalls=1"))] {
        let out = dir.join(out);
        let mut all = args.to_vec();
        all.extend(["--out", out.to_str().unwrap()]);
        ok(iomux(&all, &db, plant));
    }
    let json = ok(iomux(
        &["runs", "compare", "latest~1", "latest", "--json"],
        &db,
        None,
    ));
    let c: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(
        c["same_commit"].is_null(),
        "a planted run is not an A/A one: {}",
        c["same_commit"]
    );
    let rows = rows(&json);
    for server in ["epoll", "uring"] {
        let point = format!("echo/{server}/conns=10,pass=strace");
        assert_eq!(
            verdict_of(&rows, &point, "per_msg"),
            "regression",
            "{server}: {rows:?}"
        );
    }
    // The text says which rule decided.
    let text = ok(iomux(&["runs", "compare", "latest~1", "latest"], &db, None));
    assert!(
        text.contains("regression") && text.contains("count: +"),
        "{text}"
    );
}

/// Extra CPU per message in arm B only is a regression between the arms of one run, decided
/// by the paired test; the peer (tokio, the same program in both arms) does not move.
#[test]
fn planted_cpu_in_one_arm_is_a_regression_between_the_arms() {
    let dir = temp_dir("planted-cpu");
    let db = dir.join("runs.db");
    // Arm A: this binary with nothing planted (a wrapper that clears IOMUX_PLANT).
    let wrapper = dir.join("iomux-unplanted");
    std::fs::write(
        &wrapper,
        format!("#!/bin/sh\nunset IOMUX_PLANT\nexec {BIN} \"$@\"\n"),
    )
    .unwrap();
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let out = dir.join("arms");
    let text = ok(iomux(
        &[
            "bench",
            "echo",
            "--servers",
            "epoll,tokio",
            "--conns",
            "10",
            "--sizes",
            "64",
            "--pipelines",
            "1",
            "--duration",
            "0.08",
            "--warmup",
            "0.02",
            "--syscalls",
            "off",
            "--against",
            wrapper.to_str().unwrap(),
            "--pairs",
            "14",
            "--out",
            out.to_str().unwrap(),
        ],
        &db,
        Some("cpu-ns=20000"),
    ));
    assert!(text.contains("B (this build) against A"), "{text}");
    let json = ok(iomux(&["runs", "compare", "latest", "--json"], &db, None));
    let c: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(c["mode"]["mode"], "arms", "{json}");
    let rows = rows(&json);
    let epoll = "echo/epoll/conns=10,pipeline=1,size=64";
    assert_eq!(
        verdict_of(&rows, epoll, "server_cpu_us_per_msg"),
        "regression",
        "{rows:?}"
    );
    let tokio = "echo/tokio/conns=10,pipeline=1,size=64";
    assert_ne!(
        verdict_of(&rows, tokio, "server_cpu_us_per_msg"),
        "regression",
        "{rows:?}"
    );
    // A run without arms is told so, in one line.
    let plain = dir.join("plain");
    ok(iomux(
        &[
            "bench",
            "wait",
            "--quick",
            "--fds",
            "100",
            "--backends",
            "epoll",
            "--out",
            plain.to_str().unwrap(),
        ],
        &db,
        None,
    ));
    let out = iomux(&["runs", "compare", "latest"], &db, None);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no interleaved arms"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `--against` something that is not an iomux binary fails before measuring, in one line.
#[test]
fn against_a_program_that_is_not_iomux_is_refused() {
    let dir = temp_dir("against-bad");
    let out = iomux(
        &[
            "bench",
            "echo",
            "--servers",
            "epoll",
            "--conns",
            "1",
            "--sizes",
            "64",
            "--pipelines",
            "1",
            "--against",
            "/bin/false",
            "--no-db",
            "--out",
            dir.join("x").to_str().unwrap(),
        ],
        &dir.join("runs.db"),
        None,
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--against /bin/false"), "{stderr}");
}

/// `iomux bench --calibrate K`: K runs in a row teach the testbed's noise bands, which are
/// stored, listed by `runs calibration` and used by `runs compare`. (It needs a clean build:
/// a modified work tree is refused, in one line, and that is what is checked there.)
#[test]
fn calibrate_learns_and_stores_this_testbeds_noise() {
    let dir = temp_dir("calibrate");
    let db = dir.join("runs.db");
    let record = ok(iomux(&["bench", "--dry-run", "echo"], &db, None));
    let record: serde_json::Value = serde_json::from_str(&record).unwrap();
    let commit = record["git_commit"].as_str().unwrap().to_owned();
    // Ten points of two servers, three runs: three pairs give 60 changes per metric.
    let out = dir.join("runs");
    let calibrate = iomux(
        &[
            "bench",
            "--calibrate",
            "3",
            "echo",
            "--servers",
            "epoll,callbacks",
            "--conns",
            "1,2,3,4,5",
            "--sizes",
            "64,128",
            "--pipelines",
            "1",
            "--duration",
            "0.05",
            "--warmup",
            "0.02",
            "--syscalls",
            "off",
            "--out",
            out.to_str().unwrap(),
        ],
        &db,
        None,
    );
    if commit.ends_with("-dirty") || commit == "unknown" {
        assert!(!calibrate.status.success());
        let stderr = String::from_utf8_lossy(&calibrate.stderr);
        assert!(stderr.contains("needs a clean build"), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        eprintln!("calibration itself not run: this build ({commit}) is not a clean commit");
        return;
    }
    let text = ok(calibrate);
    assert!(text.contains("calibration run 3 of 3"), "{text}");
    assert!(
        text.contains("this testbed's noise, learned from 60 changes in 3 runs"),
        "{text}"
    );
    for i in 1..=3 {
        assert!(out.join(format!("run-{i}/results.jsonl")).exists());
    }
    let bands: serde_json::Value =
        serde_json::from_str(&ok(iomux(&["runs", "calibration", "--json"], &db, None))).unwrap();
    let bands = bands.as_array().unwrap();
    let cpu = bands
        .iter()
        .find(|b| b["metric"] == "server_cpu_us_per_msg")
        .unwrap_or_else(|| panic!("{bands:?}"));
    assert_eq!(cpu["samples"], 60, "{cpu}");
    assert_eq!(cpu["runs"], 3, "{cpu}");
    assert!(cpu["band"].as_f64().unwrap() > 0.0, "{cpu}");
    let table = ok(iomux(&["runs", "calibration"], &db, None));
    assert!(table.contains("server_cpu_us_per_msg"), "{table}");
    // Two of those runs compared: the timings are judged by the calibrated band.
    let json = ok(iomux(
        &["runs", "compare", "latest~1", "latest", "--json"],
        &db,
        None,
    ));
    let judged = rows(&json);
    let timed = judged
        .iter()
        .find(|r| r["metric"] == "server_cpu_us_per_msg")
        .unwrap_or_else(|| panic!("{json}"));
    assert!(
        timed["rule"].as_str().unwrap().contains("calibrated from"),
        "{timed}"
    );
}

/// `--calibrate` asked of a run that cannot teach anything is refused before measuring.
#[test]
fn calibrate_refuses_what_cannot_teach_noise() {
    let dir = temp_dir("calibrate-refused");
    for (args, why) in [
        (vec!["--calibrate", "1"], "at least 2 runs"),
        (vec!["--calibrate", "3", "--no-db"], "drop --no-db"),
        (vec!["--calibrate", "3", "--quick"], "drop --quick"),
    ] {
        let mut all = vec!["bench"];
        all.extend(args);
        all.extend(["wait", "--fds", "10", "--backends", "epoll"]);
        let out = iomux(&all, &dir.join("runs.db"), None);
        assert!(!out.status.success(), "{all:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(why), "{all:?}: {stderr}");
    }
}

/// `--against` with `--rates`: the fixed-rate points are measured in both arms too, every
/// window at one offered load (a share of the slowest closed-loop rate of either arm).
#[test]
fn fixed_rates_are_measured_in_both_arms() {
    let dir = temp_dir("arms-rates");
    let out = dir.join("run");
    ok(iomux(
        &[
            "bench",
            "echo",
            "--servers",
            "epoll,tokio",
            "--conns",
            "10",
            "--sizes",
            "64",
            "--pipelines",
            "1",
            "--duration",
            "0.05",
            "--warmup",
            "0.02",
            "--syscalls",
            "off",
            "--against",
            BIN,
            "--pairs",
            "2",
            "--rates",
            "50",
            "--no-db",
            "--out",
            out.to_str().unwrap(),
        ],
        &dir.join("runs.db"),
        None,
    ));
    let text = std::fs::read_to_string(out.join("results.jsonl")).unwrap();
    let points: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .ok()?
                .get("point")
                .cloned()
        })
        .collect();
    let fixed: Vec<&serde_json::Value> = points
        .iter()
        .filter(|p| p["params"]["rate_pct"] == 50)
        .collect();
    let offered: Vec<f64> = fixed
        .iter()
        .map(|p| p["metrics"]["offered_per_s"].as_f64().unwrap())
        .collect();
    assert!(!offered.is_empty(), "{points:?}");
    assert!(
        offered.iter().all(|o| *o == offered[0] && *o > 0.0),
        "{offered:?}"
    );
    for subject in ["epoll", "tokio"] {
        for arm in ["A", "B"] {
            let windows = fixed
                .iter()
                .filter(|p| {
                    p["subject"] == subject && p["params"]["arm"] == arm && !p["repeat"].is_null()
                })
                .count();
            assert_eq!(windows, 2, "{subject} arm {arm}: {fixed:?}");
        }
    }
}

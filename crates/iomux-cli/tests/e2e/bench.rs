//! `iomux bench`: every experiment end to end at a tiny size; its JSON lines parse and its
//! charts are written.
use std::path::Path;
use std::process::Command;

use crate::util::*;

fn bench(args: &[&str], out: &Path) -> String {
    let result = Command::new(BIN)
        .arg("bench")
        .args(args)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&result.stdout).into_owned();
    assert!(
        result.status.success(),
        "bench {args:?} failed: {stdout}\n{}",
        String::from_utf8_lossy(&result.stderr)
    );
    stdout
}

fn results(out: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(out.join("results.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("iomux-bench-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn assert_svg(out: &Path, name: &str) {
    let svg = std::fs::read_to_string(out.join(name)).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
        "{name} is not an SVG"
    );
}

#[test]
fn bench_wait_runs_every_backend_and_shows_the_select_wall() {
    let out = temp_dir("wait");
    let text = bench(
        &[
            "wait", "--fds", "20,1100", "--active", "5", "--writes", "10", "--rounds", "3",
        ],
        &out,
    );
    assert!(
        text.contains("FD_SETSIZE wall"),
        "select cannot take 1100 fds: {text}"
    );
    let rows = results(&out);
    assert_eq!(
        rows.len(),
        7,
        "4 backends at N=20, 3 at N=1100 (select refused): {rows:?}"
    );
    for row in &rows {
        assert_eq!(row["experiment"], "wait");
        assert!(row["round_us"].as_f64().unwrap() > 0.0);
        let passed = row["fds_passed_per_wait"].as_f64().unwrap();
        match row["backend"].as_str().unwrap() {
            "select" | "poll" => assert_eq!(passed, row["fds"].as_f64().unwrap()),
            _ => assert_eq!(passed, 0.0),
        }
    }
    assert_svg(&out, "wait.svg");
    assert!(std::fs::read_to_string(out.join("summary.txt"))
        .unwrap()
        .contains("bench.c"));
}

#[test]
fn bench_echo_compares_models_with_every_peer() {
    let out = temp_dir("echo");
    let text = bench(
        &[
            "echo",
            "--servers",
            "epoll,callbacks,tokio,mio,floor",
            "--conns",
            "2",
            "--sizes",
            "64",
            "--pipelines",
            "1,4",
            "--duration",
            "0.15",
            "--warmup",
            "0.05",
            "--syscalls",
            "every",
        ],
        &out,
    );
    assert!(
        text.contains("x tokio") && text.contains("x floor"),
        "{text}"
    );
    let rows = results(&out);
    let echo: Vec<_> = rows.iter().filter(|r| r["experiment"] == "echo").collect();
    assert_eq!(echo.len(), 10, "5 servers x 2 points");
    for row in &echo {
        assert!(row["msgs_per_s"].as_f64().unwrap() > 0.0, "{row}");
        assert!(
            row["server_cpu_us_per_msg"].as_f64().unwrap() > 0.0,
            "{row}"
        );
        assert_eq!(row["mismatches"], 0);
    }
    // With strace installed (.ci/run installs it), syscalls are counted at every point and shown
    // in every point's table.
    let counted: Vec<_> = rows
        .iter()
        .filter(|r| r["experiment"] == "echo-syscalls")
        .collect();
    if !text.contains("strace is not installed") {
        assert_eq!(counted.len(), 10, "5 servers x 2 points");
        assert_eq!(
            text.matches("syscalls/msg").count(),
            2,
            "a column in each point's table: {text}"
        );
        for row in counted {
            let per_msg = row["per_msg"].as_f64().unwrap();
            // Pipelined messages share reads and writes; one at a time, each needs its own.
            let floor = if row["pipeline"] == 1 { 1.0 } else { 0.05 };
            assert!(per_msg >= floor, "{row}");
        }
    }
    assert_svg(&out, "echo.svg");
}

#[test]
fn bench_idle_and_busy_run_end_to_end() {
    let out = temp_dir("idle");
    bench(
        &[
            "idle",
            "--models",
            "poll,epoll",
            "--idle",
            "0,50",
            "--active",
            "2",
            "--duration",
            "0.15",
            "--warmup",
            "0.05",
        ],
        &out,
    );
    let rows = results(&out);
    assert_eq!(rows.len(), 4);
    let poll_50 = rows
        .iter()
        .find(|r| r["model"] == "poll" && r["idle"] == 50)
        .unwrap();
    assert!(
        poll_50["fds_passed_per_wait"].as_f64().unwrap() >= 50.0,
        "poll hands the idle fds to the kernel: {poll_50}"
    );
    let epoll_50 = rows
        .iter()
        .find(|r| r["model"] == "epoll" && r["idle"] == 50)
        .unwrap();
    assert_eq!(epoll_50["fds_passed_per_wait"].as_f64().unwrap(), 0.0);
    assert_svg(&out, "idle.svg");

    let out = temp_dir("busy");
    bench(
        &[
            "busy",
            "--idle",
            "5",
            "--active",
            "2",
            "--rate",
            "100",
            "--duration",
            "0.3",
        ],
        &out,
    );
    let rows = results(&out);
    let cpu = |model: &str| {
        rows.iter().find(|r| r["model"] == model).unwrap()["server_cpu_us_per_msg"]
            .as_f64()
            .unwrap()
    };
    assert!(
        cpu("nonblocking") > 5.0 * cpu("epoll"),
        "the busy loop burns far more CPU per message: {rows:?}"
    );
}

#[test]
fn bench_refuses_unknown_servers_clearly() {
    let out = Command::new(BIN)
        .args(["bench", "echo", "--servers", "nginx"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown server \"nginx\""));
}

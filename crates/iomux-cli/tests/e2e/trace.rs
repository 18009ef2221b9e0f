//! Trace mode end to end: `iomux serve --trace FILE` under load writes a Chrome trace of its
//! loop turns, `iomux trace summary FILE` reads it back, and the ring stays within its bound.
use std::process::Command;

use iomux_store::testing::Scratch;

use crate::util::*;

/// Serves `model` with `--trace` under a short verified load; returns the trace file's JSON and
/// the folder holding it (removed when dropped).
fn traced_run(
    tag: &str,
    model: &str,
    extra: &[&str],
) -> (serde_json::Value, std::path::PathBuf, Scratch) {
    let dir = Scratch::new("trace-test", &format!("{tag}-{model}"));
    let file = dir.join("trace.json");
    let mut args = vec!["--trace", file.to_str().unwrap()];
    args.extend_from_slice(extra);
    let server = Server::start(model, "echo", &args);
    let load = Command::new(BIN)
        .args(["load", "--addr", &server.addr.to_string()])
        .args(["--conns", "10", "--duration", "0.2", "--warmup", "0"])
        .output()
        .unwrap();
    assert!(load.status.success(), "{load:?}");
    let (status, _) = server.stop();
    assert!(status.success());
    let text = std::fs::read_to_string(&file).expect("the trace file is written on shutdown");
    let json = serde_json::from_str(&text).expect("the trace is JSON");
    (json, file, dir)
}

/// What `iomux trace summary FILE` prints (it must succeed).
fn summary(file: &std::path::Path) -> String {
    let out = Command::new(BIN)
        .args(["trace", "summary"])
        .arg(file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn events<'a>(trace: &'a serde_json::Value, cat: &str) -> Vec<&'a serde_json::Value> {
    trace["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["cat"] == cat)
        .collect()
}

#[test]
fn serve_trace_records_waits_and_syscalls_and_summary_reads_them() {
    for model in ["epoll", "poll", "callbacks"] {
        let (trace, file, _dir) = traced_run("summary", model, &[]);
        let waits = events(&trace, "wait");
        let syscalls = events(&trace, "syscall");
        assert!(waits.len() > 10, "{model}: {} waits", waits.len());
        assert!(waits
            .iter()
            .all(|w| w["ph"] == "X" && w["dur"].as_f64().unwrap() >= 0.0));
        assert!(waits.iter().any(|w| w["args"]["woke"] == "fd"), "{model}");
        for name in ["accept4", "recvfrom", "sendto"] {
            assert!(
                syscalls
                    .iter()
                    .any(|c| c["name"] == name && c["args"]["fd"].as_i64().unwrap() >= 0),
                "{model}: no {name} in the trace"
            );
        }
        let text = summary(&file);
        assert!(
            text.contains(&format!("{} turns", waits.len())),
            "{model}: {text}"
        );
        assert!(text.contains("woke for: fd"), "{model}: {text}");
        for name in ["recvfrom", "sendto", "accept4"] {
            assert!(text.contains(name), "{model}: {text}");
        }
    }
}

#[test]
fn the_completion_model_traces_its_enters_and_the_completions_each_reaped() {
    let (trace, file, _dir) = traced_run("summary", "uring", &[]);
    let waits = events(&trace, "wait");
    let completions = events(&trace, "completion");
    assert!(waits.len() > 10, "{} waits", waits.len());
    assert!(waits.iter().all(|w| w["args"]["backend"] == "io-uring"));
    assert!(
        events(&trace, "syscall").is_empty(),
        "a ring's loop makes no socket syscalls"
    );
    for name in ["accept completion", "recv completion", "send completion"] {
        assert!(
            completions
                .iter()
                .any(|c| c["name"] == name && c["args"]["fd"].as_i64().unwrap() >= 0),
            "no {name} in the trace"
        );
    }
    // Each wait says how many completions it found ready: they add up to the ones recorded
    // (the wake-ups and closes are ready too, but not recorded).
    let ready: u64 = waits
        .iter()
        .map(|w| w["args"]["events"].as_u64().unwrap())
        .sum();
    assert!(
        ready >= completions.len() as u64,
        "{ready} ready, {} recorded",
        completions.len()
    );
    let text = summary(&file);
    assert!(
        text.contains("recv completion") && text.contains("send completion"),
        "{text}"
    );
}

#[test]
fn the_trace_ring_keeps_only_the_newest_records() {
    let (trace, _file, _dir) = traced_run("ring", "epoll", &["--trace-records", "60"]);
    let kept = events(&trace, "wait").len() + events(&trace, "syscall").len();
    // The bound is in records; the newest turn is kept whole even if it alone is larger.
    assert!(kept <= 60 + 200, "{kept} records kept");
    assert!(trace["otherData"]["dropped_turns"].as_u64().unwrap() > 0);
}

#[test]
fn trace_is_refused_clearly_where_it_cannot_record_and_garbage_is_one_line() {
    let out = Command::new(BIN)
        .args([
            "serve",
            "--model",
            "blocking",
            "--addr",
            "127.0.0.1:0",
            "--trace",
            "/tmp/never.json",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("--trace is offered by") && err.contains("epoll"),
        "{err}"
    );
    let dir = Scratch::new("trace-test", "garbage");
    let file = dir.join("garbage.json");
    std::fs::write(&file, "not a trace").unwrap();
    let out = Command::new(BIN)
        .args(["trace", "summary"])
        .arg(&file)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("is not a trace"), "{err}");
}

//! The command line: help, version, clear errors, the clients.
use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};

use crate::util::*;

per_model!(serve_help_names_the_model);

fn iomux(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).output().unwrap()
}

#[test]
fn help_explains_every_flag_and_version_prints() {
    let out = iomux(&["serve", "--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--model",
        "--proto",
        "--addr",
        "--threads",
        "--max-conns",
        "--idle-timeout",
        "--reply",
        "--max-buffer",
        "--grace",
    ] {
        assert!(text.contains(flag), "serve --help lacks {flag}");
    }
    for (cmd, flags) in [
        ("client", &["--addr"][..]),
        (
            "hello",
            &["--addr", "--clients", "--message", "--wait-ms"][..],
        ),
    ] {
        let text = String::from_utf8_lossy(&iomux(&[cmd, "--help"]).stdout).into_owned();
        for flag in flags {
            assert!(text.contains(flag), "{cmd} --help lacks {flag}");
        }
    }
    let version = iomux(&["--version"]);
    assert!(version.status.success());
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("iomux "));
}

/// `serve --help` names the model.
fn serve_help_names_the_model(model: &str) {
    let text = String::from_utf8_lossy(&iomux(&["serve", "--help"]).stdout).into_owned();
    assert!(text.contains(model), "serve --help lacks model {model}");
}

/// `iomux serve --list-models` offers exactly the models whose names `per_model!` gives every
/// per-model body, so a model added to the binary cannot go untested.
#[test]
fn every_model_of_the_binary_is_tested() {
    let out = iomux(&["serve", "--list-models"]);
    assert!(
        out.status.success(),
        "serve --list-models failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let offered: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect();
    let names = per_model!(@names);
    let tested: BTreeSet<String> = names.iter().map(|&name| name.to_owned()).collect();
    assert_eq!(
        tested.len(),
        names.len(),
        "the per_model! list in tests/e2e/main.rs names a model twice: {names:?}"
    );
    for model in &offered {
        assert!(
            tested.contains(model),
            "the binary offers model {model:?}, which is missing from the per_model! list in \
             tests/e2e/main.rs (it lists {names:?})"
        );
    }
    for model in &tested {
        assert!(
            offered.contains(model),
            "the per_model! list in tests/e2e/main.rs has model {model:?}, which \
             `iomux serve --list-models` does not offer (it offers {offered:?})"
        );
    }
}

fn assert_one_line_error(out: &std::process::Output, needle: &str) {
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(needle), "stderr lacks {needle:?}: {err}");
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{err}"
    );
}

#[test]
fn errors_are_one_clear_line() {
    let server = Server::start("epoll", "echo", &[]);
    let addr = server.addr.to_string();
    let out = iomux(&[
        "serve", "--model", "epoll", "--proto", "echo", "--addr", &addr,
    ]);
    assert_one_line_error(&out, "in use");
    assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);
    assert_one_line_error(
        &iomux(&["serve", "--model", "kqueue", "--proto", "echo"]),
        "kqueue",
    );
    let out = Command::new(BIN)
        .env("IOMUX_BACKEND", "kqueue")
        .args([
            "serve",
            "--model",
            "callbacks",
            "--proto",
            "echo",
            "--addr",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert_one_line_error(&out, "unknown I/O backend \"kqueue\"");
    assert_one_line_error(
        &iomux(&[
            "serve",
            "--model",
            "poll",
            "--proto",
            "echo",
            "--idle-timeout=-1",
        ]),
        "--idle-timeout",
    );
    assert_one_line_error(
        &iomux(&[
            "serve",
            "--model",
            "blocking",
            "--proto",
            "echo",
            "--threads",
            "2",
        ]),
        "--threads",
    );
}

#[test]
fn hello_prints_each_reply_and_fails_clearly() {
    let server = Server::start("epoll", "upper", &[]);
    let out = iomux(&[
        "hello",
        "--addr",
        &server.addr.to_string(),
        "--clients",
        "5",
        "--message",
        "hi",
        "--wait-ms",
        "20",
    ]);
    assert!(out.status.success());
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    lines.sort();
    assert_eq!(
        lines,
        (0..5)
            .map(|i| format!("client {i}: HI_SB"))
            .collect::<Vec<_>>()
    );
    drop(server);
    let out = iomux(&[
        "hello",
        "--addr",
        "127.0.0.1:1",
        "--clients",
        "2",
        "--wait-ms",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("client 0: failed") && err.contains("refused"),
        "{err}"
    );
}

#[test]
fn client_reads_a_pipe_and_exits_zero_at_eof() {
    let server = Server::start("callbacks", "upper", &[]);
    let mut child = Command::new(BIN)
        .args(["client", "--addr", &server.addr.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"hello\n\nworld\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        ">>: HELLO_SB\n>>: >>: WORLD_SB\n>>: \n"
    );
}

/// `iomux serve` with no flags is an epoll echo server (here on port 0 rather than the default
/// 9000, which another program may hold), and `--summary json` prints one JSON object.
#[test]
fn serve_without_flags_is_an_epoll_echo_server() {
    let server = Server::start_args(&["--summary", "json"]);
    assert_eq!(exchange(server.addr, b"defaults").unwrap(), b"defaults");
    let (status, rest) = server.stop();
    assert!(status.success());
    let summary: serde_json::Value = serde_json::from_str(rest.trim())
        .unwrap_or_else(|e| panic!("--summary json printed {rest:?}: {e}"));
    assert_eq!(summary["model"], "epoll");
    assert_eq!(summary["backend"], "epoll");
    assert_eq!(summary["accepted"], 1);
    assert_eq!(summary["bytes_in"], 8);
    assert_eq!(summary["bytes_out"], 8);
    assert!(summary["selector"]["wait_calls"].as_u64().unwrap() > 0);
}

//! `iomux load`: verification, open-loop timing, JSON, limits.
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::util::*;

fn load(addr: SocketAddr, extra: &[&str]) -> (std::process::Output, Option<serde_json::Value>) {
    let out = Command::new(BIN)
        .args(["load", "--addr", &addr.to_string(), "--json"])
        .args(extra)
        .output()
        .unwrap();
    let json = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok());
    (out, json)
}

/// A thread-per-connection echo server whose answers pass through `mangle(offset, byte)`, and
/// which stalls every connection during `stall` (if any), as a server under a pause would.
fn odd_echo_server(mangle: fn(u64, u8) -> u8, stall: Option<(Duration, Duration)>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let born = Instant::now();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            std::thread::spawn(move || {
                let mut offset = 0u64;
                let mut buf = [0u8; 16384];
                while let Ok(n) = conn.read(&mut buf) {
                    if n == 0 {
                        return;
                    }
                    if let Some((from, length)) = stall {
                        let (start, end) = (born + from, born + from + length);
                        let now = Instant::now();
                        if now >= start && now < end {
                            std::thread::sleep(end - now);
                        }
                    }
                    for b in &mut buf[..n] {
                        *b = mangle(offset, *b);
                        offset += 1;
                    }
                    if conn.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

#[test]
fn load_reports_json_against_a_correct_server() {
    let server = Server::start("epoll", "echo", &[]);
    let (out, json) = load(
        server.addr,
        &[
            "--conns",
            "20",
            "--size",
            "512",
            "--pipeline",
            "4",
            "--duration",
            "0.5",
            "--warmup",
            "0.1",
            "--idle",
            "30",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j = json.expect("one JSON line on stdout");
    for key in [
        "msgs_per_s",
        "mb_per_s",
        "p50_us",
        "p99_us",
        "p999_us",
        "max_us",
        "conns",
        "errors",
        "mismatches",
    ] {
        assert!(j.get(key).is_some(), "JSON lacks {key}: {j}");
    }
    assert!(j["msgs_per_s"].as_f64().unwrap() > 100.0, "{j}");
    assert_eq!(j["mismatches"], 0);
    assert_eq!(j["errors"], 0);
    assert_eq!(j["conns"], 20);
    assert!(j["p50_us"].as_f64().unwrap() <= j["p99_us"].as_f64().unwrap());
    // An event loop answers every connection alike.
    assert!(j["fairness"].as_f64().unwrap() > 0.9, "{j}");
    let (_, summary) = server.stop();
    assert!(
        summary.starts_with("served 50 connections"),
        "20 active + 30 idle: {summary}"
    );
}

/// A server that answers its first connection at once and every other one 20 ms late: the
/// load says the connections were served unevenly, whatever its percentiles say.
#[test]
fn load_says_when_a_server_favours_some_connections() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for (k, conn) in listener.incoming().enumerate() {
            let Ok(mut conn) = conn else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = conn.read(&mut buf) {
                    if n == 0 {
                        return;
                    }
                    if k > 0 {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    if conn.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    let (out, json) = load(
        addr,
        &[
            "--conns",
            "4",
            "--size",
            "64",
            "--duration",
            "0.5",
            "--warmup",
            "0.1",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j = json.expect("one JSON line on stdout");
    assert!(j["fairness"].as_f64().unwrap() < 0.5, "{j}");
    assert!(j["least_served"].as_f64().unwrap() < 0.2, "{j}");
}

#[test]
fn load_catches_a_corrupting_server() {
    let addr = odd_echo_server(|offset, b| if offset == 5_000 { b ^ 0x20 } else { b }, None);
    let (out, json) = load(
        addr,
        &[
            "--conns",
            "4",
            "--size",
            "1000",
            "--duration",
            "0.5",
            "--warmup",
            "0",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "a mismatch must fail the run");
    let j = json.unwrap();
    assert_eq!(
        j["mismatches"], 4,
        "every connection's 5,001st byte was flipped: {j}"
    );
    let human = Command::new(BIN)
        .args([
            "load",
            "--addr",
            &addr.to_string(),
            "--conns",
            "1",
            "--size",
            "1000",
            "--duration",
            "0.3",
            "--warmup",
            "0",
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&human.stdout).contains("CORRUPTED"));
}

#[test]
fn load_catches_a_server_that_drops_bytes() {
    // Answers short: the load sees a byte stream that no longer lines up with what it sent.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = conn.read(&mut buf) {
                    if n == 0 || conn.write_all(&buf[1..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    let (out, json) = load(
        addr,
        &[
            "--conns",
            "2",
            "--size",
            "100",
            "--duration",
            "0.3",
            "--warmup",
            "0",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(json.unwrap()["mismatches"].as_u64().unwrap() > 0);
}

#[test]
fn open_loop_keeps_its_schedule_and_counts_a_stall() {
    // The server stalls 300 ms, 0.6 s into the run. An open loop keeps sending on schedule and
    // charges the stall to every message that was due during it.
    let addr = odd_echo_server(
        |_, b| b,
        Some((Duration::from_millis(600), Duration::from_millis(300))),
    );
    let (out, json) = load(
        addr,
        &[
            "--conns",
            "4",
            "--size",
            "64",
            "--rate",
            "1000",
            "--duration",
            "1.5",
            "--warmup",
            "0.1",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j = json.unwrap();
    let messages = j["messages"].as_u64().unwrap();
    assert!(
        (1350..=1650).contains(&messages),
        "1000 msg/s for 1.5 s, got {messages}"
    );
    let p99 = j["p99_us"].as_f64().unwrap();
    assert!(
        p99 >= 150_000.0,
        "a 300 ms stall must show in p99 when timed from the intended send: {j}"
    );
    assert!(j["max_us"].as_f64().unwrap() >= 250_000.0, "{j}");
}

/// `on_schedule` measures the load generator, not the server: stopped (SIGSTOP) for 300 ms of a
/// 1.5 s window, an open loop sends a fifth of its messages late, and says so.
#[test]
fn an_open_loop_that_could_not_run_says_how_much_it_sent_on_schedule() {
    let server = Server::start("epoll", "echo", &[]);
    let child = Command::new(BIN)
        .args(["load", "--addr", &server.addr.to_string(), "--json"])
        .args(["--conns", "4", "--size", "64", "--rate", "1000"])
        .args(["--duration", "1.5", "--warmup", "0.1"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    std::thread::sleep(Duration::from_millis(700));
    let signal = |name: &str| {
        let status = Command::new("kill").args([name, &pid]).status().unwrap();
        assert!(status.success(), "kill {name}");
    };
    signal("-STOP");
    std::thread::sleep(Duration::from_millis(300));
    signal("-CONT");
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let j: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let on_schedule = j["on_schedule"].as_f64().unwrap();
    assert!(
        (0.3..0.85).contains(&on_schedule),
        "a fifth of the window's messages were due while the load was stopped: {j}"
    );
    assert_eq!(j["errors"], 0, "{j}");
}

#[test]
fn load_says_clearly_when_the_fd_limit_stops_it() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let started = Instant::now();
    let out = Command::new(BIN)
        .args([
            "load",
            "--addr",
            &listener.local_addr().unwrap().to_string(),
            "--conns",
            "15000",
            "--idle",
            "15000",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("RLIMIT_NOFILE") && err.contains("--conns"),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the budget is checked before connecting"
    );
    let _keep = TcpStream::connect(listener.local_addr().unwrap());
}

/// When one source address runs out of ephemeral ports, the load generator moves on to
/// 127.0.0.2, 127.0.0.3, ... Shown in a private network namespace (its port range is its own)
/// narrowed to 100 ports, with 150 connections to one server: without spreading, connection 101
/// fails with EADDRNOTAVAIL. Needs root and unshare(1); elsewhere it says so and skips.
#[test]
fn load_spreads_over_loopback_sources_when_ports_run_out() {
    let works = |cmd: &mut Command| cmd.output().is_ok_and(|o| o.status.success());
    if !works(Command::new("unshare").args(["-n", "true"])) || !works(Command::new("ip").arg("-V"))
    {
        eprintln!(
            "SKIPPED load_spreads_over_loopback_sources_when_ports_run_out: \
             cannot create a network namespace (needs root, unshare and ip from iproute2)"
        );
        return;
    }
    let script = format!(
        "ip link set lo up || exit 90
         echo '40000 40099' > /proc/sys/net/ipv4/ip_local_port_range || exit 91
         '{bin}' serve --model epoll --proto echo --addr 127.0.0.1:9100 > /dev/null 2>&1 &
         server=$!
         sleep 0.3
         '{bin}' load --addr 127.0.0.1:9100 --conns 150 --duration 0.3 --warmup 0 --json
         status=$?
         kill $server
         exit $status",
        bin = BIN
    );
    let out = Command::new("unshare")
        .args(["-n", "sh", "-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "exit {:?}: {}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    assert_eq!(j["conns"], 150);
    assert_eq!(j["errors"], 0);
    assert_eq!(j["mismatches"], 0);
}

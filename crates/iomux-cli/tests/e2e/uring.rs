//! The completion model's own pitfalls, each provoked on purpose: the ones other io_uring
//! servers have hit. (The behaviours every model shares run against it through `per_model!`.)
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::matrix::model_serves_every_protocol;
use crate::util::*;

fn summary_number(summary: &str, after: &str) -> u64 {
    let value: serde_json::Value = serde_json::from_str(summary.trim()).expect(summary);
    value[after]
        .as_u64()
        .unwrap_or_else(|| panic!("no {after} in {summary}"))
}

/// A provided-buffer ring of one 16-byte buffer: every multishot receive ends with ENOBUFS
/// almost at once. Nothing is lost; the receive is re-armed once the buffer is back.
#[test]
fn an_exhausted_buffer_ring_loses_nothing_and_resumes() {
    let server = Server::start(
        "uring",
        "echo",
        &[
            "--ring-buffers",
            "1",
            "--ring-buffer-size",
            "16",
            "--summary",
            "json",
        ],
    );
    let payload = Rng::new(11).bytes(256 * 1024);
    let reply = exchange(server.addr, &payload).unwrap();
    assert!(
        reply == payload,
        "got {} of {} bytes",
        reply.len(),
        payload.len()
    );
    let (status, summary) = server.stop();
    assert!(status.success());
    assert!(
        summary_number(&summary, "out_of_buffers") > 0,
        "the ring never ran dry, so this test proved nothing: {summary}"
    );
}

/// Two 16 KiB receive buffers for 128 connections, each with 64 KiB in flight: the ring runs
/// dry all the time. Receives that ran dry wait their turn for buffers, oldest first; armed
/// again all at once they failed again at once (about 100 failed receives a message) while
/// the few connections whose receive stayed armed took every buffer (Jain's index 0.02-0.04).
#[test]
fn a_ring_that_runs_dry_serves_every_connection_alike_without_spinning() {
    let server = Server::start(
        "uring",
        "echo",
        &[
            "--ring-buffers",
            "2",
            "--ring-buffer-size",
            "16384",
            "--summary",
            "json",
        ],
    );
    let out = std::process::Command::new(BIN)
        .args(["load", "--addr", &server.addr.to_string(), "--json"])
        .args(["--conns", "128", "--size", "16384", "--pipeline", "4"])
        .args(["--duration", "1", "--warmup", "0.2"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let load: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    assert_eq!(load["errors"], 0, "{load}");
    assert_eq!(load["mismatches"], 0, "{load}");
    assert!(load["fairness"].as_f64().unwrap() > 0.9, "{load}");
    let (status, summary) = server.stop();
    assert!(status.success());
    let messages = summary_number(&summary, "bytes_in") / 16384;
    let dry = summary_number(&summary, "out_of_buffers");
    assert!(
        dry > 0,
        "the ring never ran dry, so this test proved nothing: {summary}"
    );
    assert!(
        dry < 5 * messages,
        "{dry} receives ran dry for {messages} messages: re-armed into an empty ring"
    );
}

/// A completion queue of 8 entries under 200 concurrent clients: completions overflow, the
/// kernel keeps them, and every client gets its exact answer.
#[test]
fn a_completion_queue_far_smaller_than_the_clients_loses_nothing() {
    model_serves_every_protocol("uring", &["--ring-entries", "4"]);
    // And it did overflow (else this test proved nothing): 200 clients at once.
    let server = Server::start(
        "uring",
        "echo",
        &["--ring-entries", "4", "--summary", "json"],
    );
    let clients: Vec<_> = (0..200)
        .map(|i| {
            let addr = server.addr;
            std::thread::spawn(move || {
                let payload = Rng::new(i).bytes(20_000);
                assert!(exchange(addr, &payload).unwrap() == payload);
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    let (status, summary) = server.stop();
    assert!(status.success());
    assert!(summary_number(&summary, "cq_overflows") > 0, "{summary}");
}

/// Connections reset while their receive and send are in flight, and new connections
/// accepted at once into the same fd numbers: no byte of an old connection reaches a new one.
#[test]
fn closed_connections_completions_never_reach_the_next_owner_of_the_fd() {
    let server = Server::start("uring", "echo", &[]);
    for round in 0..200u32 {
        let mut doomed = server.connect();
        let junk = vec![0xEEu8; 64 * 1024];
        let _ = doomed.write_all(&junk);
        // Reset (not FIN) with data unread in both directions.
        socket2::SockRef::from(&doomed)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(doomed);
        let mut fresh = server.connect();
        let mine = format!("round {round} payload").into_bytes();
        assert_eq!(round_trip(&mut fresh, &mine), mine, "round {round}");
    }
    let (status, _) = server.stop();
    assert!(status.success());
}

/// A reader that takes its echo slowly, in small bites: sends queue up (one in flight, the
/// rest owed, partial sends resumed) and every byte arrives in order.
#[test]
fn a_slow_reader_gets_every_byte_in_order() {
    let server = Server::start("uring", "echo", &[]);
    let payload = Rng::new(5).bytes(3 << 20);
    let mut c = server.connect();
    let mut writer = c.try_clone().unwrap();
    let sent = payload.clone();
    let t = std::thread::spawn(move || writer.write_all(&sent).unwrap());
    let mut got = Vec::with_capacity(payload.len());
    let mut bite = [0u8; 997];
    while got.len() < payload.len() {
        let n = c.read(&mut bite).unwrap();
        assert!(n > 0, "closed after {} bytes", got.len());
        got.extend_from_slice(&bite[..n]);
        if got.len() % 50 == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    t.join().unwrap();
    assert!(got == payload, "echo differs");
}

/// Multishot accept under `ulimit -n 64`: it ends with EMFILE; the server pauses (no spin),
/// serves who it has, and accepts again when descriptors come free.
#[test]
fn multishot_accept_at_ulimit_64_pauses_and_recovers() {
    let server = Server::start_with_fd_limit(64, "uring", "echo", &[]);
    let mut clients: Vec<TcpStream> = (0..120).map(|_| server.connect()).collect();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(round_trip(&mut clients[0], b"first"), b"first");
    let before = server.cpu_ticks();
    std::thread::sleep(Duration::from_millis(1000));
    let burnt = server.cpu_ticks() - before;
    assert!(
        burnt < 30,
        "{burnt} ticks of CPU in 1 s while out of fds: spinning"
    );
    assert!(
        server.stderr().contains("Too many open files"),
        "{}",
        server.stderr()
    );
    let mut last = clients.pop().unwrap();
    clients.truncate(10);
    assert_eq!(
        round_trip(&mut last, b"last"),
        b"last",
        "accepts did not resume"
    );
}

/// Each ring setup the command line offers works on this kernel, and names itself when
/// refused (the fallback itself is tested in iomux-sys with a setup every kernel refuses).
#[test]
fn every_ring_setup_serves() {
    for setup in ["plain", "coop-taskrun", "defer-taskrun", "auto"] {
        let server = Server::start("uring", "echo", &["--ring-setup", setup]);
        let mut c = server.connect();
        assert_eq!(
            round_trip(&mut c, setup.as_bytes()),
            setup.as_bytes(),
            "{setup}"
        );
        let (status, _) = server.stop();
        assert!(status.success(), "{setup}");
    }
}

/// io_uring refused as a locked-down container refuses it (seccomp, EPERM): each way of
/// asking for it fails with one clear line that says what was tried and what works instead;
/// no panic, and the models that do not need it still run.
#[test]
fn io_uring_refused_by_seccomp_gives_one_clear_line() {
    let run = |args: &[&str], backend: Option<&str>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_iomux"));
        cmd.args(args).args(["--addr", "127.0.0.1:0"]);
        if let Some(b) = backend {
            cmd.env("IOMUX_BACKEND", b);
        }
        iomux_sys::seccomp::forbid_io_uring(&mut cmd);
        cmd.output().unwrap()
    };
    for (args, backend, names) in [
        (
            &["serve", "--model", "uring"][..],
            None,
            "models that work here",
        ),
        (
            &["serve", "--model", "io-uring-et"][..],
            None,
            "models that work here",
        ),
        (
            &["serve", "--model", "callbacks"][..],
            Some("io-uring"),
            "backends that work here",
        ),
    ] {
        let out = run(args, backend);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}: {stderr}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{args:?}: not one line: {stderr}");
        eprintln!("{args:?}: {}", lines[0]);
        for part in ["io_uring_setup failed", "seccomp", names, "epoll"] {
            assert!(
                lines[0].contains(part),
                "{args:?}: {part:?} missing: {stderr}"
            );
        }
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    // The readiness models do not need io_uring: epoll serves under the same filter.
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_iomux"));
    cmd.args(["serve", "--model", "epoll", "--addr", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    iomux_sys::seccomp::forbid_io_uring(&mut cmd);
    let mut child = cmd.spawn().unwrap();
    // The reader stays open until the server has exited: it prints its summary there.
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    let addr = line.trim().strip_prefix("listening on ").expect(&line);
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(
        round_trip(&mut c, b"no io_uring needed"),
        b"no io_uring needed"
    );
    iomux_sys::process::kill(child.id(), libc::SIGTERM).unwrap();
    assert!(child.wait().unwrap().success());
}

/// Every answer sent with zero-copy sends (`--ring-zero-copy-above 1`): the buffer stays with
/// the kernel until its notification, short sends resume from it, and every client of every
/// protocol gets its exact answer.
#[test]
fn zero_copy_sends_deliver_every_byte_in_order() {
    model_serves_every_protocol("uring", &["--ring-zero-copy-above", "1"]);
    let server = Server::start("uring", "echo", &["--ring-zero-copy-above", "1"]);
    let payload = Rng::new(17).bytes(4 << 20);
    let reply = exchange(server.addr, &payload).unwrap();
    assert!(
        reply == payload,
        "got {} of {} bytes",
        reply.len(),
        payload.len()
    );
}

/// The refusal of `--ring-min-wait` on a kernel without min_wait (before Linux 6.12), checked
/// to be one clear line; `None` where the kernel has it.
fn min_wait_refusal() -> Option<String> {
    let mut probe = std::process::Command::new(BIN)
        .args([
            "serve",
            "--model",
            "uring",
            "--ring-min-wait",
            "200",
            "--addr",
            "127.0.0.1:0",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    {
        use std::io::BufRead;
        let mut out = std::io::BufReader::new(probe.stdout.take().unwrap());
        out.read_line(&mut first).unwrap();
    }
    let _ = probe.kill();
    let output = probe.wait_with_output().unwrap();
    if first.starts_with("listening on") {
        return None;
    }
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        stderr.contains("--ring-min-wait") && stderr.contains("Linux 6.12"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    Some(stderr)
}

/// Batched waits (`--ring-min-wait`): every client of every protocol still gets its exact
/// answer. On a kernel without min_wait (before 6.12) the flag is refused in one line.
#[test]
fn batched_waits_deliver_every_answer() {
    if min_wait_refusal().is_some() {
        return;
    }
    // Every protocol, every answer exact, with waits that hold on for more completions (the
    // waits' own semantics are tested on the ring: `iomux-sys`'s
    // `a_batched_wait_waits_its_minimum_then_settles_for_what_came`).
    model_serves_every_protocol("uring", &["--ring-min-wait", "200"]);
    let server = Server::start("uring", "echo", &["--ring-min-wait", "2000"]);
    let payload = Rng::new(23).bytes(1 << 20);
    let reply = exchange(server.addr, &payload).unwrap();
    assert!(
        reply == payload,
        "got {} of {} bytes",
        reply.len(),
        payload.len()
    );
}

/// Batched waits follow the load: after a turn that reaped one completion the next wait
/// settles for the first, so a lightly loaded server answers at once even with a long
/// `--ring-min-wait` and many open connections (a wait that always asked for one completion per
/// connection made each of these round trips wait the whole 20 ms).
#[test]
fn a_lightly_loaded_server_does_not_wait_its_minimum_per_answer() {
    if min_wait_refusal().is_some() {
        return;
    }
    let server = Server::start("uring", "echo", &["--ring-min-wait", "20000"]);
    let idle: Vec<TcpStream> = (0..16).map(|_| server.connect()).collect();
    let mut c = server.connect();
    let mut times: Vec<Duration> = (0..40u32)
        .map(|i| {
            let msg = format!("light {i:03}").into_bytes();
            let began = Instant::now();
            assert_eq!(round_trip(&mut c, &msg), msg, "round trip {i}");
            began.elapsed()
        })
        .collect();
    times.sort();
    let median = times[times.len() / 2];
    assert!(
        median < Duration::from_millis(10),
        "median round trip {median:?} with one message in flight: the wait held on for company"
    );
    drop(idle);
}

/// Echoes answered from the receive buffers the bytes landed in: round trips go out that way
/// (counted in the summary), while a peer that does not read gets its sends' rest copied
/// instead of pinning a shared buffer, so the round trips go on; once it reads, its echo is
/// whole and in order. The `upper` protocol, whose answer is not its input, never does it.
#[test]
fn echoes_are_sent_from_their_receive_buffers_and_a_stalled_peer_pins_none() {
    let server = Server::start("uring", "echo", &["--summary", "json"]);
    let mut stalled = server.connect();
    let flood = Rng::new(29).bytes(1 << 20);
    let mut writer = stalled.try_clone().unwrap();
    let sent = flood.clone();
    // The server stops reading it past --max-buffer: this write blocks until it reads below.
    let flooding = std::thread::spawn(move || writer.write_all(&sent).unwrap());
    std::thread::sleep(Duration::from_millis(200));
    let mut c = server.connect();
    for i in 0..200u32 {
        let msg = format!("round trip {i:04}").into_bytes();
        assert_eq!(round_trip(&mut c, &msg), msg, "round trip {i}");
    }
    let mut got = vec![0; flood.len()];
    stalled.read_exact(&mut got).unwrap();
    flooding.join().unwrap();
    assert!(got == flood, "the stalled peer's echo differs");
    drop((c, stalled));
    let (status, summary) = server.stop();
    assert!(status.success());
    assert!(
        summary_number(&summary, "sent_in_place") >= 100,
        "round trips should be answered in place: {summary}"
    );

    let server = Server::start("uring", "upper", &["--summary", "json"]);
    let mut c = server.connect();
    c.write_all(b"abc").unwrap();
    let mut answer = [0; 6];
    c.read_exact(&mut answer).unwrap();
    assert_eq!(&answer, b"ABC_SB");
    drop(c);
    let (status, summary) = server.stop();
    assert!(status.success());
    assert_eq!(summary_number(&summary, "sent_in_place"), 0, "{summary}");
}

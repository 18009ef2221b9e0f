//! `iomux web` at the socket level: HTTP/1.1 framing and limits under hostile clients, the
//! API's answers from a real store, and the live counters of `iomux serve --stats-addr`.
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use iomux_store::testing::Scratch;

use crate::store::{iomux, ok, seeded_regression, synthetic, write_jsonl};
use crate::util::{Server, BIN};

/// A running `iomux web`; killed on drop.
pub struct Web {
    child: Child,
    pub addr: SocketAddr,
}

impl Web {
    /// `iomux web --db DB --addr 127.0.0.1:0 EXTRA...`.
    pub fn start(db: &str, extra: &[&str]) -> Web {
        let mut child = Command::new(BIN)
            .args(["web", "--db", db, "--addr", "127.0.0.1:0"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start iomux web");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .unwrap();
        Web { child, addr }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s
    }

    /// User + system CPU time so far, in clock ticks (1/100 s).
    pub fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap();
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..]
            .split_whitespace()
            .collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    }

    /// Resident memory, in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }
}

impl Drop for Web {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One parsed response.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!("{e}: {}", String::from_utf8_lossy(&self.body));
        })
    }
}

/// Reads one response (body by `Content-Length`; none for HEAD when `head` is set).
pub fn read_answer(s: &mut impl Read, head: bool) -> Answer {
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        let n = s.read(&mut byte).expect("a response");
        assert!(
            n == 1,
            "the connection ended inside a head: {:?}",
            String::from_utf8_lossy(&raw)
        );
        raw.push(byte[0]);
    }
    let text = String::from_utf8(raw).unwrap();
    let mut lines = text.split("\r\n");
    let status = lines.next().unwrap()[9..12].parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.to_owned(), v.trim().to_owned())
        })
        .collect();
    let length = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = vec![0; if head { 0 } else { length }];
    s.read_exact(&mut body).unwrap();
    Answer {
        status,
        headers,
        body,
    }
}

/// `GET path` on a new connection.
pub fn get(addr: SocketAddr, path: &str) -> Answer {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    read_answer(&mut s, false)
}

/// Whether the peer closed the connection (end of stream or reset) within `within`.
fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

/// A store with two real (tiny) bench runs and seven imported ones, the last a seeded
/// regression: epoll costs twice as much in r6 as in r5.
pub fn filled_store(dir: &Path) -> String {
    let db = dir.join("runs.db");
    let db = db.to_str().unwrap().to_owned();
    for _ in 0..2 {
        ok(iomux(
            &[
                "bench",
                "wait",
                "--quick",
                "--fds",
                "100",
                "--backends",
                "epoll,poll",
                "--out",
                dir.join("bench").to_str().unwrap(),
            ],
            &db,
        ));
    }
    write_jsonl(&dir.join("seeded"), &seeded_regression());
    ok(iomux(
        &["runs", "import", dir.join("seeded").to_str().unwrap()],
        &db,
    ));
    db
}

const SEEDED_POINT: &str = "echo/epoll/conns=100,pipeline=1,size=64";

#[test]
fn the_api_answers_from_a_real_store() {
    let dir = Scratch::new("web-e2e", "api");
    let db = filled_store(&dir);
    let web = Web::start(&db, &[]);
    let runs = get(web.addr, "/api/runs").json();
    assert_eq!(runs["runs"].as_array().unwrap().len(), 9, "{runs}");
    let waits = get(web.addr, "/api/runs?experiment=wait").json();
    assert_eq!(waits["runs"].as_array().unwrap().len(), 2);
    let run = get(web.addr, "/api/runs/latest").json();
    assert!(run["text"].as_str().unwrap().contains("wait"), "{run}");
    let svg = run["charts"][0]["svg"].as_str().unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("<circle"), "{svg}");
    let compare = get(web.addr, "/api/compare?a=r5&b=r6").json();
    assert_eq!(compare["counts"]["regression"], 1, "{compare}");
    let first = &compare["comparison"]["rows"][0];
    assert_eq!(first["verdict"], "regression");
    assert_eq!(first["point"], SEEDED_POINT);
    let history = get(
        web.addr,
        &format!(
            "/api/history?point={}",
            SEEDED_POINT
                .replace('/', "%2F")
                .replace('=', "%3D")
                .replace(',', "%2C")
        ),
    );
    assert_eq!(
        history.status,
        200,
        "{:?}",
        String::from_utf8_lossy(&history.body)
    );
    let history = history.json();
    assert_eq!(history["history"]["runs"].as_array().unwrap().len(), 7);
    // Errors are JSON with the reason, and the right status.
    for (path, status) in [
        ("/api/runs/nope", 404),
        ("/api/compare?a=r5", 400),
        ("/api/history?point=nonsense", 404),
        ("/api/runs?since=yesterday-ish", 400),
        ("/api/nothing", 404),
        ("/nowhere", 404),
        ("/assets/../../etc/passwd", 404),
        ("/api/live?addr=10.1.2.3:80", 400),
    ] {
        let answer = get(web.addr, path);
        assert_eq!(answer.status, status, "{path}");
        assert!(answer.json()["error"].is_string(), "{path}");
    }
}

#[test]
fn assets_are_cached_and_compressed_and_head_matches_get() {
    let dir = Scratch::new("web-e2e", "assets");
    let web = Web::start(dir.join("runs.db").to_str().unwrap(), &[]);
    let mut s = web.connect();
    s.write_all(b"GET /assets/app.js HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let plain = read_answer(&mut s, false);
    assert_eq!(plain.status, 200);
    assert_eq!(
        plain.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    let etag = plain.header("etag").unwrap().to_owned();
    assert_eq!(plain.header("cache-control"), Some("no-cache"));
    write!(
        s,
        "GET /assets/app.js HTTP/1.1\r\nHost: t\r\nIf-None-Match: {etag}\r\n\r\n"
    )
    .unwrap();
    let cached = read_answer(&mut s, false);
    assert_eq!(cached.status, 304);
    assert!(cached.body.is_empty() && cached.header("content-length").is_none());
    s.write_all(b"GET /assets/app.js HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip, br\r\n\r\n")
        .unwrap();
    let gz = read_answer(&mut s, false);
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    assert!(
        gz.body.len() < plain.body.len() / 2,
        "{} vs {}",
        gz.body.len(),
        plain.body.len()
    );
    let mut unzipped = Vec::new();
    flate2::read::GzDecoder::new(&gz.body[..])
        .read_to_end(&mut unzipped)
        .unwrap();
    assert_eq!(unzipped, plain.body);
    s.write_all(b"HEAD /assets/app.js HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let head = read_answer(&mut s, true);
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("content-length"),
        plain.header("content-length")
    );
    s.write_all(b"DELETE / HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let refused = read_answer(&mut s, false);
    assert_eq!(refused.status, 405);
    assert_eq!(refused.header("allow"), Some("GET, HEAD"));
    // Still the same connection: keep-alive held through every answer above.
    s.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let page = read_answer(&mut s, false);
    assert!(String::from_utf8_lossy(&page.body).contains("<main id=\"app\""));
}

#[test]
fn a_request_one_byte_at_a_time_and_pipelined_requests_are_answered_in_order() {
    let dir = Scratch::new("web-e2e", "framing");
    let db = filled_store(&dir);
    let web = Web::start(&db, &[]);
    let mut s = web.connect();
    s.set_nodelay(true).unwrap();
    for &b in b"GET /api/runs/r3 HTTP/1.1\r\nHost: t\r\n\r\n" {
        s.write_all(&[b]).unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
    let answer = read_answer(&mut s, false);
    assert_eq!(answer.json()["run"]["id"], "r3");
    // Fifty requests in one write: store answers (computed on the workers) and file answers
    // (at once) interleaved, answered in the order asked.
    let mut batch = Vec::new();
    for i in 0..50 {
        if i % 2 == 0 {
            write!(
                batch,
                "GET /api/runs/r{} HTTP/1.1\r\nHost: t\r\n\r\n",
                i % 7
            )
            .unwrap();
        } else {
            write!(
                batch,
                "GET /assets/style.css?{i} HTTP/1.1\r\nHost: t\r\n\r\n"
            )
            .unwrap();
        }
    }
    s.write_all(&batch).unwrap();
    for i in 0..50 {
        let answer = read_answer(&mut s, false);
        assert_eq!(answer.status, 200, "answer {i}");
        if i % 2 == 0 {
            assert_eq!(
                answer.json()["run"]["id"],
                format!("r{}", i % 7),
                "answer {i}"
            );
        } else {
            assert_eq!(
                answer.header("content-type"),
                Some("text/css; charset=utf-8")
            );
        }
    }
}

#[test]
fn oversized_and_malformed_requests_get_their_status_and_the_connection_closes() {
    let dir = Scratch::new("web-e2e", "limits");
    let web = Web::start(dir.join("runs.db").to_str().unwrap(), &[]);
    let long_target = format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "a".repeat(9000));
    let many_fields = format!(
        "GET / HTTP/1.1\r\nHost: t\r\n{}\r\n",
        "X-A: b\r\n".repeat(100)
    );
    let big_field = format!(
        "GET / HTTP/1.1\r\nHost: t\r\nX-A: {}\r\n\r\n",
        "b".repeat(20_000)
    );
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (long_target.into_bytes(), 414),
        (many_fields.into_bytes(), 431),
        (big_field.into_bytes(), 431),
        (
            b"POST /api/runs HTTP/1.1\r\nHost: t\r\nContent-Length: 5000000\r\n\r\n".to_vec(),
            413,
        ),
        (
            b"POST /api/runs HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec(),
            411,
        ),
        (b"GET / HTTP/1.1\r\n\r\n".to_vec(), 400),
        (
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http\r\n\r\n".to_vec(),
            400,
        ),
    ];
    for (request, status) in cases {
        let mut s = web.connect();
        // The server may answer and close before it has read everything: a reset while
        // writing the rest is fine.
        let _ = s.write_all(&request);
        let answer = read_answer(&mut s, false);
        assert_eq!(answer.status, status);
        assert_eq!(answer.header("connection"), Some("close"));
        assert!(answer.json()["error"].is_string());
        assert!(
            closed_within(&mut s, Duration::from_secs(5)),
            "closed after {status}"
        );
    }
    // A POST with a body to a page that takes only GET: 405, and the body did not desync
    // the connection.
    let mut s = web.connect();
    s.write_all(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nbodyGET /assets/favicon.svg HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    assert_eq!(read_answer(&mut s, false).status, 405);
    assert_eq!(read_answer(&mut s, false).status, 200);
}

#[test]
fn slowloris_is_cut_off_on_time_while_others_are_served() {
    let dir = Scratch::new("web-e2e", "slowloris");
    // The idle timeout is longer than the head timeout: a request that has begun is held
    // to the head timeout, armed when its first byte arrives.
    let web = Web::start(
        dir.join("runs.db").to_str().unwrap(),
        &["--head-timeout", "1", "--idle-timeout", "3"],
    );
    let started = Instant::now();
    let mut slow: Vec<TcpStream> = (0..20).map(|_| web.connect()).collect();
    for s in &mut slow {
        s.write_all(b"GET / HTTP/1.1\r\nHo").unwrap();
    }
    // Dripping a byte every 200 ms does not buy time: the head must be whole within 1 s.
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(200));
        for s in &mut slow {
            let _ = s.write_all(b"s");
        }
        // Meanwhile another client is answered at once.
        let t = Instant::now();
        assert_eq!(get(web.addr, "/assets/favicon.svg").status, 200);
        assert!(
            t.elapsed() < Duration::from_millis(500),
            "{:?}",
            t.elapsed()
        );
    }
    for s in &mut slow {
        let answer = read_answer(s, false);
        assert_eq!(answer.status, 408);
        assert!(closed_within(s, Duration::from_secs(3)));
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_millis(2500),
        "{elapsed:?}"
    );
    // An idle keep-alive connection is closed after --idle-timeout, silently.
    let mut idle = web.connect();
    idle.write_all(b"GET /assets/favicon.svg HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    assert_eq!(read_answer(&mut idle, false).status, 200);
    let t = Instant::now();
    assert!(closed_within(&mut idle, Duration::from_secs(6)));
    assert!(
        t.elapsed() >= Duration::from_millis(2500),
        "{:?}",
        t.elapsed()
    );
}

#[test]
fn resets_and_clients_that_never_read_cost_bounded_memory_and_no_one_elses_service() {
    let dir = Scratch::new("web-e2e", "resets");
    let web = Web::start(dir.join("runs.db").to_str().unwrap(), &[]);
    // Abrupt resets: a request, then RST before the answer is read.
    for _ in 0..200 {
        let s = socket2::Socket::from(web.connect());
        s.set_linger(Some(Duration::ZERO)).unwrap();
        let mut s = TcpStream::from(s);
        let _ = s.write_all(
            b"GET /assets/app.js HTTP/1.1\r\nHost: t\r\n\r\nGET /assets/app.js HTTP/1.1\r\n",
        );
    }
    assert_eq!(get(web.addr, "/").status, 200);
    // Clients that ask for a lot and never read: the server stops reading from them once
    // their owed answers reach the buffer limit.
    let before = web.rss_kib();
    let request = b"GET /assets/app.js HTTP/1.1\r\nHost: t\r\n\r\n".repeat(2000);
    let hogs: Vec<TcpStream> = (0..4)
        .map(|_| {
            let s = socket2::Socket::from(web.connect());
            s.set_recv_buffer_size(4096).unwrap();
            let s = TcpStream::from(s);
            s.set_write_timeout(Some(Duration::from_millis(500)))
                .unwrap();
            s
        })
        .collect();
    for mut s in &hogs {
        for _ in 0..20 {
            if (&mut s).write_all(&request).is_err() {
                break; // the server stopped reading: our send buffer is full
            }
        }
    }
    let t = Instant::now();
    assert_eq!(get(web.addr, "/assets/style.css").status, 200);
    assert!(t.elapsed() < Duration::from_secs(1));
    let grown = web.rss_kib().saturating_sub(before);
    assert!(
        grown < 4 * 10 * 1024,
        "4 non-reading clients grew the server by {grown} KiB (bound: 4 MiB owed each, plus buffers)"
    );
    drop(hogs);
}

#[test]
fn ten_thousand_keep_alive_connections_are_served_and_kept() {
    const CONNS: usize = 10_000;
    let budget = iomux_sys::process::raise_nofile_limit().unwrap_or(0);
    assert!(
        budget >= (CONNS + 200) as u64,
        "this test needs {} descriptors; RLIMIT_NOFILE allows {budget}",
        CONNS + 200
    );
    let dir = Scratch::new("web-e2e", "many");
    let web = Web::start(dir.join("runs.db").to_str().unwrap(), &[]);
    let request = b"GET /assets/favicon.svg HTTP/1.1\r\nHost: t\r\n\r\n";
    let mut conns = Vec::with_capacity(CONNS);
    for i in 0..CONNS {
        let mut s = TcpStream::connect(web.addr).unwrap_or_else(|e| panic!("connection {i}: {e}"));
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.write_all(request).unwrap();
        conns.push(s);
    }
    for s in &mut conns {
        assert_eq!(read_answer(s, false).status, 200);
    }
    // Every one is still open and served again.
    for s in &mut conns {
        s.write_all(request).unwrap();
    }
    for s in &mut conns {
        assert_eq!(read_answer(s, false).status, 200);
    }
}

#[test]
fn a_stalled_database_delays_only_its_own_queries_and_a_full_queue_says_503() {
    // Without MariaDB here this test has nothing to run on (CI requires it).
    let Some((server, database, url)) = crate::store::mariadb("web") else {
        return;
    };
    // A store with one run in it.
    let dir = Scratch::new("web-e2e", "stalled");
    write_jsonl(&dir.join("one"), &[synthetic("r0", "m1", 0.0, 4.0, 0)]);
    ok(iomux(
        &["runs", "import", dir.join("one").to_str().unwrap()],
        &url,
    ));
    // An idle timeout shorter than the stall: a connection waiting for the store is the
    // server's delay, not an idle client; it is neither closed nor a reason to spin.
    let web = Web::start(&url, &["--idle-timeout", "1"]);
    assert_eq!(get(web.addr, "/api/runs/r0").status, 200);
    // Stall the database: a table lock makes every read of the runs wait.
    let mut lock = server.root().unwrap();
    use mysql::prelude::Queryable;
    lock.query_drop(format!("USE `{database}`")).unwrap();
    lock.query_drop("LOCK TABLES iomux_runs WRITE").unwrap();
    let mut waiting: Vec<TcpStream> = (0..100)
        .map(|_| {
            let mut s = web.connect();
            s.write_all(b"GET /api/runs HTTP/1.1\r\nHost: t\r\n\r\n")
                .unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    // Files are served at once while the store is stuck.
    let t = Instant::now();
    assert_eq!(get(web.addr, "/").status, 200);
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
    let cpu_before = web.cpu_ticks();
    std::thread::sleep(Duration::from_millis(2500));
    let burnt = web.cpu_ticks() - cpu_before;
    assert!(
        burnt < 50,
        "the loop spun while connections waited: {burnt} ticks in 2.5 s"
    );
    lock.query_drop("UNLOCK TABLES").unwrap();
    let mut statuses = std::collections::BTreeMap::new();
    for s in &mut waiting {
        *statuses.entry(read_answer(s, false).status).or_insert(0) += 1;
    }
    // 64 queued (and up to two more, if the workers took theirs before the burst); the rest
    // were told to come back.
    assert!(
        statuses.get(&200).copied().unwrap_or(0) >= 64,
        "{statuses:?}"
    );
    assert!(
        statuses.get(&503).copied().unwrap_or(0) >= 1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.keys().filter(|s| ![200, 503].contains(s)).count(),
        0,
        "{statuses:?}"
    );
}

/// `iomux serve --stats-addr STATS` (epoll): the server and its stats address.
pub fn serve_with_stats(extra: &[&str], stats: &str) -> (Server, SocketAddr) {
    serve_model_with_stats("epoll", extra, stats)
}

/// `iomux serve --model MODEL --stats-addr STATS`: the server and its stats address.
pub fn serve_model_with_stats(model: &str, extra: &[&str], stats: &str) -> (Server, SocketAddr) {
    let mut args = vec!["--model", model, "--stats-addr", stats];
    args.extend_from_slice(extra);
    let mut server = Server::start_args(&args);
    let line = server.next_line();
    let stats = line
        .trim()
        .strip_prefix("stats on http://")
        .and_then(|r| r.strip_suffix("/stats"))
        .unwrap_or_else(|| panic!("{model}: unexpected line {line:?}"))
        .parse()
        .unwrap();
    (server, stats)
}

#[test]
fn serve_stats_addr_counts_what_the_server_does() {
    let (server, stats) = serve_with_stats(&[], "127.0.0.1:0");
    let before = get(stats, "/stats").json();
    assert_eq!(before["model"], "epoll");
    assert_eq!(before["accepted"], 0);
    let mut c = server.connect();
    for _ in 0..10 {
        assert_eq!(crate::util::round_trip(&mut c, b"hello"), b"hello");
    }
    std::thread::sleep(Duration::from_millis(300)); // one publishing period
    let after = get(stats, "/stats").json();
    assert_eq!(after["accepted"], 1);
    assert_eq!(after["open"], 1);
    assert_eq!(after["bytes_in"], 50);
    assert_eq!(after["reads"], 10);
    assert!(after["waits"].as_u64().unwrap() >= 10, "{after}");
    assert_eq!(get(stats, "/nothing").status, 404);
    // The counters are for this machine only, and the blocking model does not offer them.
    let out = Command::new(BIN)
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--stats-addr",
            "0.0.0.0:0",
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a loopback address"));
    let out = Command::new(BIN)
        .args([
            "serve",
            "--model",
            "blocking",
            "--addr",
            "127.0.0.1:0",
            "--stats-addr",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not offered by --model blocking") && err.contains("epoll"),
        "{err}"
    );
    drop(c);
    let (status, _) = server.stop();
    assert!(status.success());
}

#[test]
fn the_live_stream_carries_rates_and_says_when_the_server_is_down() {
    let dir = Scratch::new("web-e2e", "live");
    let web = Web::start(dir.join("runs.db").to_str().unwrap(), &[]);
    let (server, stats) = serve_with_stats(&[], "127.0.0.1:0");
    let mut s = web.connect();
    write!(s, "GET /api/live?addr={stats} HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let mut reader = BufReader::new(s);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    let mut events = Vec::new();
    let load = {
        let addr = server.addr.to_string();
        std::thread::spawn(move || {
            Command::new(BIN)
                .args([
                    "load",
                    "--addr",
                    &addr,
                    "--conns",
                    "2",
                    "--duration",
                    "3",
                    "--warmup",
                    "0",
                ])
                .output()
                .unwrap()
        })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        line.clear();
        reader.read_line(&mut line).unwrap();
        if let Some(data) = line.strip_prefix("data: ") {
            let event: serde_json::Value = serde_json::from_str(data).unwrap();
            if event["rates"]["messages"].as_f64().is_some_and(|m| m > 0.0) {
                events.push(event);
                if events.len() == 2 {
                    break;
                }
            }
        }
    }
    assert_eq!(events.len(), 2, "two samples with messages flowing");
    assert!(events[1]["stats"]["reads"].as_u64() > events[0]["stats"]["reads"].as_u64());
    assert!(load.join().unwrap().status.success());
    drop(server); // killed: the watcher says so
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut down = false;
    while Instant::now() < deadline && !down {
        line.clear();
        reader.read_line(&mut line).unwrap();
        down = line.starts_with("event: down");
    }
    assert!(down, "a down event once the server is gone");
}

#[test]
fn traces_are_listed_from_a_folder_and_answered_as_timelines_with_clear_errors() {
    let dir = Scratch::new("web-e2e", "traces");
    let folder = dir.join("traces");
    std::fs::create_dir_all(&folder).unwrap();
    // A trace as `iomux serve --trace` writes one: 50 turns of a wait and two syscalls.
    let mut events = vec![
        r#"{"name":"thread_name","ph":"M","pid":1,"tid":0,"args":{"name":"loop 0 (poll)"}}"#
            .to_owned(),
    ];
    for turn in 0..50 {
        let t = f64::from(turn) * 20.0;
        events.push(format!(r#"{{"name":"wait","cat":"wait","ph":"X","pid":1,"tid":0,"ts":{t:.3},"dur":10.000,"args":{{"backend":"poll","timeout_us":null,"fds_passed":3,"events":1,"woke":"fd","interrupted":0}}}}"#));
        for (i, call) in ["recvfrom", "sendto"].iter().enumerate() {
            events.push(format!(r#"{{"name":"{call}","cat":"syscall","ph":"X","pid":1,"tid":0,"ts":{:.3},"dur":2.000,"args":{{"fd":5,"result":64}}}}"#, t + 11.0 + 3.0 * i as f64));
        }
    }
    std::fs::write(
        folder.join("trace-poll.json"),
        format!(
            r#"{{"otherData":{{"command":"iomux serve","dropped_turns":0}},"traceEvents":[{}]}}"#,
            events.join(",\n")
        ),
    )
    .unwrap();
    std::fs::write(folder.join("trace-torn.json"), "{\"traceEvents\":[{\"ph\":").unwrap();
    std::fs::write(folder.join("results.json"), "{}").unwrap();
    let db = dir.join("runs.db");
    let web = Web::start(db.to_str().unwrap(), &["--trace", folder.to_str().unwrap()]);

    let list = get(web.addr, "/api/traces").json();
    let names: Vec<&str> = list["traces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["trace-poll.json", "trace-torn.json"], "{list}");

    let timeline = get(web.addr, "/api/traces/trace-poll.json").json();
    assert_eq!(timeline["turns"], 50);
    assert_eq!(timeline["threads"][0]["name"], "loop 0 (poll)");
    assert_eq!(
        timeline["threads"][0]["calls"].as_array().unwrap().len(),
        100
    );
    assert!(timeline["summary"]
        .as_str()
        .unwrap()
        .contains("3.0 fds passed per wait"));

    // Big answers are gzipped for clients that take it.
    let mut s = web.connect();
    s.write_all(
        b"GET /api/traces/trace-poll.json HTTP/1.1\r\nHost: t\r\nAccept-Encoding: gzip\r\n\r\n",
    )
    .unwrap();
    let gzipped = read_answer(&mut s, false);
    assert_eq!(gzipped.status, 200);
    assert_eq!(gzipped.header("content-encoding"), Some("gzip"));

    // A file that is no trace says so; nothing outside the given paths can be named.
    let torn = get(web.addr, "/api/traces/trace-torn.json");
    assert_eq!(torn.status, 422);
    let why = torn.json()["error"].as_str().unwrap().to_owned();
    assert!(why.contains("trace-torn.json is not a trace"), "{why}");
    for path in [
        "/api/traces/results.json",
        "/api/traces/..%2F..%2Fetc%2Fpasswd",
        "/api/traces/nope.json",
    ] {
        assert_eq!(get(web.addr, path).status, 404, "{path}");
    }
    // A trace written while the front end runs is listed on the next visit.
    std::fs::copy(
        folder.join("trace-poll.json"),
        folder.join("trace-new.json"),
    )
    .unwrap();
    let list = get(web.addr, "/api/traces").json();
    assert_eq!(list["traces"].as_array().unwrap().len(), 3, "{list}");
}

#[test]
fn stats_show_the_bytes_a_server_buffers_for_a_client_that_does_not_read() {
    for model in ["epoll", "nonblocking", "uring", "callbacks"] {
        let (server, stats) = serve_model_with_stats(model, &[], "127.0.0.1:0");
        let buffered = || get(stats, "/stats").json()["buffered_bytes"].as_u64();
        // Nothing held at first (nothing is published before the loop's first turn).
        assert!(
            matches!(buffered(), None | Some(0)),
            "{model}: {:?}",
            buffered()
        );
        // 16 MiB sent and nothing read: the echo fills the client's receive buffer, then the
        // server's send buffer, then the server's own buffer (up to its limit).
        const TOTAL: usize = 16 << 20;
        let client = server.connect();
        // A small, fixed receive buffer: autotuning could otherwise take in the whole echo.
        socket2::SockRef::from(&client)
            .set_recv_buffer_size(64 << 10)
            .unwrap();
        let mut writer = client.try_clone().unwrap();
        let sending = std::thread::spawn(move || {
            let chunk = vec![7u8; 64 << 10];
            for _ in 0..TOTAL / chunk.len() {
                writer.write_all(&chunk).unwrap();
            }
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        while buffered().unwrap_or(0) == 0 {
            assert!(
                Instant::now() < deadline,
                "{model}: no buffered bytes published"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        // Read it all back: the server's buffer empties, and the board says so.
        let mut reader = client;
        let mut got = 0;
        let mut buf = vec![0u8; 1 << 20];
        while got < TOTAL {
            let n = reader.read(&mut buf).unwrap();
            assert!(n > 0, "{model}: the server closed after {got} bytes");
            got += n;
        }
        sending.join().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while buffered() != Some(0) {
            assert!(
                Instant::now() < deadline,
                "{model}: still buffering {:?}",
                buffered()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        drop(reader);
        assert!(server.stop().0.success());
    }
}

#[test]
fn a_run_answers_its_tables_as_data_and_the_claims_answer_with_computed_verdicts() {
    let dir = Scratch::new("web-e2e", "tables");
    let db = crate::claims::claims_store(&dir);
    let web = Web::start(&db, &[]);
    let run = get(web.addr, &format!("/api/runs/{}", crate::claims::ECHO_RUN));
    assert_eq!(run.status, 200, "{}", String::from_utf8_lossy(&run.body));
    let run = run.json();
    // The text the terminal prints is still there, unchanged.
    let text = ok(iomux(
        &[
            "runs",
            "show",
            crate::claims::ECHO_RUN,
            "--out",
            dir.join("show").to_str().unwrap(),
        ],
        &db,
    ));
    assert!(text.starts_with(run["text"].as_str().unwrap()), "{text}");
    let echo = &run["experiments"][0];
    assert_eq!(echo["name"], "echo");
    assert_eq!(echo["reference"], "tokio");
    assert!(echo["charts"][0]["svg"]
        .as_str()
        .unwrap()
        .starts_with("<svg"));
    let tables = echo["tables"].as_array().unwrap();
    assert_eq!(
        tables.len(),
        2,
        "the timed point and the syscall pass: {tables:?}"
    );
    let timed = &tables[0];
    assert_eq!(timed["title"], "conns=100, pipeline=1, size=64");
    assert_eq!(timed["rows"].as_array().unwrap().len(), 5);
    let column = |name: &str| {
        timed["columns"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["metric"] == name)
            .unwrap_or_else(|| panic!("no column {name}: {timed}"))
            .clone()
    };
    assert_eq!(
        column("server_cpu_us_per_msg")["best"],
        3.9,
        "lower is better"
    );
    assert_eq!(column("msgs_per_s")["best"], 105_000.0, "higher is better");
    assert_eq!(column("msgs_per_s")["better"], "higher");
    assert!(
        column("errors")["best"].is_null(),
        "all equal: nothing to mark"
    );
    let row = |subject: &str| {
        timed["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["subject"] == subject)
            .unwrap()
            .clone()
    };
    assert_eq!(row("tokio")["ratio_class"], "reference");
    assert_eq!(row("floor")["ratio_class"], "better");
    assert_eq!(row("uring")["ratio_class"], "worse");
    assert_eq!(row("epoll")["ratio_class"], "same");
    assert_eq!(
        row("epoll")["point"],
        "echo/epoll/conns=100,pipeline=1,size=64"
    );
    assert_eq!(
        tables[1]["title"],
        "conns=100, pass=syscalls, pipeline=1, size=64"
    );
    assert_eq!(tables[1]["ratio_metric"], "per_msg");

    let claims = get(web.addr, "/api/claims");
    assert_eq!(claims.status, 200);
    let claims = claims.json();
    let findings = claims["findings"].as_array().unwrap();
    for (id, verdict) in crate::claims::SEEDED_VERDICTS {
        let f = findings.iter().find(|f| f["id"] == *id).unwrap();
        assert_eq!(f["verdict"], *verdict, "{id}: {f}");
    }
    let busy = findings.iter().find(|f| f["id"] == "busy-loop").unwrap();
    assert_eq!(busy["chart"]["name"], "busy");
    assert!(busy["chart"]["svg"].as_str().unwrap().starts_with("<svg"));
    assert_eq!(
        claims["commands"],
        serde_json::json!(["iomux bench idle --models poll,epoll"])
    );
    let elsewhere = get(web.addr, "/api/claims?testbed=elsewhere").json();
    assert!(elsewhere["findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["run"].is_null()));
    assert_eq!(elsewhere["commands"].as_array().unwrap().len(), 5);
    // The page itself is the shell, like every page.
    let page = get(web.addr, "/claims");
    assert_eq!(page.status, 200);
    assert!(String::from_utf8_lossy(&page.body).contains("href=\"/claims\""));
}

//! `iomux web` in a real browser: headless Chromium driven over WebDriver (Debian's
//! `chromium-driver`), against a store filled by real bench runs. Each page must load with no
//! console error and no failed request, draw its charts, and look like something (a
//! screenshot with more than a few colours); the compare page must flag the seeded
//! regression; the live page's numbers must move while load runs, and come back by
//! themselves when the watched server restarts.
//!
//! Without Chromium and chromedriver installed these tests say so and pass, unless
//! `IOMUX_REQUIRE_WEB=1` (set by `.ci/run`, which installs both) makes that a failure.
//! `IOMUX_WEB_SCREENSHOTS=DIR` keeps each page's screenshot.
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use iomux_store::testing::Scratch;
use serde_json::{json, Value};

use crate::web::{filled_store, read_answer, serve_with_stats, Web};

const CHROMEDRIVER: &str = "chromedriver";

/// One browser at a time: a headless Chromium and its driver take most of a 2-core machine, and
/// running three at once made chromedriver drop a connection now and then.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A chromedriver process and one browser session on it.
struct Browser {
    _turn: std::sync::MutexGuard<'static, ()>,
    driver: Child,
    port: u16,
    session: String,
    /// The browser's own process, ended on drop if closing the session did not end it.
    browser_pid: Option<u32>,
    _profile: Scratch,
}

fn find(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Browser {
    /// A headless Chromium, or `None` (said on stderr) when it is not installed here.
    fn start(name: &str) -> Option<Browser> {
        if !find(CHROMEDRIVER) || !find("chromium") {
            assert!(
                std::env::var_os("IOMUX_REQUIRE_WEB").is_none(),
                "IOMUX_REQUIRE_WEB is set but chromium or chromedriver is not installed (apt-get install chromium chromium-driver)"
            );
            eprintln!(
                "browser test {name} not run: chromium and chromium-driver are not installed"
            );
            return None;
        }
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let profile = Scratch::new("web-browser", name);
        let mut browser = Browser {
            _turn: turn,
            driver,
            port,
            session: String::new(),
            browser_pid: None,
            _profile: profile,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while browser
            .call("GET", "/status", None)
            .get("value")
            .and_then(|v| v.get("ready"))
            != Some(&json!(true))
        {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile_dir = browser._profile.to_str().unwrap().to_owned();
        let created = browser.call(
            "POST",
            "/session",
            Some(json!({ "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": { "args": [
                    "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", "--window-size=1280,1000",
                    format!("--user-data-dir={profile_dir}"),
                ]},
                "goog:loggingPrefs": { "browser": "ALL" },
            }}})),
        );
        browser.session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .to_owned();
        browser.browser_pid = created["value"]["capabilities"]["goog:processID"]
            .as_u64()
            .and_then(|p| u32::try_from(p).ok());
        Some(browser)
    }

    /// One WebDriver call: an HTTP request to chromedriver, its JSON answer.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return Value::Null; // not listening yet
        };
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        // chromedriver keeps the connection open: the answer ends by its Content-Length.
        let answer = read_answer(&mut std::io::BufReader::new(s), false);
        serde_json::from_slice(&answer.body).unwrap_or(Value::Null)
    }

    fn session_call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let answer = self.call(method, &format!("/session/{}{path}", self.session), body);
        if let Some(error) = answer["value"]["error"].as_str() {
            panic!("WebDriver {path}: {error}: {}", answer["value"]["message"]);
        }
        answer["value"].clone()
    }

    fn goto(&self, url: &str) {
        self.session_call("POST", "/url", Some(json!({ "url": url })));
    }

    /// Runs `script` (a function body) in the page; its return value.
    fn run(&self, script: &str) -> Value {
        self.session_call(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": [] })),
        )
    }

    /// Waits until `script` returns true.
    fn wait_for(&self, what: &str, script: &str, within: Duration) {
        let deadline = Instant::now() + within;
        while self.run(script) != json!(true) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; page: {}",
                self.run("return document.getElementById('app').innerText.slice(0, 500)")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Console messages at SEVERE level since the last call (failed requests show up here
    /// too, as "Failed to load resource").
    fn severe_logs(&self) -> Vec<String> {
        let logs = self.session_call("POST", "/se/log", Some(json!({ "type": "browser" })));
        logs.as_array()
            .into_iter()
            .flatten()
            .filter(|l| l["level"] == "SEVERE")
            .map(|l| l["message"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    fn screenshot(&self) -> Vec<u8> {
        let b64 = self.session_call("GET", "/screenshot", None);
        decode_base64(b64.as_str().expect("a screenshot"))
    }

    /// Loads a page and checks what every page must: it drew itself, nothing failed, and it
    /// is not blank. Keeps the screenshot under `IOMUX_WEB_SCREENSHOTS` if set.
    fn check_page(&self, base: &str, path: &str, name: &str) {
        self.goto(&format!("{base}{path}"));
        self.wait_for(
            &format!("{path} to draw"),
            "return document.body.dataset.ready === '1' || document.body.dataset.ready === 'error'",
            Duration::from_secs(20),
        );
        assert_eq!(
            self.run("return document.body.dataset.ready"),
            json!("1"),
            "{path} showed an error: {}",
            self.run("return document.getElementById('app').innerText")
        );
        let failed = self.run(
            "return performance.getEntriesByType('resource').filter(e => e.responseStatus >= 400).map(e => e.name + ' ' + e.responseStatus)",
        );
        assert_eq!(failed, json!([]), "failed requests on {path}");
        let severe = self.severe_logs();
        assert!(severe.is_empty(), "console errors on {path}: {severe:?}");
        let colours = distinct_colours(&self.keep_screenshot(name));
        assert!(colours > 8, "{path} looks blank ({colours} colours)");
    }

    /// A screenshot, kept as NAME.png under `IOMUX_WEB_SCREENSHOTS` if that is set.
    fn keep_screenshot(&self, name: &str) -> Vec<u8> {
        let png = self.screenshot();
        if let Some(dir) = std::env::var_os("IOMUX_WEB_SCREENSHOTS") {
            let dir = PathBuf::from(dir);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(format!("{name}.png")), &png).unwrap();
        }
        png
    }

    fn count(&self, selector: &str) -> u64 {
        self.run(&format!(
            "return document.querySelectorAll({}).length",
            json!(selector)
        ))
        .as_u64()
        .unwrap()
    }

    fn text(&self, id: &str) -> String {
        self.run(&format!(
            "const e = document.getElementById({}); return e ? e.textContent : ''",
            json!(id)
        ))
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            self.call("DELETE", &format!("/session/{}", self.session), None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        if let Some(pid) = self.browser_pid {
            if std::path::Path::new(&format!("/proc/{pid}")).exists() {
                let _ = Command::new("kill").arg(pid.to_string()).status();
            }
        }
    }
}

fn decode_base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let digits: Vec<u8> = text
        .bytes()
        .filter(|&c| c != b'=' && c != b'\n')
        .map(value)
        .collect();
    digits
        .chunks(4)
        .flat_map(|chunk| {
            let bits = chunk
                .iter()
                .enumerate()
                .fold(0u32, |acc, (i, &d)| acc | u32::from(d) << (18 - 6 * i));
            let bytes = bits.to_be_bytes();
            bytes[1..chunk.len()].to_vec()
        })
        .collect()
}

/// How many different colours a PNG has (capped at 1,000).
fn distinct_colours(png: &[u8]) -> usize {
    let decoder = png::Decoder::new(std::io::Cursor::new(png));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    let step = info.color_type.samples();
    let mut seen = std::collections::HashSet::new();
    for px in pixels[..info.buffer_size()].chunks(step) {
        seen.insert(px.to_vec());
        if seen.len() >= 1000 {
            break;
        }
    }
    seen.len()
}

const SEEDED_POINT: &str = "echo/epoll/conns=100,pipeline=1,size=64";

#[test]
fn every_page_loads_clean_draws_its_charts_and_compare_flags_the_seeded_regression() {
    let Some(browser) = Browser::start("pages") else {
        return;
    };
    let dir = Scratch::new("web-browser", "store");
    let db = filled_store(&dir);
    let web = Web::start(&db, &[]);
    let base = format!("http://{}", web.addr);

    browser.check_page(&base, "/", "runs");
    assert_eq!(browser.count("tbody tr"), 9, "every stored run listed");

    let real = crate::web::get(web.addr, "/api/runs?experiment=wait").json();
    let run = real["runs"][0]["id"].as_str().unwrap().to_owned();
    browser.check_page(&base, &format!("/run?id={run}"), "run");
    assert!(
        browser.count("figure[data-chart] svg circle") > 0,
        "the run's chart has points"
    );
    assert!(browser
        .run("return document.querySelector('pre.report').textContent")
        .as_str()
        .unwrap()
        .contains("wait"));

    browser.check_page(&base, "/compare?a=r5&b=r6", "compare");
    let first = browser.run("return document.querySelector('tbody tr').innerText");
    let first = first.as_str().unwrap();
    assert!(
        first.contains(SEEDED_POINT) && first.contains("regression"),
        "the regression comes first: {first}"
    );
    assert!(browser.text("counts").contains("1 regression(s)"));
    let page = browser.run("return document.getElementById('app').innerText");
    assert!(!page.as_str().unwrap().contains("null"), "{page}");
    assert_eq!(browser.count("tbody .verdict-regression"), 1);

    let point = SEEDED_POINT
        .replace('/', "%2F")
        .replace('=', "%3D")
        .replace(',', "%2C");
    browser.check_page(&base, &format!("/history?point={point}"), "history");
    assert!(browser.count("figure svg circle") >= 7, "one point per run");
    assert!(browser
        .run("return document.body.innerText")
        .as_str()
        .unwrap()
        .contains("change point"));

    browser.check_page(&base, "/live", "live-form");
}

#[test]
fn the_live_page_moves_with_the_load_and_reconnects_when_the_server_restarts() {
    let Some(browser) = Browser::start("live") else {
        return;
    };
    let dir = Scratch::new("web-browser", "live");
    let (server, stats) = serve_with_stats(&[], "127.0.0.1:0");
    let web = Web::start(
        dir.join("runs.db").to_str().unwrap(),
        &["--watch", &stats.to_string()],
    );
    let base = format!("http://{}", web.addr);
    browser.check_page(&base, &format!("/live?addr={stats}"), "live");
    browser.wait_for(
        "the first sample",
        "return document.getElementById('live-status').className === 'status-up'",
        Duration::from_secs(10),
    );
    let addr = server.addr.to_string();
    let load = std::thread::spawn(move || {
        Command::new(crate::util::BIN)
            .args([
                "load",
                "--addr",
                &addr,
                "--conns",
                "4",
                "--duration",
                "4",
                "--warmup",
                "0",
            ])
            .output()
            .unwrap()
    });
    let number = |b: &Browser| b.text("live-messages").parse::<f64>().unwrap_or(0.0);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    while seen.len() < 2 && Instant::now() < deadline {
        let value = number(&browser);
        if value > 0.0 && seen.last() != Some(&value) {
            seen.push(value);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(seen.len(), 2, "messages/s shown and changing: {seen:?}");
    assert!(browser
        .run("return Number(document.getElementById('chart-messages').dataset.points) >= 2")
        .as_bool()
        .unwrap());
    browser.keep_screenshot("live-under-load");
    assert!(load.join().unwrap().status.success());
    let severe = browser.severe_logs();
    assert!(severe.is_empty(), "console errors while live: {severe:?}");

    // The watched server stops: the page says so; a new one on the same address is picked up.
    drop(server);
    browser.wait_for(
        "the page to say the server is down",
        "return document.getElementById('live-status').className === 'status-down'",
        Duration::from_secs(10),
    );
    let (again, _) = serve_with_stats(&[], &stats.to_string());
    browser.wait_for(
        "the page to reconnect",
        "return document.getElementById('live-status').className === 'status-up'",
        Duration::from_secs(10),
    );
    assert!(browser
        .text("live-status")
        .contains(&again.pid().to_string()));
}

impl Browser {
    /// The WebDriver reference of the element `css` picks.
    fn element(&self, css: &str) -> Value {
        let found = self.session_call(
            "POST",
            "/element",
            Some(json!({ "using": "css selector", "value": css })),
        );
        json!({ "element-6066-11e4-a52e-4f735466cecf": found["element-6066-11e4-a52e-4f735466cecf"] })
    }

    /// Real input: `actions` of one input source (`pointer`, `wheel` or `key`).
    fn act(&self, source: Value) {
        self.session_call("POST", "/actions", Some(json!({ "actions": [source] })));
        self.session_call("DELETE", "/actions", None);
    }

    /// A mouse click at (x, y) CSS pixels from the top left of element `css`.
    fn click_at(&self, css: &str, x: f64, y: f64) {
        let size = self.run(&format!(
            "const r = document.querySelector({}).getBoundingClientRect(); return [r.width, r.height]",
            json!(css)
        ));
        // WebDriver offsets count from the element's centre.
        let dx = (x - size[0].as_f64().unwrap() / 2.0).round() as i64;
        let dy = (y - size[1].as_f64().unwrap() / 2.0).round() as i64;
        self.act(json!({
            "type": "pointer", "id": "mouse", "parameters": { "pointerType": "mouse" },
            "actions": [
                { "type": "pointerMove", "origin": self.element(css), "x": dx, "y": dy },
                { "type": "pointerDown", "button": 0 },
                { "type": "pointerUp", "button": 0 },
            ],
        }));
    }
}

/// The turns of each thread in a trace file, and each turn's syscall count, worked out here
/// from the file itself (not from the server's answer the page draws).
fn calls_per_turn(trace: &Value) -> Vec<(String, Vec<usize>)> {
    let events = trace["traceEvents"].as_array().unwrap();
    let mut threads: std::collections::BTreeMap<u64, (String, Vec<f64>, Vec<f64>)> =
        Default::default();
    for e in events {
        let entry = threads.entry(e["tid"].as_u64().unwrap()).or_default();
        match (e["ph"].as_str(), e["cat"].as_str()) {
            (Some("M"), _) => entry.0 = e["args"]["name"].as_str().unwrap().to_owned(),
            (Some("X"), Some("wait")) => entry.1.push(e["ts"].as_f64().unwrap()),
            (Some("X"), Some("syscall")) => entry.2.push(e["ts"].as_f64().unwrap()),
            _ => {}
        }
    }
    threads
        .into_values()
        .filter(|(_, waits, _)| !waits.is_empty())
        .map(|(name, waits, calls)| {
            let counts = (0..waits.len())
                .map(|i| {
                    let end = waits.get(i + 1).copied().unwrap_or(f64::INFINITY);
                    calls.iter().filter(|&&t| t >= waits[i] && t < end).count()
                })
                .collect();
            (name, counts)
        })
        .collect()
}

#[test]
fn the_trace_page_draws_a_real_trace_and_a_click_lists_that_turns_syscalls() {
    let Some(browser) = Browser::start("trace") else {
        return;
    };
    let dir = Scratch::new("web-browser", "trace");
    let file = dir.join("trace-epoll.json");
    let server = crate::util::Server::start(
        "epoll",
        "echo",
        &["--threads", "2", "--trace", file.to_str().unwrap()],
    );
    let load = Command::new(crate::util::BIN)
        .args(["load", "--addr", &server.addr.to_string()])
        .args(["--conns", "8", "--duration", "0.3", "--warmup", "0"])
        .output()
        .unwrap();
    assert!(load.status.success(), "{load:?}");
    assert!(server.stop().0.success());
    let trace: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let turns = calls_per_turn(&trace);

    // The folder is given: its trace files are listed.
    let web = Web::start(
        dir.join("runs.db").to_str().unwrap(),
        &["--trace", dir.to_str().unwrap()],
    );
    let base = format!("http://{}", web.addr);
    browser.check_page(&base, "/traces", "traces");
    assert_eq!(browser.count("tbody tr"), 1, "the one trace file is listed");
    browser.check_page(&base, "/trace?name=trace-epoll.json", "trace");
    let total: usize = turns.iter().map(|(_, t)| t.len()).sum();
    assert_eq!(browser.text("trace-turns"), total.to_string());
    let summary = Command::new(crate::util::BIN)
        .args(["trace", "summary", file.to_str().unwrap()])
        .output()
        .unwrap();
    let summary = String::from_utf8_lossy(&summary.stdout);
    let shown = browser.text("trace-summary");
    // The same text, but for the name the trace goes by (the CLI names the path).
    assert_eq!(
        shown.lines().skip(1).collect::<Vec<_>>(),
        summary.lines().skip(1).collect::<Vec<_>>()
    );
    let drawn = |b: &Browser| {
        b.run("return Number(document.getElementById('timeline').dataset.drawn)")
            .as_u64()
            .unwrap()
    };
    assert!(
        drawn(&browser) > 10,
        "the timeline drew its waits and calls"
    );
    let span = |b: &Browser| {
        let view = b.run("return document.getElementById('timeline').dataset.view");
        let v: Vec<f64> = view
            .as_str()
            .unwrap()
            .split(',')
            .map(|x| x.parse().unwrap())
            .collect();
        v[1] - v[0]
    };

    // The wheel zooms in around the pointer.
    let whole = span(&browser);
    browser.act(json!({
        "type": "wheel", "id": "wheel",
        "actions": [{ "type": "scroll", "origin": browser.element("#timeline"), "x": 0, "y": 0,
                      "deltaX": 0, "deltaY": -120 }],
    }));
    browser.wait_for(
        "the wheel to zoom in",
        &format!("return (() => {{ const v = document.getElementById('timeline').dataset.view.split(',').map(Number); return v[1] - v[0] < {whole} * 0.9; }})()"),
        Duration::from_secs(5),
    );

    // Bring a busy turn of the first loop into view, then click its wait: the details list
    // exactly that turn's syscalls.
    let (lane_name, counts) = &turns[0];
    let turn = counts.len() / 2
        + counts[counts.len() / 2..]
            .iter()
            .position(|&n| n >= 2)
            .expect("a turn with syscalls in the second half");
    let x = browser.run(&format!(
        "const t = window.iomuxTimeline, w = t.data.threads[0].waits; \
         t.view(w[{turn}][0] - 2, w[{turn} + 1][0] + 2); \
         return t.xOf(w[{turn}][0] + Math.min(w[{turn}][1], w[{turn} + 1][0] - w[{turn}][0]) / 2)"
    ));
    let y = browser.run("return window.iomuxTimeline.laneY(0) + 8");
    browser.click_at("#timeline", x.as_f64().unwrap(), y.as_f64().unwrap());
    browser.wait_for(
        "the clicked turn's details",
        "return document.querySelector('#turn-details h2') !== null",
        Duration::from_secs(5),
    );
    let heading = browser.run("return document.querySelector('#turn-details h2').textContent");
    assert_eq!(
        heading,
        json!(format!(
            "Turn {} of {} · {lane_name}",
            turn + 1,
            counts.len()
        ))
    );
    assert_eq!(
        browser.count("#turn-details tbody tr"),
        counts[turn] as u64,
        "the turn's syscalls, as the file has them"
    );
    browser.keep_screenshot("trace-turn");

    // The arrow key moves to the next turn.
    browser.act(json!({
        "type": "key", "id": "keyboard",
        "actions": [{ "type": "keyDown", "value": "\u{E014}" }, { "type": "keyUp", "value": "\u{E014}" }],
    }));
    browser.wait_for(
        "the next turn",
        &format!(
            "return document.querySelector('#turn-details h2').textContent.startsWith('Turn {} ')",
            turn + 2
        ),
        Duration::from_secs(5),
    );
    let severe = browser.severe_logs();
    assert!(
        severe.is_empty(),
        "console errors on the trace page: {severe:?}"
    );
}

impl Browser {
    /// A real click on the element `css` picks (WebDriver's element click: scrolled into
    /// view, then a mouse click at its centre).
    fn click(&self, css: &str) {
        let element = self.element(css);
        let id = element["element-6066-11e4-a52e-4f735466cecf"]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}"))
            .to_owned();
        self.session_call("POST", &format!("/element/{id}/click"), Some(json!({})));
    }

    /// Resizes the window (CSS pixels).
    fn set_window(&self, width: u32, height: u32) {
        self.session_call(
            "POST",
            "/window/rect",
            Some(json!({ "width": width, "height": height })),
        );
    }

    /// The text of each row's cell in column `column` of the first table under `within`.
    fn column(&self, within: &str, column: usize) -> Vec<String> {
        let cells = self.run(&format!(
            "return [...document.querySelector({}).querySelectorAll('tbody tr')].map(r => r.cells[{column}].innerText)",
            json!(within)
        ));
        serde_json::from_value(cells).unwrap()
    }
}

/// The index of the header `label` in the first table under `within`, tagged `id` for a click.
fn header(browser: &Browser, within: &str, label: &str, id: &str) -> usize {
    let index = browser.run(&format!(
        "const ths = [...document.querySelector({}).querySelectorAll('thead th')]; \
         const i = ths.findIndex(th => th.textContent === {}); if (i >= 0) ths[i].id = {}; return i",
        json!(within),
        json!(label),
        json!(id)
    ));
    let index = index.as_i64().unwrap();
    assert!(index >= 0, "no header {label} under {within}");
    index as usize
}

#[test]
fn a_run_shows_its_points_as_tables_sorted_by_a_click_with_the_best_marked_and_charts_beside() {
    let Some(browser) = Browser::start("run-tables") else {
        return;
    };
    let dir = Scratch::new("web-browser", "tables");
    let db = crate::claims::claims_store(&dir);
    let web = Web::start(&db, &[]);
    let base = format!("http://{}", web.addr);
    browser.check_page(
        &base,
        &format!("/run?id={}", crate::claims::ECHO_RUN),
        "run-tables",
    );
    assert_eq!(
        browser.count("section.experiment .point-table table"),
        2,
        "a table per point group"
    );
    let first = ".point-table";
    let subjects = |b: &Browser| b.column(first, 0);
    assert_eq!(
        subjects(&browser),
        ["epoll", "epoll-et", "uring", "tokio", "floor"],
        "as measured until sorted"
    );

    // A click on a header sorts by it, ascending; a second click, descending.
    let rate = header(&browser, first, "msgs/s", "sort-rate");
    browser.click("#sort-rate");
    assert_eq!(
        subjects(&browser),
        ["uring", "epoll-et", "epoll", "tokio", "floor"]
    );
    let rates: Vec<f64> = browser
        .column(first, rate)
        .iter()
        .map(|t| t.replace(',', "").parse::<f64>().unwrap_or(f64::NAN))
        .collect();
    assert!(rates.windows(2).all(|w| w[0] <= w[1]), "{rates:?}");
    assert_eq!(
        browser.run("return document.getElementById('sort-rate').getAttribute('aria-sort')"),
        json!("ascending")
    );
    browser.click("#sort-rate");
    assert_eq!(
        subjects(&browser),
        ["floor", "tokio", "epoll", "epoll-et", "uring"]
    );
    // Sorting by text: the subjects' names.
    header(&browser, first, "subject", "sort-subject");
    browser.click("#sort-subject");
    assert_eq!(
        subjects(&browser),
        ["epoll", "epoll-et", "floor", "tokio", "uring"]
    );

    // The best figure of a column: the lowest CPU (floor's), the highest rate (floor's too).
    let cpu = header(&browser, first, "server cpu µs/msg", "cpu");
    let best_of = |column: usize| {
        browser.run(&format!(
            "return [...document.querySelector('.point-table').querySelectorAll('tbody tr')] \
             .filter(r => r.cells[{column}].classList.contains('best')).map(r => r.cells[0].innerText)"
        ))
    };
    assert_eq!(best_of(cpu), json!(["floor"]));
    assert_eq!(best_of(rate), json!(["floor"]));
    // Ratios to tokio, coloured: floor better, uring worse, epoll within the noise band.
    let ratio_class = |subject: &str| {
        browser.run(&format!(
            "const r = document.querySelector('.point-table tr[data-point^=\"echo/{subject}/\"]'); \
             return r.cells[r.cells.length - 1].className"
        ))
    };
    assert_eq!(ratio_class("floor"), json!("num ratio-better"));
    assert_eq!(ratio_class("uring"), json!("num ratio-worse"));
    assert_eq!(ratio_class("epoll"), json!("num ratio-same"));
    browser.keep_screenshot("run-tables");

    // The experiment's chart is beside its tables, not under them.
    let beside = browser.run(
        "const t = document.querySelector('.experiment-tables').getBoundingClientRect(); \
         const c = document.querySelector('.experiment-charts figure svg').getBoundingClientRect(); \
         return c.left >= t.right && c.top < t.bottom && c.width > 200",
    );
    assert_eq!(beside, json!(true));

    // On a phone-wide window the page does not scroll sideways; the charts go under the tables.
    browser.set_window(390, 844);
    browser.wait_for(
        "the narrow layout",
        "const t = document.querySelector('.experiment-tables').getBoundingClientRect(); \
         const c = document.querySelector('.experiment-charts').getBoundingClientRect(); \
         return c.top >= t.bottom && document.documentElement.scrollWidth <= window.innerWidth",
        Duration::from_secs(5),
    );
    browser.run("document.querySelector('.point-table').scrollIntoView()");
    browser.keep_screenshot("run-tables-phone");
    browser.set_window(1280, 1000);

    // A row's subject links to its point's history.
    browser.click(".point-table tr[data-point^=\"echo/uring/\"] a");
    browser.wait_for(
        "the history page",
        "return location.pathname === '/history' && document.body.dataset.ready === '1'",
        Duration::from_secs(20),
    );
    assert_eq!(
        browser.run("return new URLSearchParams(location.search).get('point')"),
        json!("echo/uring/conns=100,pipeline=1,size=64")
    );
    let severe = browser.severe_logs();
    assert!(severe.is_empty(), "console errors: {severe:?}");
}

#[test]
fn the_claims_page_shows_each_claims_verdict_as_computed_from_the_store() {
    let Some(browser) = Browser::start("claims") else {
        return;
    };
    let dir = Scratch::new("web-browser", "claims");
    let db = crate::claims::claims_store(&dir);
    let web = Web::start(&db, &[]);
    let base = format!("http://{}", web.addr);
    // Reached from the navigation, by a click.
    browser.check_page(&base, "/", "runs-for-claims");
    browser.click("nav a[href=\"/claims\"]");
    browser.wait_for(
        "the claims page",
        "return location.pathname === '/claims' && document.body.dataset.ready === '1'",
        Duration::from_secs(20),
    );
    browser.check_page(&base, "/claims", "claims");
    assert_eq!(
        browser.run("return document.querySelector('nav a.current').dataset.page"),
        json!("claims")
    );
    let verdict = |b: &Browser, id: &str| {
        b.run(&format!(
            "const c = document.getElementById('claim-{id}'); \
             return [c.dataset.verdict, c.querySelector('.claim-verdict').textContent]"
        ))
    };
    let words = [
        ("held", "held"),
        ("not-held", "not held"),
        ("unmeasured", "not measured"),
        ("corrected", "corrected"),
    ];
    for (id, expected) in crate::claims::SEEDED_VERDICTS {
        let word = words.iter().find(|(v, _)| v == expected).unwrap().1;
        assert_eq!(verdict(&browser, id), json!([expected, word]), "{id}");
    }
    // Each measured claim names its run, its figures and its command; the busy claim has its chart.
    assert!(browser.count("#claim-busy-loop .claim-chart figure svg") == 1);
    assert!(browser
        .text("claim-busy-loop")
        .contains("nonblocking used 99% of a core"));
    assert!(browser
        .text("claim-idle-connections")
        .contains("Measure it: iomux bench idle --models poll,epoll"));
    assert!(browser
        .text("claim-commands")
        .contains("iomux bench idle --models poll,epoll"));
    assert_eq!(
        browser.count(".claim-chart figure svg"),
        3,
        "busy, wait (once) and echo"
    );

    // A newer busy run in which the busy loop used a third of a core: the page follows it.
    let newer = dir.join("newer");
    crate::store::write_jsonl(
        &newer,
        &[crate::claims::busy_run("claims-busy-2", 5000.0, 0.33)],
    );
    crate::store::ok(crate::store::iomux(
        &["runs", "import", newer.to_str().unwrap()],
        &db,
    ));
    browser.check_page(&base, "/claims", "claims-after");
    assert_eq!(
        verdict(&browser, "busy-loop"),
        json!(["not-held", "not held"])
    );
    assert!(browser.text("claim-busy-loop").contains("claims-busy-2"));
}

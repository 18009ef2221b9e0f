//! `iomux bench`: every experiment end to end at a tiny size; its JSON lines parse and its
//! charts are written.
use std::path::Path;
use std::process::Command;

use crate::util::*;

/// Runs `iomux bench ARGS --out OUT`, recording into a store of its own (`OUT/runs.db`): a
/// test never writes into the user's store, whatever `IOMUX_DB` says.
fn bench(args: &[&str], out: &Path) -> String {
    let result = Command::new(BIN)
        .arg("bench")
        .args(args)
        .arg("--out")
        .arg(out)
        .env("IOMUX_DB", out.join("runs.db"))
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

/// The run records of `results.jsonl` (the last of each run id: a run is written again when it
/// finishes).
fn runs(out: &Path) -> Vec<serde_json::Value> {
    let mut runs: Vec<serde_json::Value> = Vec::new();
    for record in records(out) {
        if let Some(run) = record.get("run") {
            runs.retain(|r| r["id"] != run["id"]);
            runs.push(run.clone());
        }
    }
    runs
}

fn records(out: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(out.join("results.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

/// The point records, each flattened to one object: experiment, subject, repeat, then its
/// parameters and metrics side by side.
fn results(out: &Path) -> Vec<serde_json::Value> {
    records(out)
        .into_iter()
        .filter_map(|r| r.get("point").cloned())
        .map(|point| {
            let mut flat = serde_json::Map::new();
            for key in ["experiment", "subject", "repeat"] {
                flat.insert(key.into(), point[key].clone());
            }
            for group in ["params", "metrics"] {
                for (k, v) in point[group].as_object().unwrap() {
                    flat.insert(k.clone(), v.clone());
                }
            }
            serde_json::Value::Object(flat)
        })
        .collect()
}

/// A run's output folder, removed when the test ends.
fn temp_dir(name: &str) -> iomux_store::testing::Scratch {
    iomux_store::testing::Scratch::new("bench-test", name)
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
    let all = results(&out);
    let (rows, walls): (Vec<_>, Vec<_>) = all.iter().partition(|r| r.get("skipped").is_none());
    let backends = iomux::BackendKind::ALL.len();
    assert_eq!(
        rows.len(),
        2 * backends - 1,
        "{backends} backends at N=20, all but select at N=1100: {rows:?}"
    );
    assert_eq!(walls.len(), 1, "{walls:?}");
    assert_eq!(walls[0]["subject"], "select");
    assert_eq!(walls[0]["fds"], 1100);
    for row in &rows {
        assert_eq!(row["experiment"], "wait");
        assert!(row["round_us"].as_f64().unwrap() > 0.0);
        let passed = row["fds_passed_per_wait"].as_f64().unwrap();
        match row["subject"].as_str().unwrap() {
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
            "--trace-point",
            "--repeat",
            "2",
        ],
        &out,
    );
    assert!(
        text.contains("x tokio") && text.contains("x floor"),
        "{text}"
    );
    // Each server's ratio to tokio beside the points where it served unevenly, and where its
    // repeats left that ratio's side of 1.0 unsettled.
    assert!(
        text.contains("geomean  worst  uneven at  unsettled at"),
        "{text}"
    );
    // Under each point, how far each server's ratio moved between the repeats.
    let spreads: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("x tokio over the 2 repeats (lowest to highest): epoll "))
        .collect();
    assert_eq!(spreads.len(), 2, "one per point: {text}");
    for line in spreads {
        for server in ["callbacks", "mio", "floor"] {
            assert!(line.contains(&format!(", {server} ")), "{line}");
        }
    }
    // --trace-point: a trace of the probe point for each model with loop turns to record.
    let traced: Vec<_> = results(&out)
        .into_iter()
        .filter(|r| r["pass"] == "trace")
        .collect();
    let names: Vec<_> = traced
        .iter()
        .map(|r| r["subject"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["epoll", "callbacks"], "{text}");
    for row in &traced {
        assert!(row["turns"].as_f64().unwrap() > 0.0, "{row}");
        assert!(row["syscalls_per_turn"].as_f64().unwrap() > 0.0, "{row}");
        let subject = row["subject"].as_str().unwrap();
        let file = out.join(format!("trace-{subject}-2c-64B-p1.json"));
        let trace: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        assert!(
            trace["traceEvents"].as_array().unwrap().len() > 2,
            "{file:?}"
        );
    }
    assert!(text.contains("loop turns, traced"), "{text}");
    let rows = results(&out);
    let echo: Vec<_> = rows
        .iter()
        .filter(|r| r["experiment"] == "echo" && r.get("pass").is_none() && r["repeat"].is_null())
        .collect();
    assert_eq!(
        echo.len(),
        10,
        "5 servers x 2 points (the medians; each repeat is recorded too)"
    );
    for row in &echo {
        assert!(row["msgs_per_s"].as_f64().unwrap() > 0.0, "{row}");
        assert!(
            row["server_cpu_us_per_msg"].as_f64().unwrap() > 0.0,
            "{row}"
        );
        assert_eq!(row["mismatches"], 0.0);
    }
    // With strace installed (.ci/run installs it), syscalls are counted at every point and shown
    // in every point's table.
    let counted: Vec<_> = rows.iter().filter(|r| r["pass"] == "strace").collect();
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

/// The callgrind pass: two runs per server under valgrind, the short one subtracted.
#[test]
fn bench_echo_counts_instructions_per_message_under_callgrind() {
    let out = temp_dir("callgrind");
    let text = bench(
        &[
            "echo",
            "--servers",
            "epoll,callbacks",
            "--conns",
            "10",
            "--sizes",
            "64",
            "--pipelines",
            "1",
            "--duration",
            "0.1",
            "--warmup",
            "0.05",
            "--syscalls",
            "off",
            "--callgrind",
        ],
        &out,
    );
    if text.contains("valgrind is not installed") {
        assert!(
            std::env::var_os("IOMUX_REQUIRE_TOOLS").is_none(),
            "IOMUX_REQUIRE_TOOLS is set and valgrind is missing"
        );
        eprintln!("skipped: valgrind is not installed");
        return;
    }
    let rows = results(&out);
    let counted: Vec<_> = rows.iter().filter(|r| r["pass"] == "callgrind").collect();
    assert_eq!(counted.len(), 2, "{text}");
    for row in counted {
        let (total, messages) = (
            row["total"].as_f64().unwrap(),
            row["messages"].as_f64().unwrap(),
        );
        assert!(messages > 0.0 && total > 0.0, "{row}");
        assert!(row["base_total"].as_f64().unwrap() > 0.0, "{row}");
        // A message costs a read, an echo and a write: some hundreds of instructions, never
        // the millions that start-up costs (which the subtraction removed).
        let per_msg = row["per_msg"].as_f64().unwrap();
        assert!((50.0..5_000.0).contains(&per_msg), "{row}");
        assert_eq!(per_msg, total / messages, "{row}");
    }
    assert!(text.contains("a long run less a short one"), "{text}");
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
        .find(|r| r["subject"] == "poll" && r["idle"] == 50)
        .unwrap();
    assert!(
        poll_50["fds_passed_per_wait"].as_f64().unwrap() >= 50.0,
        "poll hands the idle fds to the kernel: {poll_50}"
    );
    let epoll_50 = rows
        .iter()
        .find(|r| r["subject"] == "epoll" && r["idle"] == 50)
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
        rows.iter().find(|r| r["subject"] == model).unwrap()["server_cpu_us_per_msg"]
            .as_f64()
            .unwrap()
    };
    assert!(
        cpu("nonblocking") > 5.0 * cpu("epoll"),
        "the busy loop burns far more CPU per message: {rows:?}"
    );
    assert_svg(&out, "busy.svg");
    assert!(out.join("busy.png").exists(), "every chart is also a PNG");
}

/// `bench all` runs each experiment with exactly its subcommand's defaults (one source of
/// them), records them in the run record, and `bench show` renders the stored run again.
#[test]
fn bench_all_records_each_subcommands_defaults_and_show_renders_them_again() {
    let out = temp_dir("all");
    let text = bench(&["all", "--quick"], &out);
    let runs = runs(&out);
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(run["quick"], true);
    assert!(
        run["finished"].as_f64().is_some(),
        "the run record is closed: {run}"
    );
    for key in [
        "host",
        "cpu_model",
        "cores",
        "kernel",
        "nofile_limit",
        "virtualized",
    ] {
        assert!(
            run["testbed"].get(key).is_some(),
            "testbed lacks {key}: {run}"
        );
    }
    let experiments = run["experiments"].as_array().unwrap();
    let names: Vec<&str> = experiments
        .iter()
        .map(|e| e["experiment"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["wait", "echo", "idle", "busy"]);
    for experiment in experiments {
        let name = experiment["experiment"].as_str().unwrap();
        let dry = Command::new(BIN)
            .args(["bench", name, "--dry-run"])
            .output()
            .unwrap();
        assert!(dry.status.success());
        let planned: serde_json::Value = serde_json::from_slice(&dry.stdout).unwrap();
        assert_eq!(
            experiment["params"], planned["experiments"][0]["params"],
            "bench all ran {name} with other parameters than `bench {name}` defaults to"
        );
    }
    for chart in ["wait", "echo", "idle", "busy"] {
        assert_svg(&out, &format!("{chart}.svg"));
    }
    let points = results(&out);
    // Every metric the lab records has comparison rules (which way is better, what is noise).
    for record in records(&out) {
        if let Some(metrics) = record.get("point").map(|p| &p["metrics"]) {
            for name in metrics.as_object().unwrap().keys() {
                assert!(
                    iomux_store::metric::known(name),
                    "metric {name:?} is not in iomux_store::metric::METRICS"
                );
            }
        }
    }
    for name in ["wait", "echo", "idle", "busy"] {
        assert!(
            points
                .iter()
                .any(|p| p["experiment"] == name && p.get("skipped").is_none()),
            "no measured {name} point"
        );
    }
    // Rendered again from the records: every table line the run printed comes out the same.
    let shown = Command::new(BIN)
        .args(["bench", "show"])
        .arg(&*out)
        .output()
        .unwrap();
    assert!(shown.status.success());
    let shown = String::from_utf8_lossy(&shown.stdout);
    for line in text
        .lines()
        .skip(1)
        .filter(|l| !l.starts_with("results in") && !l.starts_with("recorded as run"))
    {
        assert!(shown.contains(line), "bench show lacks {line:?}:\n{shown}");
    }
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

/// `bench echo --rates`: after the closed loop, every server at the same fixed offered load
/// (a percentage of the slowest server's closed-loop rate), with messages per wake-up; shown
/// in tables of their own, and again by `bench show`.
#[test]
fn bench_echo_fixed_rate_points_offer_every_server_the_same_load() {
    let out = temp_dir("echo-rates");
    let text = bench(
        &[
            "echo",
            "--quick",
            "--servers",
            "epoll,uring,tokio",
            "--conns",
            "10",
            "--sizes",
            "64",
            "--pipelines",
            "1",
            "--rates",
            "50",
        ],
        &out,
    );
    let rows = results(&out);
    let closed: Vec<f64> = ["epoll", "uring", "tokio"]
        .iter()
        .map(|s| {
            rows.iter()
                .find(|r| r["subject"] == *s && r["rate_pct"].is_null() && r["repeat"].is_null())
                .unwrap_or_else(|| panic!("no closed-loop point of {s}: {rows:?}"))["msgs_per_s"]
                .as_f64()
                .unwrap()
        })
        .collect();
    let slowest = closed.iter().copied().fold(f64::INFINITY, f64::min);
    for server in ["epoll", "uring", "tokio"] {
        let fixed = rows
            .iter()
            .find(|r| r["subject"] == server && r["rate_pct"] == 50 && r["repeat"].is_null())
            .unwrap_or_else(|| panic!("no fixed-rate point of {server}: {rows:?}"));
        let offered = fixed["offered_per_s"].as_f64().unwrap();
        assert!((offered - slowest / 2.0).abs() < 1e-6 * slowest, "{fixed}");
        assert!(fixed["msgs_per_wakeup"].as_f64().unwrap() > 0.0, "{fixed}");
        // How much of its schedule the load kept is recorded (a window it could not drive is
        // measured again, so a busy machine does not record a server that did no work).
        assert!(fixed["load_on_schedule"].as_f64().unwrap() > 0.0, "{fixed}");
        assert_eq!(fixed["errors"], 0.0, "{fixed}");
        assert_eq!(fixed["mismatches"], 0.0, "{fixed}");
        // An open loop the server keeps up with answers what it is offered.
        let answered = fixed["msgs_per_s"].as_f64().unwrap();
        assert!(answered > 0.5 * offered, "{fixed}");
    }
    assert!(
        text.contains("fixed rate: 50% of the slowest closed-loop rate"),
        "{text}"
    );
    assert!(text.contains("msgs/wake-up"), "{text}");
    let shown = Command::new(BIN)
        .args(["bench", "show"])
        .arg(&*out)
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.contains("fixed rate: 50%"), "{shown}");
}

/// A closed-loop point whose window is too short for its round trips (here 3,200 messages of
/// 16 KiB in flight, a 50 ms window) is measured again, every server alike, with a window that
/// holds ten round trips of the slowest connection; the points record it, the report says so.
/// The interleaved mode does the same from its first pair.
#[test]
fn bench_echo_lengthens_a_window_too_short_for_its_round_trips() {
    let point = [
        "--conns",
        "200",
        "--sizes",
        "16384",
        "--pipelines",
        "16",
        "--duration",
        "0.05",
        "--warmup",
        "0.05",
        "--syscalls",
        "off",
    ];
    let check = |out: &Path, text: &str, closed_loop_points: usize| {
        let rows = results(out);
        let windows: Vec<f64> = rows
            .iter()
            .map(|r| r["window_s"].as_f64().unwrap_or_else(|| panic!("{r}")))
            .collect();
        assert_eq!(windows.len(), closed_loop_points, "{rows:?}");
        for r in &rows {
            let fairness = r["fairness"].as_f64().unwrap_or_else(|| panic!("{r}"));
            let least = r["least_served"].as_f64().unwrap_or_else(|| panic!("{r}"));
            assert!(fairness > 0.0 && fairness <= 1.0 + 1e-9, "{r}");
            assert!((0.0..=1.0 + 1e-9).contains(&least), "{r}");
        }
        assert!(
            windows.iter().all(|&w| w == windows[0] && w >= 1.0),
            "one lengthened window for every server and arm: {windows:?}"
        );
        // Ten round trips of the slowest connection, unless the longest window was reached.
        let slowest = rows
            .iter()
            .filter(|r| r["repeat"].is_null())
            .map(|r| r["p50_us"].as_f64().unwrap())
            .fold(0.0, f64::max);
        assert!(
            windows[0] * 1e6 / slowest >= 10.0 || windows[0] == 8.0,
            "{windows:?} at a slowest p50 of {slowest} us"
        );
        assert!(
            text.contains("window lengthened to") && text.contains("(from 0.1 s)"),
            "{text}"
        );
    };
    let out = temp_dir("echo-window");
    let args = [&["echo", "--servers", "epoll,poll"][..], &point].concat();
    let text = bench(&args, &out);
    check(&out, &text, 2);
    let out = temp_dir("echo-window-arms");
    let args = [
        &[
            "echo",
            "--servers",
            "epoll",
            "--pairs",
            "2",
            "--against",
            BIN,
        ][..],
        &point,
    ]
    .concat();
    let text = bench(&args, &out);
    // Two pairs of two arms, and each arm's medians.
    check(&out, &text, 6);
}

/// `bench echo --profile`: each server's CPU sampled by perf at each point, its top symbols
/// (idle left out) side by side, the whole report kept.
#[test]
fn bench_echo_profiles_where_each_servers_cpu_goes() {
    if Command::new("perf").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("IOMUX_REQUIRE_TOOLS").is_none(),
            "perf is required here (apt-get install linux-perf)"
        );
        eprintln!("skipped: perf is not installed");
        return;
    }
    let out = temp_dir("echo-profile");
    let text = bench(
        &[
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
            "--profile",
        ],
        &out,
    );
    assert!(
        text.contains("where the server's CPU goes at 10 conns, 64 B, pipeline 1"),
        "{text}"
    );
    assert!(!text.contains("safe_halt"), "idle is no one's cost: {text}");
    let rows = results(&out);
    for server in ["epoll", "tokio"] {
        let profile = rows
            .iter()
            .find(|r| r["subject"] == server && r["pass"] == "profile")
            .unwrap_or_else(|| panic!("no profile of {server}: {rows:?}"));
        assert!(profile["samples"].as_f64().unwrap() > 0.0, "{profile}");
        let kernel = profile["kernel_share"].as_f64().unwrap();
        // On loopback most of an echo's cost is the kernel's TCP work.
        assert!(kernel > 0.3 && kernel <= 1.0 + 1e-9, "{profile}");
        let report =
            std::fs::read_to_string(out.join(format!("profile-{server}-10c-64B-p1.txt"))).unwrap();
        assert!(report.contains("cpu-clock"), "{report}");
    }
}

/// `bench http` measures iomux web and nginx under wrk, with the echo yardstick, and names
/// what it lacks when wrk or nginx is missing (`.ci/run` installs both).
#[test]
fn bench_http_measures_iomux_web_against_nginx() {
    let installed = |p: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {p} || test -x /usr/sbin/{p}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !installed("wrk") || !installed("nginx") {
        assert!(
            std::env::var_os("IOMUX_REQUIRE_WEB").is_none(),
            "IOMUX_REQUIRE_WEB is set but wrk or nginx is missing (apt-get install wrk nginx-light)"
        );
        eprintln!("bench http not tested: wrk and nginx are not installed");
        return;
    }
    let out = temp_dir("http");
    let text = bench(&["http", "--quick"], &out);
    let rows = results(&out);
    for server in ["iomux-web", "nginx"] {
        let median = rows
            .iter()
            .find(|r| r["subject"] == server && r["repeat"].is_null())
            .unwrap_or_else(|| panic!("no median for {server}: {rows:?}"));
        assert!(
            median["requests_per_s"].as_f64().unwrap() > 100.0,
            "{median}"
        );
        assert!(
            median["server_cpu_us_per_req"].as_f64().unwrap() > 0.0,
            "{median}"
        );
        assert_eq!(median["errors"], 0.0, "{median}");
        assert_eq!(median["file"], "style.css");
    }
    let echo = rows
        .iter()
        .find(|r| r["subject"] == "epoll-echo" && r["repeat"].is_null())
        .unwrap();
    assert!(echo["server_cpu_us_per_msg"].as_f64().unwrap() > 0.0);
    assert!(text.contains("vs nginx"), "{text}");
    assert_svg(&out, "http.svg");

    // The interleaved mode: iomux web in both arms (A: --against, here this very binary),
    // nginx in both as the control; each pair's windows and each arm's medians recorded.
    let arms = temp_dir("http-arms");
    let text = bench(
        &[
            "http",
            "--quick",
            "--servers",
            "iomux-web,nginx",
            "--against",
            BIN,
            "--pairs",
            "2",
        ],
        &arms,
    );
    assert!(text.contains("http, interleaved"), "{text}");
    assert!(text.contains("B (this build) against A"), "{text}");
    let rows = results(&arms);
    for server in ["iomux-web", "nginx"] {
        for arm in ["A", "B"] {
            let windows = rows
                .iter()
                .filter(|r| r["subject"] == server && r["arm"] == arm && !r["repeat"].is_null())
                .count();
            assert_eq!(windows, 2, "{server} arm {arm}: {rows:?}");
            let median = rows
                .iter()
                .find(|r| r["subject"] == server && r["arm"] == arm && r["repeat"].is_null())
                .unwrap_or_else(|| panic!("no median of {server} arm {arm}: {rows:?}"));
            assert!(
                median["requests_per_s"].as_f64().unwrap() > 100.0,
                "{median}"
            );
            assert_eq!(median["errors"], 0.0, "{median}");
        }
    }
    // Two pairs decide nothing (a paired test needs about ten): no decisive verdict on an A/A.
    let compared = Command::new(BIN)
        .args(["runs", "compare", "latest", "--json"])
        .env("IOMUX_DB", arms.join("runs.db"))
        .output()
        .unwrap();
    assert!(compared.status.success(), "{compared:?}");
    let c: serde_json::Value = serde_json::from_slice(&compared.stdout).unwrap();
    assert_eq!(c["mode"]["mode"], "arms", "{c}");
    let rows = c["rows"].as_array().unwrap();
    assert!(rows.iter().any(|r| r["subject"] == "iomux-web"), "{c}");
    assert!(
        rows.iter()
            .all(|r| ["noise", "inconclusive"].contains(&r["verdict"].as_str().unwrap())),
        "{c}"
    );
}

/// `bench python`: the notes' selectors server on the standard module and on iomux's epoll and
/// io_uring selectors, and an asyncio echo server on the standard loop, on iomux's selector and
/// on uvloop, each verified by the lab's load generator. A subject whose prerequisite is missing
/// (python3, maturin, uvloop) is recorded as skipped, which `IOMUX_REQUIRE_PYTHON` (set by
/// `.ci/run`) makes a failure. Then the asyncio server on iomux's selector under 1,000
/// connections for a second: every byte echoed back verified, none missing.
#[test]
fn bench_python_measures_each_selector_and_loop_and_asyncio_on_iomux_takes_1000_connections() {
    let require = std::env::var_os("IOMUX_REQUIRE_PYTHON").is_some();
    let out = temp_dir("python");
    let text = bench(
        &[
            "python",
            "--conns",
            "10",
            "--pipelines",
            "1",
            "--duration",
            "0.2",
            "--warmup",
            "0.1",
            "--repeat",
            "1",
        ],
        &out,
    );
    let rows = results(&out);
    let measured = |subject: &str, rows: &[serde_json::Value]| -> Option<serde_json::Value> {
        let row = rows
            .iter()
            .find(|r| r["subject"] == subject && r["repeat"].is_null())
            .unwrap_or_else(|| panic!("no point for {subject}: {rows:?}"))
            .clone();
        if let Some(why) = row.get("skipped") {
            assert!(
                !require,
                "IOMUX_REQUIRE_PYTHON is set but {subject} was skipped: {why}"
            );
            eprintln!("{subject} not measured: {why}");
            return None;
        }
        assert_eq!(row["mismatches"], 0.0, "{row}");
        assert_eq!(row["errors"], 0.0, "{row}");
        assert!(row["msgs_per_s"].as_f64().unwrap() > 0.0, "{row}");
        assert!(
            row["server_cpu_us_per_msg"].as_f64().unwrap() > 0.0,
            "{row}"
        );
        Some(row)
    };
    let subjects = [
        "py-std-epoll",
        "py-iomux-epoll",
        "py-iomux-uring",
        "asyncio-std",
        "asyncio-iomux",
        "asyncio-uvloop",
    ];
    for subject in subjects {
        measured(subject, &rows);
    }
    assert!(text.contains("x ref"), "{text}");
    assert_svg(&out, "python.svg");

    if rows
        .iter()
        .any(|r| r["subject"] == "asyncio-iomux" && r.get("skipped").is_some())
    {
        return; // said above
    }
    let out = temp_dir("python-1000");
    bench(
        &[
            "python",
            "--servers",
            "asyncio-iomux",
            "--conns",
            "1000",
            "--pipelines",
            "1,16",
            "--duration",
            "1",
            "--warmup",
            "0.2",
            "--repeat",
            "1",
        ],
        &out,
    );
    let medians: Vec<serde_json::Value> = results(&out)
        .into_iter()
        .filter(|r| r["repeat"].is_null())
        .collect();
    assert_eq!(medians.len(), 2, "{medians:?}");
    for row in medians {
        assert_eq!(row["conns"], 1000, "{row}");
        // Errors count unanswered messages too: every connection was served to the end.
        let row = measured("asyncio-iomux", &[row]).expect("measured above");
        assert!(row["msgs_per_s"].as_f64().unwrap() > 1000.0, "{row}");
    }
}

/// `bench soak` at a tiny size: each server ends where it started, no byte lost or wrong.
#[test]
fn bench_soak_servers_end_where_they_started() {
    let out = temp_dir("soak");
    let text = bench(
        &[
            "soak",
            "--servers",
            "epoll,poll,uring,callbacks",
            "--conns",
            "150",
            "--duration",
            "2",
            "--churn",
            "300",
        ],
        &out,
    );
    let rows = results(&out);
    let verdicts: Vec<_> = rows.iter().filter(|r| r.get("verdict").is_some()).collect();
    assert_eq!(verdicts.len(), 4, "{text}");
    for row in verdicts {
        assert_eq!(row["verdict"], "held", "{row}");
        assert!(row["opened"].as_f64().unwrap() > 100.0, "{row}");
        assert!(row["messages"].as_f64().unwrap() > 50.0, "{row}");
        assert_eq!(row["mismatches"], 0.0, "{row}");
        assert_eq!(row["lost_bytes"], 0.0, "{row}");
        assert!(
            row["fds_peak"].as_f64().unwrap() > row["fds_start"].as_f64().unwrap() + 20.0,
            "{row}"
        );
        // The server's own buffers were asked (its --stats-addr), and ended empty.
        assert_eq!(row["buffered_end_bytes"], 0.0, "{row}");
        assert!(row["buffered_peak_bytes"].as_f64().is_some(), "{row}");
    }
    assert!(
        rows.iter().filter(|r| r.get("sample").is_some()).count() >= 9,
        "a sample a second"
    );
    assert_svg(&out, "soak-fds.svg");
    assert_svg(&out, "soak-rss.svg");
}

/// A long run says where it is on a terminal (a progress line, and each finished point's
/// headline figure as it lands), and nothing on standard error when that is a pipe.
#[test]
fn bench_shows_progress_on_a_terminal_only() {
    let dir = temp_dir("progress");
    let args = [
        "echo",
        "--servers",
        "epoll",
        "--conns",
        "5",
        "--sizes",
        "64,128",
        "--pipelines",
        "1",
        "--duration",
        "0.1",
        "--warmup",
        "0.01",
        "--syscalls",
        "off",
        "--no-db",
    ];
    let piped = Command::new(BIN)
        .arg("bench")
        .args(args)
        .arg("--out")
        .arg(dir.join("piped"))
        .output()
        .unwrap();
    assert!(piped.status.success());
    assert!(
        piped.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&piped.stderr)
    );
    // A pseudo-terminal, by script(1) (util-linux).
    let line = format!(
        "{BIN} bench {} --out {}",
        args.join(" "),
        dir.join("tty").display()
    );
    let Ok(tty) = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .output()
    else {
        panic!("script(1) is needed to run under a terminal");
    };
    let text = String::from_utf8_lossy(&tty.stdout);
    assert!(tty.status.success(), "{text}");
    assert!(text.contains("2/2 points"), "{text}");
    assert!(
        text.contains("echo epoll [conns=5,pipeline=1,size=128]: server_cpu_us_per_msg"),
        "{text}"
    );
}

//! The results store from the command line: `iomux bench` recording as it goes, `iomux runs`
//! reading, and every fault the store can meet (bad addresses, files that are not stores,
//! read-only files, refused users, killed writers, lost connections, many writers at once),
//! on SQLite and on a throwaway MariaDB server. No test touches the user's own store: each
//! names its store explicitly.
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use iomux_store::record::{ExperimentParams, Point, Record, Run};
use iomux_store::testing::{testbed, MariaDb, Scratch};

use crate::util::BIN;

pub fn temp_dir(name: &str) -> Scratch {
    Scratch::new("store-e2e", name)
}

/// `iomux ARGS` with `IOMUX_DB=db`.
pub fn iomux(args: &[&str], db: &str) -> Output {
    command(args, db).output().unwrap()
}

fn command(args: &[&str], db: &str) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env("IOMUX_DB", db);
    cmd
}

/// Its stdout, after checking it succeeded.
pub fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Its one error line, after checking it failed with exactly one, free of `secret`.
fn fails(out: Output, secret: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!out.status.success(), "succeeded: {stdout}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "not one line: {stderr}");
    assert!(lines[0].starts_with("iomux: error: "), "{stderr}");
    assert!(
        !stderr.contains(secret) && !stdout.contains(secret),
        "the password leaked: {stderr}"
    );
    lines[0].to_owned()
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// The runs of a store, as `runs list --json` gives them.
fn listed(db: &str) -> Vec<serde_json::Value> {
    json(&ok(iomux(&["runs", "list", "--json"], db)))
        .as_array()
        .unwrap()
        .clone()
}

/// How many points a results.jsonl holds.
fn jsonl_points(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("results.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("{\"point\""))
        .count()
}

/// A stored-looking echo run: epoll and tokio at 100 connections, three repeats each.
pub fn synthetic(
    id: &str,
    host: &str,
    started: f64,
    epoll_cpu: f64,
    extra_points: usize,
) -> (Run, Vec<Point>) {
    let run = Run {
        id: id.into(),
        started,
        finished: Some(started + 60.0),
        iomux_version: "0.1.0".into(),
        git_commit: format!("commit-{id}"),
        command_line: vec!["iomux".into(), "bench".into(), "echo".into()],
        testbed: testbed(host),
        quick: false,
        experiments: vec![ExperimentParams {
            experiment: "echo".into(),
            params: serde_json::json!({ "repeat": 3 }),
        }],
    };
    let mut points = Vec::new();
    for (subject, cpu) in [("tokio", 4.0), ("epoll", epoll_cpu)] {
        for size in std::iter::once(64).chain((0..extra_points).map(|i| 1000 + i)) {
            let at = || {
                Point::new("echo", subject)
                    .param("conns", 100)
                    .param("pipeline", 1)
                    .param("size", size)
            };
            for (i, jitter) in [0.99, 1.0, 1.01].iter().enumerate() {
                points.push(at().metric("server_cpu_us_per_msg", cpu * jitter).repeat(i));
            }
            points.push(
                at().metric("server_cpu_us_per_msg", cpu)
                    .metric("errors", 0.0),
            );
        }
    }
    (run, points)
}

/// Six quiet runs r0..r5 on testbed m1, then r6, where epoll costs twice as much (past the
/// 60% band two runs are judged by without calibration or 20 runs of history).
pub fn seeded_regression() -> Vec<(Run, Vec<Point>)> {
    let mut runs: Vec<(Run, Vec<Point>)> = (0..6)
        .map(|i| {
            synthetic(
                &format!("r{i}"),
                "m1",
                1000.0 * f64::from(i),
                4.0 + 0.02 * f64::from(i % 2),
                0,
            )
        })
        .collect();
    runs.push(synthetic("r6", "m1", 6000.0, 8.0, 0));
    runs
}

pub fn write_jsonl(dir: &Path, runs: &[(Run, Vec<Point>)]) {
    std::fs::create_dir_all(dir).unwrap();
    let mut text = String::new();
    for (run, points) in runs {
        text.push_str(&serde_json::to_string(&Record::Run(run.clone())).unwrap());
        text.push('\n');
        for p in points {
            text.push_str(&serde_json::to_string(&Record::Point(p.clone())).unwrap());
            text.push('\n');
        }
    }
    std::fs::write(dir.join("results.jsonl"), text).unwrap();
}

/// A quick wait run of two backends at 100 fds (a few hundred ms).
const QUICK_WAIT: &[&str] = &[
    "bench",
    "wait",
    "--quick",
    "--fds",
    "100",
    "--backends",
    "epoll,poll",
];

/// A wait run long enough to be interrupted (about half a second per point, 16 points).
const LONG_WAIT: &[&str] = &[
    "bench",
    "wait",
    "--fds",
    "100,200,300,400,500,600,700,800",
    "--rounds",
    "1000",
    "--backends",
    "epoll,poll",
];

#[test]
fn bench_records_into_the_default_store_and_no_db_opts_out() {
    let dir = temp_dir("default");
    let data = dir.join("data");
    let run_in = |extra: &[&str], out: &str| {
        let mut cmd = Command::new(BIN);
        cmd.args(QUICK_WAIT)
            .args(extra)
            .args(["--out", dir.join(out).to_str().unwrap()])
            .env_remove("IOMUX_DB")
            .env("XDG_DATA_HOME", &data);
        ok(cmd.output().unwrap())
    };
    let text = run_in(&[], "one");
    let db = data.join("iomux/runs.db");
    assert!(
        db.exists(),
        "the default store is $XDG_DATA_HOME/iomux/runs.db"
    );
    assert!(text.contains("recorded as run "), "{text}");
    let db = db.to_str().unwrap();
    let runs = listed(db);
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["points"], jsonl_points(&dir.join("one")) as u64);
    assert!(runs[0]["finished"].is_number());
    // The stored points are the JSONL's, one for one.
    let shown = json(&ok(iomux(&["runs", "show", "latest", "--json"], db)));
    let jsonl: Vec<serde_json::Value> = std::fs::read_to_string(dir.join("one/results.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|l| json(l).get("point").cloned())
        .collect();
    assert_eq!(shown["points"].as_array().unwrap(), &jsonl);
    // --no-db: measured and written to JSONL, not stored; importing it later stores it once.
    run_in(&["--no-db"], "two");
    assert_eq!(listed(db).len(), 1);
    let imported = ok(iomux(
        &["runs", "import", dir.join("two").to_str().unwrap()],
        db,
    ));
    assert!(imported.contains(" new, 0 already stored"), "{imported}");
    let again = ok(iomux(
        &["runs", "import", dir.join("two").to_str().unwrap()],
        db,
    ));
    assert!(again.contains(" 0 new, "), "{again}");
    assert_eq!(listed(db).len(), 2);
    // `runs show` renders the tables again, and `rm` removes.
    let shown = ok(iomux(
        &[
            "runs",
            "show",
            "latest",
            "--out",
            dir.join("charts").to_str().unwrap(),
        ],
        db,
    ));
    assert!(
        shown.contains("wait: the libevent bench.c chain"),
        "{shown}"
    );
    assert!(dir.join("charts/wait.svg").exists());
    ok(iomux(&["runs", "rm", "latest"], db));
    assert_eq!(listed(db).len(), 1);
}

#[test]
fn two_runs_recorded_and_compared_as_the_readme_shows() {
    let dir = temp_dir("readme");
    let db = dir.join("runs.db");
    let db = db.to_str().unwrap();
    for out in ["a", "b"] {
        ok(iomux(
            &[
                "bench",
                "echo",
                "--quick",
                "--servers",
                "epoll,tokio",
                "--out",
                dir.join(out).to_str().unwrap(),
            ],
            db,
        ));
    }
    let text = ok(iomux(&["runs", "compare", "latest~1", "latest"], db));
    for expected in ["A: ", "B: ", "same testbed", "regressions,", "noise"] {
        assert!(
            text.contains(expected),
            "compare lacks {expected:?}:\n{text}"
        );
    }
    let c = json(&ok(iomux(
        &["runs", "compare", "latest~1", "latest", "--json"],
        db,
    )));
    assert!(!c["rows"].as_array().unwrap().is_empty());
    assert_eq!(c["mode"]["mode"], "absolute");
}

#[test]
fn a_seeded_regression_is_flagged_by_compare_history_and_the_exit_status() {
    let dir = temp_dir("seeded");
    let db = dir.join("runs.db");
    let db = db.to_str().unwrap();
    write_jsonl(&dir.join("runs"), &seeded_regression());
    ok(iomux(
        &["runs", "import", dir.join("runs").to_str().unwrap()],
        db,
    ));
    let out = iomux(&["runs", "compare", "r5", "r6", "--fail-on-regression"], db);
    assert_eq!(out.status.code(), Some(2), "a regression exits with 2");
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text
        .lines()
        .find(|l| l.starts_with("regression"))
        .expect("a regression row");
    assert!(
        first.contains("echo/epoll/conns=100,pipeline=1,size=64"),
        "{first}"
    );
    assert!(
        first.contains("server_cpu_us_per_msg") && first.contains("band ±60%"),
        "{first}"
    );
    // Quiet runs compared: exit 0 even with the flag.
    ok(iomux(
        &["runs", "compare", "r3", "r4", "--fail-on-regression"],
        db,
    ));
    let history = ok(iomux(
        &["runs", "history", "echo/epoll/conns=100,pipeline=1,size=64"],
        db,
    ));
    let marked: Vec<&str> = history
        .lines()
        .filter(|l| l.contains("change point") && l.contains("r6"))
        .collect();
    assert_eq!(marked.len(), 1, "{history}");
    assert_eq!(history.matches("◆ change point").count(), 1, "{history}");
    // Exports.
    let csv = ok(iomux(&["runs", "export", "r6", "--format", "csv"], db));
    assert_eq!(
        csv.lines().count(),
        1 + 8 + 2,
        "header, 8 repeat values, 2 medians with 2 metrics"
    );
    let bmf = json(&ok(iomux(&["runs", "export", "r6"], db)));
    assert_eq!(
        bmf["echo/epoll/conns=100,pipeline=1,size=64"]["server_cpu_us_per_msg"]["value"],
        8.0
    );
    // Across testbeds: a machine twice as slow for everyone shows no regression.
    let mut slow = synthetic("slow", "m2", 7000.0, 8.0, 0);
    for p in &mut slow.1 {
        if p.subject == "tokio" {
            for v in p.metrics.values_mut() {
                *v = v.map(|v| v * 2.0);
            }
        }
    }
    write_jsonl(&dir.join("slow"), &[slow]);
    ok(iomux(
        &["runs", "import", dir.join("slow").to_str().unwrap()],
        db,
    ));
    let text = ok(iomux(
        &["runs", "compare", "r5", "slow", "--fail-on-regression"],
        db,
    ));
    assert!(
        text.contains("different testbeds") && text.contains("echo: tokio"),
        "{text}"
    );
}

#[test]
fn bad_store_addresses_fail_before_measuring_with_one_clear_line() {
    let dir = temp_dir("bad");
    let not_db = dir.join("not.db");
    std::fs::write(&not_db, "this is not SQLite").unwrap();
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let unreachable = format!("mysql://u:pw-x1@127.0.0.1:{closed_port}/iomux");
    for (db, says) in [
        ("postgres://u:pw-x1@h/db", "unknown store scheme"),
        ("mysql://u:pw-x1@h", "not a store address"),
        ("mysql://u:pw-x1@h:0/db", "not a store address"),
        (not_db.to_str().unwrap(), "not an iomux store"),
        (unreachable.as_str(), "cannot reach a MySQL server"),
    ] {
        let out = dir.join("out");
        let mut args = QUICK_WAIT.to_vec();
        args.extend(["--out", out.to_str().unwrap()]);
        let line = fails(iomux(&args, db), "pw-x1");
        assert!(line.contains(says), "{db}: {line}");
        assert!(
            line.contains("--no-db"),
            "says how to go on without the store: {line}"
        );
        assert!(
            !out.join("results.jsonl").exists(),
            "{db}: failed before measuring"
        );
        let line = fails(iomux(&["runs", "list"], db), "pw-x1");
        assert!(line.contains(says), "{db}: {line}");
    }
    assert_eq!(
        std::fs::read_to_string(&not_db).unwrap(),
        "this is not SQLite"
    );
}

#[test]
fn a_read_only_store_is_refused_clearly() {
    let dir = temp_dir("readonly");
    let db = dir.join("runs.db");
    ok(iomux(&["runs", "list"], db.to_str().unwrap()));
    // Root writes anywhere: the test runs iomux as nobody where it runs as root (from a copy
    // in the temporary folder, since nobody may not reach the build folder).
    let mut cmd = if is_root() {
        let bin = dir.join("iomux");
        std::fs::copy(BIN, &bin).unwrap();
        let mut perms = std::fs::metadata(&dir).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(&dir, perms).unwrap();
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(&bin);
        c
    } else {
        let mut perms = std::fs::metadata(&dir).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o555);
        std::fs::set_permissions(&dir, perms.clone()).unwrap();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o444);
        std::fs::set_permissions(&db, perms).unwrap();
        Command::new(BIN)
    };
    let out = cmd
        .args(QUICK_WAIT)
        .args(["--out", "/tmp/iomux-never-written"])
        .env("IOMUX_DB", &db)
        .output()
        .unwrap();
    let line = fails(out, "\u{0}");
    assert!(
        line.contains("read-only") || line.contains("writable"),
        "{line}"
    );
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
}

/// Starts four `runs import` processes at once, each a machine with runs of its own, into
/// `db`; checks nothing was lost or duplicated.
fn four_machines_at_once(dir: &Path, db: &str) {
    let mut expected = 0;
    let mut children = Vec::new();
    for machine in 0..4 {
        let host = format!("machine-{machine}");
        let runs: Vec<(Run, Vec<Point>)> = (0..5)
            .map(|r| synthetic(&format!("{host}-r{r}"), &host, f64::from(r), 4.0, 20))
            .collect();
        expected += runs.iter().map(|r| r.1.len()).sum::<usize>();
        let folder = dir.join(&host);
        write_jsonl(&folder, &runs);
        children.push(command(&["runs", "import", folder.to_str().unwrap()], db).output());
    }
    for child in children {
        ok(child.unwrap());
    }
    let runs = listed(db);
    assert_eq!(runs.len(), 20);
    let stored: u64 = runs.iter().map(|r| r["points"].as_u64().unwrap()).sum();
    assert_eq!(stored as usize, expected);
    let m2 = json(&ok(iomux(
        &["runs", "list", "--testbed", "machine-2", "--json"],
        db,
    )));
    assert_eq!(m2.as_array().unwrap().len(), 5);
}

/// Kills a long bench run once it has stored a few points; the store keeps them, the run is
/// unfinished, and importing its JSONL adds exactly what the store lacked.
fn killed_writer_keeps_what_it_measured(dir: &Path, db: &str, stored_points: impl Fn() -> u64) {
    let out = dir.join("killed");
    let mut args = LONG_WAIT.to_vec();
    args.extend(["--out", out.to_str().unwrap()]);
    let mut child = command(&args, db)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while stored_points() < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no points recorded"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let runs = listed(db);
    let run = runs
        .iter()
        .find(|r| r["finished"].is_null())
        .expect("an unfinished run");
    let stored = run["points"].as_u64().unwrap() as usize;
    let in_jsonl = jsonl_points(&out);
    assert!(
        stored >= 2 && stored <= in_jsonl,
        "stored {stored}, jsonl {in_jsonl}"
    );
    let imported = ok(iomux(&["runs", "import", out.to_str().unwrap()], db));
    assert!(
        imported.contains(&format!(
            "{} new, {stored} already stored",
            in_jsonl - stored
        )),
        "{imported}"
    );
    let after = listed(db);
    assert_eq!(
        after.iter().find(|r| r["id"] == run["id"]).unwrap()["points"],
        in_jsonl as u64
    );
}

#[test]
fn sqlite_takes_many_writers_at_once_and_keeps_a_killed_writers_points() {
    let dir = temp_dir("sqlite-writers");
    let db = dir.join("runs.db");
    let db = db.to_str().unwrap();
    four_machines_at_once(&dir, db);
    // Two real bench runs at once into the same file.
    let both: Vec<_> = ["x", "y"]
        .map(|out| {
            let mut args = QUICK_WAIT.to_vec();
            let folder = dir.join(out);
            args.extend(["--out", folder.to_str().unwrap()]);
            command(&args, db).output()
        })
        .into_iter()
        .collect();
    for out in both {
        ok(out.unwrap());
    }
    assert_eq!(listed(db).len(), 22);
    let dir2 = temp_dir("sqlite-killed");
    let db2 = dir2.join("runs.db");
    let db2 = db2.to_str().unwrap().to_owned();
    let count = || {
        listed(&db2)
            .first()
            .map_or(0, |r| r["points"].as_u64().unwrap())
    };
    killed_writer_keeps_what_it_measured(&dir2, &db2, count);
}

/// A fresh database on the shared throwaway server, as root's URL.
pub fn mariadb(name: &str) -> Option<(&'static MariaDb, String, String)> {
    let server = MariaDb::shared()?;
    let database = server.fresh_database(name);
    let url = server.url("root", None, &database);
    Some((server, database, url))
}

fn mariadb_points(server: &MariaDb, database: &str) -> u64 {
    use mysql::prelude::Queryable;
    let mut root = server.root().unwrap();
    root.query_first::<u64, _>(format!("SELECT COUNT(*) FROM `{database}`.iomux_points"))
        .unwrap_or(None)
        .unwrap_or(0)
}

#[test]
fn mariadb_takes_four_machines_at_once_and_keeps_a_killed_writers_points() {
    let Some((server, database, url)) = mariadb("e2e_writers") else {
        return;
    };
    let dir = temp_dir("mariadb-writers");
    four_machines_at_once(&dir, &url);
    let Some((_, killed_db, killed_url)) = mariadb("e2e_killed") else {
        return;
    };
    killed_writer_keeps_what_it_measured(&dir, &killed_url, || mariadb_points(server, &killed_db));
    drop(database);
}

#[test]
fn mariadb_connection_lost_mid_run_the_run_goes_on_and_imports_later() {
    let Some((server, database, url)) = mariadb("e2e_lost") else {
        return;
    };
    let dir = temp_dir("mariadb-lost");
    let out = dir.join("run");
    let mut args = LONG_WAIT.to_vec();
    args.extend(["--out", out.to_str().unwrap()]);
    let child = command(&args, &url)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while mariadb_points(server, &database) < 1 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no points recorded"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    {
        use mysql::prelude::Queryable;
        let mut root = server.root().unwrap();
        let ids: Vec<u64> = root
            .query(format!(
                "SELECT id FROM information_schema.processlist WHERE db = '{database}' AND id <> CONNECTION_ID()"
            ))
            .unwrap();
        assert!(!ids.is_empty());
        for id in ids {
            root.query_drop(format!("KILL CONNECTION {id}")).unwrap();
        }
    }
    let result = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(result.status.success(), "the run goes on: {stderr}");
    assert!(
        stderr.contains("lost the connection") && stderr.contains("iomux runs import"),
        "{stderr}"
    );
    let measured = jsonl_points(&out);
    assert!(mariadb_points(server, &database) < measured as u64);
    ok(iomux(&["runs", "import", out.to_str().unwrap()], &url));
    assert_eq!(mariadb_points(server, &database), measured as u64);
    let runs = listed(&url);
    assert!(
        runs[0]["finished"].is_number(),
        "the import closed the run: {runs:?}"
    );
}

#[test]
fn mariadb_passwords_stay_out_of_output_and_refused_users_are_told_why() {
    let Some((server, database, _)) = mariadb("e2e_users") else {
        return;
    };
    server.admin(&[
        "CREATE USER IF NOT EXISTS 'lab'@'%' IDENTIFIED BY 'Pa55-x9z'",
        &format!("GRANT ALL ON `{database}`.* TO 'lab'@'%'"),
        "CREATE USER IF NOT EXISTS 'viewer'@'%' IDENTIFIED BY 'Vw-x4q'",
        &format!("GRANT SELECT ON `{database}`.* TO 'viewer'@'%'"),
    ]);
    let url = server.url("lab", Some("Pa55-x9z"), &database);
    let dir = temp_dir("mariadb-users");
    let mut args = QUICK_WAIT.to_vec();
    let out = dir.join("run");
    args.extend(["--out", out.to_str().unwrap(), "--db", &url]);
    let result = Command::new(BIN)
        .args(&args)
        .env_remove("IOMUX_DB")
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&result.stdout),
        String::from_utf8_lossy(&result.stderr)
    );
    assert!(result.status.success(), "{all}");
    assert!(!all.contains("Pa55-x9z"), "{all}");
    let jsonl = std::fs::read_to_string(out.join("results.jsonl")).unwrap();
    assert!(
        !jsonl.contains("Pa55-x9z") && jsonl.contains("lab:***@"),
        "the JSONL's command line"
    );
    let shown = ok(iomux(&["runs", "show", "latest", "--json"], &url));
    assert!(
        !shown.contains("Pa55-x9z") && shown.contains("lab:***@"),
        "{shown}"
    );
    // A wrong password, and a user who may only read, are one line each.
    let wrong = server.url("lab", Some("Wr0ng-x8"), &database);
    let line = fails(iomux(&["runs", "list"], &wrong), "Wr0ng-x8");
    assert!(line.contains("refused user \"lab\""), "{line}");
    let viewer = server.url("viewer", Some("Vw-x4q"), &database);
    let never = dir.join("never");
    let mut args = QUICK_WAIT.to_vec();
    args.extend(["--out", never.to_str().unwrap()]);
    let line = fails(iomux(&args, &viewer), "Vw-x4q");
    assert!(line.contains("lacks a privilege"), "{line}");
    assert!(!dir.join("never/results.jsonl").exists());
    // Reading is all a viewer needs.
    assert_eq!(listed(&viewer).len(), 1);
}

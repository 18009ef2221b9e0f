//! The traces the front end draws: files written by `iomux serve --trace FILE` (or `bench echo
//! --trace-point`), given to `iomux web --trace PATH`. A PATH that is a folder stands for the
//! `trace*.json` files in it, looked up again on every listing, so a trace written while the
//! front end runs shows up without a restart.
//!
//! Pages name a trace by its file name; only files under the given paths can be named, so no
//! request reaches any other file. Reading and shaping a trace (tens of megabytes for a full
//! ring) happens on the workers, never on the event loop.
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde_json::json;

use iomux_http::Response;
use iomux_lab::trace_summary;
use iomux_metadata::trace::Trace;

/// The paths given with `--trace`.
#[derive(Clone, Debug, Default)]
pub struct TraceSources {
    paths: Vec<PathBuf>,
}

/// A trace file the front end can draw.
#[derive(Clone, Debug, PartialEq)]
pub struct Listed {
    /// Its name on the pages: the file name, with `~2`, `~3`... after a name seen before.
    pub name: String,
    /// Where the file is.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Last modified, in seconds since 1970.
    pub modified: Option<u64>,
}

impl TraceSources {
    /// The traces under `paths` (files, or folders of `trace*.json` files).
    pub fn new(paths: Vec<PathBuf>) -> TraceSources {
        TraceSources { paths }
    }

    /// The trace files there are now, in the order given (a folder's by name).
    pub fn list(&self) -> Vec<Listed> {
        let mut files: Vec<PathBuf> = Vec::new();
        for path in &self.paths {
            if path.is_dir() {
                let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|entry| entry.path())
                    .filter(|p| p.is_file() && is_trace_name(p))
                    .collect();
                found.sort();
                files.extend(found);
            } else {
                // A file is listed even when missing: the page then says why it cannot open.
                files.push(path.clone());
            }
        }
        let mut listed: Vec<Listed> = Vec::new();
        for path in files {
            let base = path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().into(),
            );
            let mut name = base.clone();
            let mut n = 1;
            while listed.iter().any(|l| l.name == name) {
                n += 1;
                name = format!("{base}~{n}");
            }
            let meta = std::fs::metadata(&path).ok();
            listed.push(Listed {
                name,
                bytes: meta.as_ref().map_or(0, |m| m.len()),
                modified: meta
                    .and_then(|m| m.modified().ok())
                    .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                    .map(|d| d.as_secs()),
                path,
            });
        }
        listed
    }

    /// `/api/traces`: the list.
    pub fn list_answer(&self) -> Response {
        let traces: Vec<_> = self
            .list()
            .into_iter()
            .map(|l| {
                json!({
                    "name": l.name,
                    "path": l.path.display().to_string(),
                    "bytes": l.bytes,
                    "modified": l.modified,
                })
            })
            .collect();
        Response::json(&json!({ "traces": traces }))
    }

    /// `/api/traces/NAME`: one trace as a timeline (see [`timeline_json`]), gzipped when the
    /// client takes it.
    pub fn trace_answer(&self, name: &str, gzip: bool) -> Response {
        let Some(listed) = self.list().into_iter().find(|l| l.name == name) else {
            return Response::error(
                404,
                &format!("no trace named {name:?} (the list is at /api/traces)"),
            );
        };
        let parsed = match Trace::read(&listed.path) {
            Ok(t) => t,
            Err(why) => return Response::error(422, &why),
        };
        let body = timeline_json(&listed.name, &parsed).into_bytes();
        let response = if gzip && body.len() >= 512 {
            Response::new(200, "application/json", crate::assets::gzip_fast(&body))
                .with_header("Content-Encoding", "gzip")
        } else {
            Response::new(200, "application/json", body)
        };
        response.with_header("Vary", "Accept-Encoding")
    }
}

/// `trace*.json`: what a folder's trace files are called (`--trace-point` writes
/// `trace-SERVER-...json`).
fn is_trace_name(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.starts_with("trace") && name.ends_with(".json")
}

/// A trace as the timeline page reads it: its summary (the text `iomux trace summary`
/// prints), the name tables, and per thread its waits and calls as arrays, oldest first:
///
/// - a wait: `[ts_us, dur_us, events, wake_index, fds_passed, timeout_us or null, interrupted]`
/// - a call: `[ts_us, dur_us, name_index, fd, result]`
///
/// Written directly rather than through `serde_json::Value`: a full ring is 200,000 records per
/// loop thread.
pub fn timeline_json(name: &str, trace: &Trace) -> String {
    let stats = trace.stats();
    let (first, last) = trace.span_us();
    let head = json!({
        "name": name,
        "command": trace.command,
        "summary": trace_summary::summary_of(name, &stats),
        "turns": stats.turns,
        "dropped_turns": trace.dropped_turns,
        "span_us": [first, last],
        "syscall_names": trace.syscall_names,
        "wake_names": trace.wake_names,
    })
    .to_string();
    let mut out = String::with_capacity(head.len() + 48 * trace.turns() as usize);
    out.push_str(&head[..head.len() - 1]); // without its closing brace
    out.push_str(",\"threads\":[");
    for (i, thread) in trace.threads.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            "{{\"tid\":{},\"name\":{},\"waits\":[",
            thread.tid,
            serde_json::Value::from(thread.name.as_str())
        );
        rows(&mut out, &thread.waits, |out, w| {
            let timeout = w
                .timeout_us
                .map_or_else(|| "null".to_owned(), |t| format!("{t:.3}"));
            let (ts, dur) = (w.ts, w.dur);
            let (events, woke, fds, interrupted) = (w.events, w.woke, w.fds_passed, w.interrupted);
            write!(
                out,
                "[{ts:.3},{dur:.3},{events},{woke},{fds},{timeout},{interrupted}]"
            )
        });
        out.push_str("],\"calls\":[");
        rows(&mut out, &thread.calls, |out, c| {
            let (ts, dur, name, fd, result) = (c.ts, c.dur, c.name, c.fd, c.result);
            write!(out, "[{ts:.3},{dur:.3},{name},{fd},{result}]")
        });
        out.push_str("]}");
    }
    out.push_str("]}");
    out
}

/// Writes one JSON array row per item, comma-separated.
fn rows<T>(out: &mut String, items: &[T], row: impl Fn(&mut String, &T) -> std::fmt::Result) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = row(out, item); // writing into a String cannot fail
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = r#"{"displayTimeUnit":"ns","otherData":{"command":"iomux serve","dropped_turns":2},"traceEvents":[
{"name":"thread_name","ph":"M","pid":1,"tid":0,"args":{"name":"loop 0 (epoll)"}},
{"name":"wait","cat":"wait","ph":"X","pid":1,"tid":0,"ts":0.000,"dur":5.000,"args":{"backend":"epoll","timeout_us":null,"fds_passed":0,"events":2,"woke":"fd","interrupted":0}},
{"name":"recvfrom","cat":"syscall","ph":"X","pid":1,"tid":0,"ts":6.000,"dur":1.500,"args":{"fd":7,"result":64}},
{"name":"sendto","cat":"syscall","ph":"X","pid":1,"tid":0,"ts":8.000,"dur":2.000,"args":{"fd":7,"result":-104}},
{"name":"wait","cat":"wait","ph":"X","pid":1,"tid":0,"ts":11.000,"dur":100.000,"args":{"backend":"epoll","timeout_us":1000.000,"fds_passed":0,"events":0,"woke":"timeout","interrupted":1}}
]}"#;

    #[test]
    fn the_timeline_holds_every_event_with_the_summary_the_cli_prints() {
        let trace = Trace::parse(TRACE.as_bytes()).unwrap();
        let text = timeline_json("t.json", &trace);
        let json: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(json["turns"], 2);
        assert_eq!(json["dropped_turns"], 2);
        assert_eq!(json["span_us"], json!([0.0, 111.0]));
        assert_eq!(json["wake_names"], json!(["fd", "timeout"]));
        assert_eq!(json["syscall_names"], json!(["recvfrom", "sendto"]));
        let thread = &json["threads"][0];
        assert_eq!(thread["name"], "loop 0 (epoll)");
        assert_eq!(thread["waits"][0], json!([0.0, 5.0, 2, 0, 0, null, 0]));
        assert_eq!(thread["waits"][1], json!([11.0, 100.0, 0, 1, 0, 1000.0, 1]));
        assert_eq!(thread["calls"][1], json!([8.0, 2.0, 1, 7, -104]));
        let summary = json["summary"].as_str().unwrap();
        assert_eq!(summary, trace_summary::summary_of("t.json", &trace.stats()));
        assert!(
            summary.contains("fd 1 (50.0%), timeout 1 (50.0%)"),
            "{summary}"
        );
    }

    #[test]
    fn folders_list_their_trace_files_and_repeated_names_are_told_apart() {
        let dir = std::env::temp_dir().join(format!("iomux-traces-{}", std::process::id()));
        let (a, b) = (dir.join("a"), dir.join("b"));
        for d in [&a, &b] {
            std::fs::create_dir_all(d).unwrap();
            std::fs::write(d.join("trace-epoll.json"), TRACE).unwrap();
            std::fs::write(d.join("run.json"), "{}").unwrap();
        }
        let sources = TraceSources::new(vec![a.clone(), b.clone(), dir.join("gone.json")]);
        let names: Vec<String> = sources.list().into_iter().map(|l| l.name).collect();
        assert_eq!(
            names,
            ["trace-epoll.json", "trace-epoll.json~2", "gone.json"]
        );
        let answer = sources.trace_answer("trace-epoll.json~2", false);
        assert_eq!(answer.status, 200);
        assert_eq!(sources.trace_answer("gone.json", false).status, 422);
        assert_eq!(sources.trace_answer("run.json", false).status, 404);
        assert_eq!(sources.trace_answer("../a/run.json", false).status, 404);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

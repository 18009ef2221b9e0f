//! Reading a trace file back: its events, per loop thread and in time order, with the names
//! of syscalls and wake reasons kept once each. `iomux trace summary` adds them up
//! ([`Trace::stats`]); the front end draws them as a timeline.
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::Path;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::TraceStats;

/// The largest trace file read: a ring of the default 200,000 records per loop writes about
/// 25 MB per loop thread.
pub const MAX_BYTES: u64 = 256 << 20;

/// A trace file, parsed.
#[derive(Clone, Debug, Default)]
pub struct Trace {
    /// The command that wrote it.
    pub command: String,
    /// Turns the ring dropped (the oldest).
    pub dropped_turns: u64,
    /// The loop threads, by id.
    pub threads: Vec<Thread>,
    /// The syscall names [`Call::name`] indexes.
    pub syscall_names: Vec<String>,
    /// The wake reasons [`Waited::woke`] indexes.
    pub wake_names: Vec<String>,
}

/// One loop thread's events, each kind in time order.
#[derive(Clone, Debug, Default)]
pub struct Thread {
    /// The thread's id in the trace (its loop's index).
    pub tid: u64,
    /// As the writer named it: "loop 0 (epoll)".
    pub name: String,
    /// Its waits.
    pub waits: Vec<Waited>,
    /// The syscalls (or ring completions) it made between waits.
    pub calls: Vec<Call>,
}

/// A wait: microseconds from the trace's start, how long it blocked, what it returned.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Waited {
    /// When it began, in microseconds from the trace's start.
    pub ts: f64,
    /// How long it blocked, in microseconds.
    pub dur: f64,
    /// Events it returned.
    pub events: u64,
    /// Index into [`Trace::wake_names`].
    pub woke: usize,
    /// Descriptors handed to the kernel.
    pub fds_passed: u64,
    /// The timeout it was given, in microseconds (`None`: block).
    pub timeout_us: Option<f64>,
    /// Signals that interrupted it (`EINTR`).
    pub interrupted: u64,
}

/// A syscall made between waits.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Call {
    /// When it began, in microseconds from the trace's start.
    pub ts: f64,
    /// How long it took, in microseconds.
    pub dur: f64,
    /// Index into [`Trace::syscall_names`].
    pub name: usize,
    /// The descriptor it acted on (-1 when the trace gives none).
    pub fd: i64,
    /// The call's return value, or `-errno`.
    pub result: i64,
}

/// A trace file as written (the fields read; others are skipped).
#[derive(Deserialize)]
struct File<'a> {
    #[serde(rename = "otherData")]
    other_data: Option<OtherData>,
    #[serde(rename = "traceEvents", borrow)]
    trace_events: Option<Vec<Event<'a>>>,
}

#[derive(Deserialize)]
struct OtherData {
    command: Option<String>,
    dropped_turns: Option<u64>,
}

/// One trace event. Strings are borrowed from the file where they hold no escapes.
#[derive(Deserialize)]
struct Event<'a> {
    #[serde(borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    cat: Option<Cow<'a, str>>,
    #[serde(borrow)]
    ph: Option<Cow<'a, str>>,
    tid: Option<u64>,
    ts: Option<f64>,
    dur: Option<f64>,
    /// Kept as text, and read as [`Args`] only for the events drawn: other tools' events may
    /// carry anything there.
    #[serde(borrow)]
    args: Option<&'a RawValue>,
}

/// The arguments of a wait, a syscall or a thread's name.
#[derive(Default, Deserialize)]
struct Args<'a> {
    events: Option<u64>,
    #[serde(borrow)]
    woke: Option<Cow<'a, str>>,
    fds_passed: Option<u64>,
    timeout_us: Option<f64>,
    interrupted: Option<u64>,
    fd: Option<i64>,
    result: Option<i64>,
    #[serde(borrow)]
    name: Option<Cow<'a, str>>,
}

/// Index of `name` in `names`, added if new.
fn intern(names: &mut Vec<String>, name: &str) -> usize {
    names.iter().position(|n| n == name).unwrap_or_else(|| {
        names.push(name.to_owned());
        names.len() - 1
    })
}

impl Trace {
    /// Reads and parses a trace file (at most [`MAX_BYTES`]).
    pub fn read(path: &Path) -> Result<Trace, String> {
        let size = std::fs::metadata(path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .len();
        if size > MAX_BYTES {
            return Err(format!(
                "{} is {} MiB, more than the {} MiB a trace is read up to (record fewer with --trace-records)",
                path.display(),
                size >> 20,
                MAX_BYTES >> 20
            ));
        }
        // Read up to one byte past the limit: a file still growing cannot slip past it.
        let mut text = Vec::with_capacity(size as usize);
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_BYTES + 1).read_to_end(&mut text))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if text.len() as u64 > MAX_BYTES {
            return Err(format!(
                "{} grew past the {} MiB a trace is read up to",
                path.display(),
                MAX_BYTES >> 20
            ));
        }
        Trace::parse(&text).map_err(|why| format!("{}{why}", path.display()))
    }

    /// Parses a trace's bytes; an error reads after the file's name (": not a trace ...").
    ///
    /// The events are read into borrowed, typed records (no JSON tree: a full ring's tree took
    /// twenty times the file's size), then into each thread's waits and calls.
    pub fn parse(text: &[u8]) -> Result<Trace, String> {
        let file: File = serde_json::from_slice(text)
            .map_err(|e| format!(" is not a trace (JSON trace events): {e}"))?;
        let events = file
            .trace_events
            .ok_or(" is not a trace: no traceEvents array")?;
        let mut trace = Trace {
            command: file
                .other_data
                .as_ref()
                .and_then(|o| o.command.as_deref())
                .unwrap_or("?")
                .to_owned(),
            dropped_turns: file.other_data.and_then(|o| o.dropped_turns).unwrap_or(0),
            ..Trace::default()
        };
        let mut threads: BTreeMap<u64, Thread> = BTreeMap::new();
        for event in events {
            let tid = event.tid.unwrap_or(0);
            let thread = threads.entry(tid).or_insert_with(|| Thread {
                tid,
                name: format!("thread {tid}"),
                ..Thread::default()
            });
            // Arguments of the wrong types are taken as absent rather than refusing the file.
            let args: Args = event
                .args
                .and_then(|raw| serde_json::from_str(raw.get()).ok())
                .unwrap_or_default();
            let name = event.name.as_deref().unwrap_or("?");
            match (event.ph.as_deref(), event.cat.as_deref()) {
                (Some("M"), _) if name == "thread_name" => {
                    if let Some(named) = args.name {
                        thread.name = named.into_owned();
                    }
                }
                (Some("X"), Some(cat @ ("wait" | "syscall" | "completion"))) => {
                    let ts = event.ts.unwrap_or(0.0);
                    let dur = event.dur.unwrap_or(0.0).max(0.0);
                    if cat == "wait" {
                        let woke = args.woke.as_deref().unwrap_or("?");
                        thread.waits.push(Waited {
                            ts,
                            dur,
                            events: args.events.unwrap_or(0),
                            woke: intern(&mut trace.wake_names, woke),
                            fds_passed: args.fds_passed.unwrap_or(0),
                            timeout_us: args.timeout_us,
                            interrupted: args.interrupted.unwrap_or(0),
                        });
                    } else {
                        thread.calls.push(Call {
                            ts,
                            dur,
                            name: intern(&mut trace.syscall_names, name),
                            fd: args.fd.unwrap_or(-1),
                            result: args.result.unwrap_or(0),
                        });
                    }
                }
                _ => {}
            }
        }
        // Threads with no wait kept are left out: their calls (if any) belong to no turn.
        trace.threads = threads
            .into_values()
            .filter(|t| !t.waits.is_empty())
            .collect();
        for thread in &mut trace.threads {
            thread.waits.sort_by(|a, b| a.ts.total_cmp(&b.ts));
            thread.calls.sort_by(|a, b| a.ts.total_cmp(&b.ts));
        }
        if trace.turns() == 0 {
            return Err(" holds no loop turns".into());
        }
        Ok(trace)
    }

    /// Turns kept: one per wait.
    pub fn turns(&self) -> u64 {
        self.threads.iter().map(|t| t.waits.len() as u64).sum()
    }

    /// From the first event's start to the last one's end, in microseconds since the trace's
    /// zero: (first, last).
    pub fn span_us(&self) -> (f64, f64) {
        let starts = self.threads.iter().flat_map(|t| {
            let wait = t.waits.iter().map(|w| (w.ts, w.ts + w.dur));
            wait.chain(t.calls.iter().map(|c| (c.ts, c.ts + c.dur)))
        });
        starts.fold((f64::INFINITY, 0.0f64), |(first, last), (start, end)| {
            (first.min(start), last.max(end))
        })
    }

    /// What the trace holds, added up.
    pub fn stats(&self) -> TraceStats {
        let mut stats = TraceStats {
            command: self.command.clone(),
            dropped_turns: self.dropped_turns,
            threads: self.threads.len(),
            turns: self.turns(),
            ..TraceStats::default()
        };
        let (first, last) = self.span_us();
        stats.span_s = (last - first).max(0.0) / 1e6;
        for thread in &self.threads {
            for w in &thread.waits {
                stats.blocked_us += w.dur;
                stats.events += w.events;
                stats.max_events = stats.max_events.max(w.events);
                stats.fds_passed += w.fds_passed;
                stats.interrupted += w.interrupted;
                *stats
                    .wakes
                    .entry(self.wake_names[w.woke].clone())
                    .or_default() += 1;
            }
            for c in &thread.calls {
                let entry = stats
                    .syscalls
                    .entry(self.syscall_names[c.name].clone())
                    .or_default();
                entry.0 += 1;
                entry.1 += c.dur;
                entry.2 += u64::from(c.result < 0);
            }
        }
        stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_tools_events_and_mistyped_arguments_do_not_refuse_the_file() {
        let text = br#"{"traceEvents":[
{"name":"GC","cat":"v8","ph":"X","tid":9,"ts":1,"dur":2,"args":{"fd":"socket:[1]","data":[1,2]}},
{"name":"wait","cat":"wait","ph":"X","tid":0,"ts":5,"dur":1,"args":{"events":"many","woke":"fd"}},
{"name":"sendto","cat":"syscall","ph":"X","tid":0,"ts":7,"dur":1,"args":{"fd":4,"result":64}},
{"name":"recvfrom","cat":"syscall","ph":"X","tid":0,"ts":8,"dur":1,"args":{"fd":4,"result":1.5}},
{"name":"thread_name","ph":"M","tid":9,"args":{"name":7}}
]}"#;
        let trace = Trace::parse(text).unwrap();
        // The v8 thread has no wait: left out. The mistyped arguments count as absent.
        assert_eq!(trace.threads.len(), 1);
        let thread = &trace.threads[0];
        assert_eq!(thread.waits.len(), 1);
        assert_eq!(thread.waits[0].events, 0);
        assert_eq!(thread.calls.len(), 2);
        assert_eq!((thread.calls[0].fd, thread.calls[0].result), (4, 64));
        assert_eq!((thread.calls[1].fd, thread.calls[1].result), (-1, 0));
        assert!(Trace::parse(b"{\"traceEvents\":[]}").is_err());
        assert!(Trace::parse(b"[1,2]").is_err());
    }
}

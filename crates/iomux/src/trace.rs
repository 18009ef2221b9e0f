//! Trace mode: a record of every loop turn — the wait (backend, timeout asked, time blocked,
//! descriptors handed to the kernel, events returned, why it woke) and each syscall the turn
//! then made on its connections, with durations — kept in a bounded ring and written as a
//! Chrome trace (the JSON trace-event format that Perfetto and `chrome://tracing` open).
//!
//! Switched on per selector ([`Selector::enable_trace`](crate::Selector::enable_trace),
//! [`EventLoop::enable_trace`](crate::EventLoop::enable_trace)), with syscall records switched
//! on process-wide in the sys layer. Off, a selector pays one test of an `Option` per wait and
//! a socket call one relaxed load: the hot path is otherwise the same code.
use std::collections::VecDeque;
use std::io::{self, Write};
use std::time::{Duration, Instant};

use iomux_sys::trace::SyscallRecord;

use crate::backend_kind::BackendKind;

/// Why a wait returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Wake {
    /// A registered descriptor was ready.
    Fd,
    /// The selector's [`Waker`](crate::Waker) was woken (another thread, a shutdown request).
    Waker,
    /// The timeout passed, for a timer the loop had due.
    Timer,
    /// The timeout passed.
    Timeout,
}

impl Wake {
    /// As a trace shows it.
    pub fn name(self) -> &'static str {
        match self {
            Wake::Fd => "fd",
            Wake::Waker => "waker",
            Wake::Timer => "timer",
            Wake::Timeout => "timeout",
        }
    }
}

/// One wait call, as the selector saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wait {
    /// When the wait began.
    pub start: Instant,
    /// How long it blocked (all its retries).
    pub blocked: Duration,
    /// The timeout it was given (`None`: block).
    pub timeout: Option<Duration>,
    /// Descriptors handed to the kernel (select and poll pass the whole set).
    pub fds_passed: u64,
    /// Events it returned.
    pub events: usize,
    /// Why it returned.
    pub woke: Wake,
    /// Signals that interrupted it (`EINTR`, retried with the time left).
    pub interrupted: u32,
}

/// A loop turn: its wait, then the syscalls made before the next wait.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Turn {
    /// The wait that began the turn.
    pub wait: Wait,
    /// The syscalls that followed it.
    pub syscalls: Vec<SyscallRecord>,
}

/// The last turns of one selector, at most `capacity` records (waits and syscalls) in all:
/// the oldest turns are dropped first.
#[derive(Clone, Debug)]
pub struct Tracer {
    backend: BackendKind,
    turns: VecDeque<Turn>,
    records: usize,
    capacity: usize,
    dropped_turns: u64,
}

impl Tracer {
    /// An empty trace of a selector on `backend`, keeping at most `capacity` records.
    pub fn new(backend: BackendKind, capacity: usize) -> Tracer {
        Tracer {
            backend,
            turns: VecDeque::new(),
            records: 0,
            capacity: capacity.max(1),
            dropped_turns: 0,
        }
    }

    /// The backend the traced selector waits with.
    pub fn backend(&self) -> BackendKind {
        self.backend
    }

    /// The turns kept, oldest first.
    pub fn turns(&self) -> impl Iterator<Item = &Turn> {
        self.turns.iter()
    }

    /// Turns dropped to keep within the capacity.
    pub fn dropped_turns(&self) -> u64 {
        self.dropped_turns
    }

    /// Ends the running turn: this thread's syscall records since its wait become its own.
    /// (A [`Selector`](crate::Selector) calls it; a loop that waits without one, as iomux's
    /// completion model does on its ring, calls it before each wait.)
    pub fn end_turn(&mut self) {
        let Some(turn) = self.turns.back_mut() else {
            return;
        };
        let before = turn.syscalls.len();
        iomux_sys::trace::take(&mut turn.syscalls);
        self.records += turn.syscalls.len() - before;
        self.trim();
    }

    /// Begins a turn with its wait (see [`end_turn`](Self::end_turn)).
    pub fn begin_turn(&mut self, wait: Wait) {
        // Records made before the first traced wait (or between two loops) belong to no turn.
        if self.turns.is_empty() {
            iomux_sys::trace::take(&mut Vec::new());
        }
        self.turns.push_back(Turn {
            wait,
            syscalls: Vec::new(),
        });
        self.records += 1;
        self.trim();
    }

    /// Marks the running turn's wait as ended for a timer (the loop knows; the selector only
    /// saw its timeout pass).
    pub(crate) fn woke_for_timer(&mut self) {
        if let Some(turn) = self.turns.back_mut() {
            if turn.wait.woke == Wake::Timeout {
                turn.wait.woke = Wake::Timer;
            }
        }
    }

    fn trim(&mut self) {
        while self.records > self.capacity && self.turns.len() > 1 {
            let old = self.turns.pop_front().expect("more than one turn");
            self.records -= 1 + old.syscalls.len();
            self.dropped_turns += 1;
        }
    }

    /// Writes the turns as trace events (Chrome's JSON trace-event format), as thread `tid` of
    /// process 1, times in microseconds since `epoch`: one complete event (`"ph":"X"`) per
    /// wait and per syscall, comma-separated, with `first` saying whether one has been written
    /// before (so several tracers can share one `traceEvents` array).
    pub fn write_events(
        &self,
        out: &mut impl Write,
        epoch: Instant,
        tid: usize,
        first: &mut bool,
    ) -> io::Result<()> {
        let us = |t: Instant| t.saturating_duration_since(epoch).as_secs_f64() * 1e6;
        let mut sep = |out: &mut dyn Write| -> io::Result<()> {
            if !std::mem::take(first) {
                out.write_all(b",\n")?;
            }
            Ok(())
        };
        for turn in &self.turns {
            let w = &turn.wait;
            sep(out)?;
            write!(
                out,
                r#"{{"name":"wait","cat":"wait","ph":"X","pid":1,"tid":{tid},"ts":{:.3},"dur":{:.3},"args":{{"backend":"{}","timeout_us":{},"fds_passed":{},"events":{},"woke":"{}","interrupted":{}}}}}"#,
                us(w.start),
                w.blocked.as_secs_f64() * 1e6,
                self.backend.name(),
                w.timeout.map_or("null".to_owned(), |t| format!(
                    "{:.3}",
                    t.as_secs_f64() * 1e6
                )),
                w.fds_passed,
                w.events,
                w.woke.name(),
                w.interrupted,
            )?;
            for call in &turn.syscalls {
                sep(out)?;
                write!(
                    out,
                    r#"{{"name":"{}","cat":"{}","ph":"X","pid":1,"tid":{tid},"ts":{:.3},"dur":{:.3},"args":{{"fd":{},"result":{}}}}}"#,
                    call.op.name(),
                    call.op.category(),
                    us(call.start),
                    call.duration.as_secs_f64() * 1e6,
                    call.fd,
                    call.result,
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait(start: Instant, events: usize) -> Wait {
        Wait {
            start,
            blocked: Duration::from_micros(5),
            timeout: None,
            fds_passed: 0,
            events,
            woke: Wake::Fd,
            interrupted: 0,
        }
    }

    #[test]
    fn the_ring_keeps_the_newest_turns_within_its_capacity() {
        let now = Instant::now();
        let mut t = Tracer::new(BackendKind::Epoll, 3);
        for i in 0..5 {
            t.begin_turn(wait(now, i));
            t.end_turn();
        }
        let kept: Vec<usize> = t.turns().map(|turn| turn.wait.events).collect();
        assert_eq!(kept, [2, 3, 4]);
        assert_eq!(t.dropped_turns(), 2);
    }

    #[test]
    fn events_are_json_with_one_object_per_wait_and_syscall() {
        let now = Instant::now();
        let mut t = Tracer::new(BackendKind::Poll, 100);
        t.begin_turn(wait(now, 1));
        t.end_turn();
        t.woke_for_timer();
        let mut out = Vec::new();
        let mut first = true;
        t.write_events(&mut out, now, 3, &mut first).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with(r#"{"name":"wait","cat":"wait","ph":"X","pid":1,"tid":3,"ts":0.000,"dur":5.000,"args":{"backend":"poll","timeout_us":null"#), "{text}");
        assert!(!first);
    }
}

//! [`Summary`]: what `iomux serve` prints when it stops (one line of text, or with
//! `--summary json` one JSON object, which the lab reads back as this type).
use serde::{Deserialize, Serialize};

use crate::Model;

/// What `iomux serve` prints when it stops: as one line of text, or as one JSON object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub model: String,
    /// The selector backend the model waited with (none for blocking and nonblocking).
    pub backend: Option<String>,
    pub threads: usize,
    pub accepted: u64,
    pub refused: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub loop_iterations: u64,
    /// Multishot receives ended by an empty provided-buffer ring (`uring` model; 0 elsewhere).
    pub out_of_buffers: u64,
    /// Waits that found the completion queue overflowed (`uring` model; 0 elsewhere).
    pub cq_overflows: u64,
    /// CPU seconds (user + system) the whole process used while serving.
    pub cpu_s: f64,
    pub selector: Option<SelectorSummary>,
}

/// The selector's cost counters, summed over the server's loops.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SelectorSummary {
    pub wait_calls: u64,
    pub events_returned: u64,
    pub fds_passed: u64,
    pub ctl_calls: u64,
    /// io_uring: entries submitted, completions taken, `io_uring_enter` calls.
    pub submissions: u64,
    pub completions: u64,
    pub enter_calls: u64,
    pub wait_s: f64,
    pub fds_per_wait: f64,
    pub events_per_wait: f64,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "served {} connections ({} refused); {} bytes in, {} bytes out",
            self.accepted, self.refused, self.bytes_in, self.bytes_out
        )?;
        if self.model == Model::Uring.name() {
            if let Some(sel) = &self.selector {
                write!(
                    f,
                    "; io_uring: {} turns, {} io_uring_enter calls, {} submissions, {} completions, {} receives out of buffers, {} completion queue overflows",
                    sel.wait_calls, sel.enter_calls, sel.submissions, sel.completions, self.out_of_buffers, self.cq_overflows
                )?;
            }
            return Ok(());
        }
        if let Some(sel) = &self.selector {
            write!(
                f,
                "; selector: {} waits, {:.1} fds passed per wait, {:.1} events per wait, {} ctl calls, {:.3} s waiting",
                sel.wait_calls, sel.fds_per_wait, sel.events_per_wait, sel.ctl_calls, sel.wait_s
            )?;
        }
        if self.model == Model::Nonblocking.name() {
            write!(
                f,
                "; {} loop iterations, {:.2} CPU seconds burnt",
                self.loop_iterations, self.cpu_s
            )?;
        }
        Ok(())
    }
}

impl SelectorSummary {
    /// The summary of a selector's (or a ring's) counters, summed over a server's loops.
    pub fn of(stats: &iomux::Stats) -> SelectorSummary {
        let per_wait = |n: u64| n as f64 / stats.wait_calls.max(1) as f64;
        SelectorSummary {
            wait_calls: stats.wait_calls,
            events_returned: stats.events_returned,
            fds_passed: stats.fds_passed,
            ctl_calls: stats.ctl_calls,
            submissions: stats.submissions,
            completions: stats.completions,
            enter_calls: stats.enter_calls,
            wait_s: stats.wait_time.as_secs_f64(),
            fds_per_wait: per_wait(stats.fds_passed),
            events_per_wait: per_wait(stats.events_returned),
        }
    }
}

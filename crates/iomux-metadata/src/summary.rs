//! [`Summary`]: what `iomux serve` prints when it stops (one line of text, or with
//! `--summary json` one JSON object, which the lab reads back as this type).
use serde::{Deserialize, Serialize};

use crate::model::Model;

/// What `iomux serve` prints when it stops: as one line of text, or as one JSON object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The I/O model's name, as `--model` takes it.
    pub model: String,
    /// The selector backend the model waited with (none for blocking and nonblocking).
    pub backend: Option<String>,
    /// Server threads (`--threads`).
    pub threads: usize,
    /// Connections accepted.
    pub accepted: u64,
    /// Connections accepted and then closed unserved (refused by the selector, or no thread).
    pub refused: u64,
    /// Bytes read from clients.
    pub bytes_in: u64,
    /// Bytes written to clients.
    pub bytes_out: u64,
    /// Loop turns, summed over the threads (0 for the blocking and callbacks models).
    pub loop_iterations: u64,
    /// Multishot receives ended by an empty provided-buffer ring (`uring` model; 0 elsewhere).
    pub out_of_buffers: u64,
    /// Waits that found the completion queue overflowed (`uring` model; 0 elsewhere).
    pub cq_overflows: u64,
    /// Echoes sent straight from the receive buffer they landed in (`uring` model; 0
    /// elsewhere, and in the summaries of builds older than the field).
    #[serde(default)]
    pub sent_in_place: u64,
    /// CPU seconds (user + system) the whole process used while serving.
    pub cpu_s: f64,
    /// The selector's (or the ring's) counters; none when the model made no wait calls.
    pub selector: Option<SelectorSummary>,
}

/// The selector's cost counters (or the ring's), summed over the server's loops: the library's
/// own [`iomux::Stats`], recorded as they are, and two ratios the tables print.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SelectorSummary {
    /// The counters, each under its own name (the wait time as `wait_s`).
    #[serde(flatten)]
    pub counters: iomux::Stats,
    /// Descriptors handed to the kernel per wait.
    pub fds_per_wait: f64,
    /// Events returned per wait.
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
            if let Some(SelectorSummary { counters: sel, .. }) = &self.selector {
                write!(
                    f,
                    "; io_uring: {} turns, {} io_uring_enter calls, {} submissions, {} completions, {} receives out of buffers, {} completion queue overflows, {} echoes sent from their receive buffers",
                    sel.wait_calls, sel.enter_calls, sel.submissions, sel.completions, self.out_of_buffers, self.cq_overflows, self.sent_in_place
                )?;
            }
            return Ok(());
        }
        if let Some(sel) = &self.selector {
            write!(
                f,
                "; selector: {} waits, {:.1} fds passed per wait, {:.1} events per wait, {} ctl calls, {:.3} s waiting",
                sel.counters.wait_calls, sel.fds_per_wait, sel.events_per_wait, sel.counters.ctl_calls, sel.counters.wait_time.as_secs_f64()
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
            counters: *stats,
            fds_per_wait: per_wait(stats.fds_passed),
            events_per_wait: per_wait(stats.events_returned),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `iomux serve --summary json` prints is what the lab reads back, field for field.
    #[test]
    fn a_summary_reads_back_as_written() {
        let line = r#"{"model":"epoll","backend":"epoll","threads":2,"accepted":100,"refused":0,"bytes_in":6400,"bytes_out":6400,"loop_iterations":0,"out_of_buffers":0,"cq_overflows":0,"sent_in_place":0,"cpu_s":0.25,"selector":{"wait_calls":10,"events_returned":95,"fds_passed":0,"ctl_calls":200,"submissions":0,"completions":0,"enter_calls":0,"wait_s":0.5,"fds_per_wait":0.0,"events_per_wait":9.5}}"#;
        let summary: Summary = serde_json::from_str(line).unwrap();
        assert_eq!(serde_json::to_string(&summary).unwrap(), line);
        assert_eq!(summary.selector.as_ref().unwrap().events_per_wait, 9.5);
        let older = line.replace(r#""sent_in_place":0,"#, "");
        assert_eq!(
            serde_json::from_str::<Summary>(&older).unwrap(),
            summary,
            "an older build's summary (no sent_in_place) still reads back"
        );
        assert!(
            summary.to_string().contains("9.5 events per wait"),
            "{summary}"
        );
        let stats = iomux::Stats {
            wait_calls: 4,
            events_returned: 10,
            fds_passed: 8,
            ..Default::default()
        };
        let of = SelectorSummary::of(&stats);
        assert_eq!((of.events_per_wait, of.fds_per_wait), (2.5, 2.0));
    }
}

//! Where a long run is: a progress line on a terminal (points recorded of those expected, the
//! point just measured, time elapsed and an estimate of what is left), and each finished
//! point's headline figure printed above it as it lands, so that a run cut short still told
//! its user something. Nothing is drawn when standard error is not a terminal (a pipe, a log,
//! CI): the results are the run's output, and they go to standard output as before.
use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use iomux_store::record::Point;

/// A lab run's progress line (a no-op when standard error is not a terminal).
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A progress line on standard error, if it is a terminal.
    pub fn on_terminal() -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress::hidden();
        }
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {pos}/{len} points, about {eta} left: {msg}",
            )
            .expect("a valid template")
            .progress_chars("=> "),
        );
        bar.enable_steady_tick(Duration::from_millis(250));
        Progress { bar: Some(bar) }
    }

    /// No progress line.
    pub fn hidden() -> Progress {
        Progress { bar: None }
    }

    /// `points` more points are expected (an experiment says so as it starts).
    pub fn expect(&self, points: u64) {
        if let Some(bar) = &self.bar {
            bar.inc_length(points);
        }
    }

    /// What is being measured now.
    pub fn measuring(&self, what: String) {
        if let Some(bar) = &self.bar {
            bar.set_message(what);
        }
    }

    /// A point was recorded: one step, and a median's headline figure above the line.
    pub fn recorded(&self, point: &Point, headline: &str) {
        let Some(bar) = &self.bar else { return };
        if bar.length().is_some_and(|len| bar.position() >= len) {
            bar.inc_length(1);
        }
        bar.inc(1);
        if point.repeat.is_none() {
            if let Some(Some(value)) = point.metrics.get(headline) {
                let params: Vec<String> = point
                    .params
                    .iter()
                    .map(|(k, v)| {
                        format!("{k}={}", v.as_str().map_or(v.to_string(), str::to_owned))
                    })
                    .collect();
                bar.println(format!(
                    "  {} {} [{}]: {headline} {}",
                    point.experiment,
                    point.subject,
                    params.join(","),
                    crate::table::cell(Some(*value), 2)
                ));
            }
        }
    }

    /// Runs `f` (which prints) with the line out of the way.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.bar {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }

    /// The run is over: the line is cleared.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

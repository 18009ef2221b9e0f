//! The interleaved mode (`--against OLD_IOMUX`): the mode that answers "did my change help?".
//!
//! Two runs minutes apart see a machine that drifted (10–20% here, for every server at once);
//! two windows seconds apart see nearly the same one. So every server is measured in both arms
//! — arm A on the older binary, arm B on this one — pair by pair: each pair starts fresh server
//! processes for both arms and measures the two back to back, in ABBA order (A first in even
//! pairs, B first in odd ones, so neither arm always gets the warmer moment). The peers (tokio,
//! mio, ...) are the same program in both arms: they are the controls, and if one of them
//! moves, the arms did not see the same machine. Each pair is a repeat of its point with an
//! `arm` parameter; `iomux runs compare RUN` judges them by a paired test
//! (`iomux_store::compare::compare_arms`), and so does the run's own report.
use std::cell::Cell;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use iomux_load as load;
use iomux_store::compare::{compare_arm_points, median, Noise, Verdict, ARM_PARAM};
use iomux_store::metric;
use iomux_store::record::Point;
use serde::{Deserialize, Serialize};

use crate::lab::Lab;
use crate::process::{ServerProc, ServerSpec};
use crate::report::Report;
use crate::runner::measure_server;
use crate::table::aligned_table;

/// The arms' names, as their points record them: A is the `--against` binary, B this one.
pub const ARMS: [&str; 2] = ["A", "B"];

/// A server in both arms: its command in arm A and in arm B.
pub struct Armed {
    /// The subject's name.
    pub name: String,
    /// Arm A's command (the older binary; for a peer, the same program as B).
    pub a: ServerSpec,
    /// Arm B's command.
    pub b: ServerSpec,
}

impl Armed {
    /// `spec` in both arms: an `iomux` command runs on `against` in arm A; any other program
    /// (a peer) is the same in both.
    pub fn new(spec: ServerSpec, against: &Path) -> io::Result<Armed> {
        let this = std::env::current_exe()?;
        let mut a = spec.clone();
        if spec.program == this {
            a.program = against.to_path_buf();
        }
        Ok(Armed {
            name: spec.name.clone(),
            a,
            b: spec,
        })
    }

    /// The command of arm `arm` (0: A, 1: B).
    pub fn arm(&self, arm: usize) -> &ServerSpec {
        [&self.a, &self.b][arm]
    }
}

/// Checks that `against` is an `iomux` binary that offers every model in `models`; one clear
/// line when not.
pub fn check_against(against: &Path, models: &[&str]) -> io::Result<PathBuf> {
    let output = Command::new(against)
        .args(["serve", "--list-models"])
        .output()
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("--against {}: cannot run it: {e}", against.display()),
            )
        })?;
    if !output.status.success() {
        return Err(io::Error::other(format!(
            "--against {}: `serve --list-models` failed: is it an iomux binary?",
            against.display()
        )));
    }
    let offered = String::from_utf8_lossy(&output.stdout);
    let offered: Vec<&str> = offered.lines().map(str::trim).collect();
    if let Some(missing) = models.iter().find(|m| !offered.contains(m)) {
        return Err(io::Error::other(format!(
            "--against {}: it has no model {missing} (it offers {})",
            against.display(),
            offered.join(", ")
        )));
    }
    std::fs::canonicalize(against)
}

/// The flags of the interleaved mode, shared by the experiments that have it (their recorded
/// parameters keep the names `against` and `pairs`).
#[derive(clap::Args, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArmsArgs {
    /// Interleaved mode: measure every server in two arms, A on this older `iomux` binary and
    /// B on this build, pair by pair with fresh processes (ABBA order), the peers in both as
    /// controls; the verdicts come from a paired test (`iomux runs compare RUN`). The
    /// counting and trace passes are not run in this mode.
    #[arg(long, value_name = "OLD_IOMUX")]
    #[serde(default)]
    pub against: Option<PathBuf>,
    /// With --against: pairs per point.
    #[arg(long, default_value_t = DEFAULT_PAIRS, value_name = "N")]
    #[serde(default = "default_pairs")]
    pub pairs: usize,
}

/// The pairs of an interleaved run: enough for a paired test to reach p = 0.005 on a
/// consistent change (it cannot with fewer than about 10).
pub const DEFAULT_PAIRS: usize = 40;

fn default_pairs() -> usize {
    DEFAULT_PAIRS
}

/// What an experiment's interleaved mode measures: its subjects, each startable in either
/// arm, and one window of a started server.
pub trait Arms {
    /// A server started for one arm of one pair.
    type Server;
    /// The subjects' names, in the experiment's order.
    fn names(&self) -> Vec<String>;
    /// Starts subject `subject` in arm `arm` (0: A, 1: B).
    fn start(&self, lab: &Lab, subject: usize, arm: usize) -> io::Result<Self::Server>;
    /// Measures one window of `server`: `point` with its figures.
    fn measure(&self, lab: &Lab, server: &Self::Server, point: Point) -> io::Result<Point>;
    /// Stops `server`.
    fn stop(&self, server: Self::Server);
    /// Given the first pair's windows, whether the point must start over with longer ones
    /// (a closed loop whose window held too few round trips: [`crate::window`]); the first
    /// pair is then measured again and its short windows are dropped.
    fn lengthen(&self, _first_pair: &[Point]) -> bool {
        false
    }
}

/// Measures every subject of `arms` in both arms at one point, `pairs` times; records each
/// pair's two windows as repeats (with the `arm` parameter) and each arm's medians. `point`
/// makes a point of a subject at this point's parameters.
pub fn measure_point<A: Arms>(
    lab: &mut Lab,
    arms: &A,
    pairs: usize,
    point: &dyn Fn(&str) -> Point,
) -> io::Result<()> {
    let names = arms.names();
    let mut windows: Vec<[Vec<Point>; 2]> =
        names.iter().map(|_| [Vec::new(), Vec::new()]).collect();
    let mut pair = 0;
    while pair < pairs {
        // Fresh processes for every pair: a server's state (its buffers, its allocator's
        // caches, a page-cache accident) is not carried from one pair to the next.
        let mut started = Vec::with_capacity(names.len());
        for subject in 0..names.len() {
            let a = arms.start(lab, subject, 0);
            let b = a.and_then(|a| Ok([a, arms.start(lab, subject, 1)?]));
            match b {
                Ok(both) => started.push(both),
                Err(e) => {
                    for [a, b] in started {
                        arms.stop(a);
                        arms.stop(b);
                    }
                    return Err(e);
                }
            }
        }
        let mut outcome = Ok(());
        let mut measured = Vec::with_capacity(2 * names.len());
        'pair: for k in 0..names.len() {
            let si = (k + pair) % names.len();
            let order = if pair % 2 == 0 { [0, 1] } else { [1, 0] };
            for arm in order {
                let here = point(&names[si]).param(ARM_PARAM, ARMS[arm]);
                match arms.measure(lab, &started[si][arm], here) {
                    Ok(window) => measured.push((si, arm, window)),
                    Err(e) => {
                        outcome = Err(e);
                        break 'pair;
                    }
                }
            }
        }
        for [a, b] in started {
            arms.stop(a);
            arms.stop(b);
        }
        if pair == 0 && outcome.is_ok() {
            let first: Vec<Point> = measured.iter().map(|(_, _, w)| w.clone()).collect();
            if arms.lengthen(&first) {
                continue;
            }
        }
        for (si, arm, window) in measured {
            lab.point(window.clone().repeat(pair))?;
            windows[si][arm].push(window);
        }
        outcome?;
        pair += 1;
    }
    for (si, name) in names.iter().enumerate() {
        for arm in 0..2 {
            let base = point(name).param(ARM_PARAM, ARMS[arm]);
            lab.point(medians(base, &windows[si][arm]))?;
        }
    }
    Ok(())
}

/// `base` with each metric's median over `windows`; failure counts are summed instead.
fn medians(base: Point, windows: &[Point]) -> Point {
    let mut names: Vec<&str> = Vec::new();
    for w in windows {
        for name in w.metrics.keys() {
            if !names.contains(&name.as_str()) {
                names.push(name);
            }
        }
    }
    names.into_iter().fold(base, |point, name| {
        let values: Vec<f64> = windows.iter().filter_map(|w| w.get(name)).collect();
        let value = if values.is_empty() {
            None
        } else if metric::info(name).kind == metric::Kind::Failures {
            Some(values.iter().sum())
        } else {
            Some(median(values))
        };
        point.metric(name, value)
    })
}

/// The interleaved mode of `bench echo`: servers started from their commands, measured by the
/// lab's load generator.
pub struct EchoArms<'a> {
    /// Each server in both arms.
    pub servers: &'a [Armed],
    /// The load for a server's address, measured over a window of the given length.
    pub load_for: &'a dyn Fn(std::net::SocketAddr, Duration) -> load::Config,
    /// The window of this point's pairs (recorded as `window_s`).
    pub window: Cell<Duration>,
    /// Whether a window too short for the slowest server's round trips is lengthened (a
    /// closed loop, not in a `--quick` run).
    pub lengthens: bool,
}

impl Arms for EchoArms<'_> {
    type Server = ServerProc;

    fn names(&self) -> Vec<String> {
        self.servers.iter().map(|s| s.name.clone()).collect()
    }

    fn start(&self, lab: &Lab, subject: usize, arm: usize) -> io::Result<ServerProc> {
        self.servers[subject].arm(arm).start(&lab.pinning)
    }

    fn measure(&self, _: &Lab, server: &ServerProc, point: Point) -> io::Result<Point> {
        let window = self.window.get();
        let measured = measure_server(server, &(self.load_for)(server.addr, window), 1)?;
        Ok(measured
            .into_point(point)
            .metric("window_s", window.as_secs_f64()))
    }

    fn stop(&self, server: ServerProc) {
        drop(server.stop());
    }

    fn lengthen(&self, first_pair: &[Point]) -> bool {
        if !self.lengthens {
            return false;
        }
        let slowest = first_pair
            .iter()
            .filter_map(|w| w.get("p50_us"))
            .fold(f64::NAN, f64::max);
        match crate::window::lengthened(slowest, self.window.get()) {
            Some(longer) => {
                self.window.set(longer);
                true
            }
            None => false,
        }
    }
}

/// The verdicts of a run's arms, as a table: what changed from A to B, decided by a paired
/// test per point and metric, with the peers as controls.
pub fn render(report: &mut Report, points: &[Point], subjects: &iomux_store::compare::Subjects) {
    let comparison = compare_arm_points(points, subjects, Noise::Count);
    report.say(&format!(
        "\nB (this build) against A (--against), pair by pair: {} regressions, {} improvements, {} inconclusive, {} noise ({} rows judged; chance alone: about {:.2} decisive)",
        comparison.count(Verdict::Regression),
        comparison.count(Verdict::Improvement),
        comparison.count(Verdict::Inconclusive),
        comparison.count(Verdict::Noise),
        comparison.judged,
        comparison.chance
    ));
    if !comparison.controls_moved.is_empty() {
        report.say(&format!(
            "controls moved ({}): the arms did not see the same machine; no timed verdict stands",
            comparison.controls_moved.join("; ")
        ));
    }
    let rows: Vec<Vec<String>> = comparison
        .rows
        .iter()
        .map(|r| {
            vec![
                r.verdict.name().to_owned(),
                format!("{:.3}x", r.ratio),
                r.point.to_string(),
                r.metric.to_string(),
                crate::table::cell(Some(r.a), 2),
                crate::table::cell(Some(r.b), 2),
                r.rule.to_string(),
            ]
        })
        .collect();
    if !rows.is_empty() {
        report.say(&aligned_table(
            &["verdict", "B/A", "point", "metric", "A", "B", "rule"],
            &rows,
            &[false, true, false, false, true, true, false],
        ));
    }
}

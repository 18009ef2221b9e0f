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
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use iomux_load as load;
use iomux_store::compare::{compare_arm_points, Noise, Verdict, ARM_PARAM};
use iomux_store::record::Point;

use crate::lab::Lab;
use crate::process::ServerSpec;
use crate::report::Report;
use crate::runner::{measure_server, merge, Measured};
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

/// Measures `servers` in both arms at one point, `pairs` times; records each pair's two
/// windows as repeats (with the `arm` parameter) and each arm's medians. `point` makes a point
/// of a subject at this point's parameters; `load_for` the load for a server's address.
pub fn measure_point(
    lab: &mut Lab,
    servers: &[Armed],
    pairs: usize,
    point: &dyn Fn(&str) -> Point,
    load_for: &dyn Fn(std::net::SocketAddr) -> load::Config,
) -> io::Result<()> {
    let mut runs: Vec<[Vec<Measured>; 2]> =
        servers.iter().map(|_| [Vec::new(), Vec::new()]).collect();
    for pair in 0..pairs {
        // Fresh processes for every pair: a server's state (its buffers, its allocator's
        // caches, a page-cache accident) is not carried from one pair to the next.
        let started = servers
            .iter()
            .map(|s| Ok([s.a.start(&lab.pinning)?, s.b.start(&lab.pinning)?]))
            .collect::<io::Result<Vec<_>>>()?;
        for k in 0..servers.len() {
            let si = (k + pair) % servers.len();
            let order = if pair % 2 == 0 { [0, 1] } else { [1, 0] };
            for arm in order {
                let server = &started[si][arm];
                let measured = measure_server(server, &load_for(server.addr), 1)?;
                lab.point(
                    measured.clone().into_point(
                        point(&servers[si].name)
                            .param(ARM_PARAM, ARMS[arm])
                            .repeat(pair),
                    ),
                )?;
                runs[si][arm].push(measured);
            }
        }
        for [a, b] in started {
            drop(a.stop());
            drop(b.stop());
        }
    }
    for (si, server) in servers.iter().enumerate() {
        for arm in 0..2 {
            lab.point(
                merge(&runs[si][arm]).into_point(point(&server.name).param(ARM_PARAM, ARMS[arm])),
            )?;
        }
    }
    Ok(())
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

//! Calibration: how far each timing moves between two runs of the same code on this testbed,
//! learned from runs of one clean commit with the same settings, so that `runs compare` judges
//! a change against this machine's noise rather than a default.
//!
//! Every pair of such runs (not only consecutive ones: a machine drifts over the whole span)
//! gives each point's change relative to its run's peers (raw where the point has none); with
//! at least [`CALIBRATION_MIN_SAMPLES`] changes, the band is their 99th percentile (of
//! |ln B/A|) with a quarter more margin. Bands are learned after every recorded run of a clean
//! commit ([`learn_after`], and `iomux bench --calibrate K` runs K of them in a row), stored in
//! `iomux_calibrations` per testbed, experiment, settings and metric, and trusted for
//! [`MAX_AGE`] around the run being judged. A new testbed fingerprint (another kernel, CPU,
//! pinning) starts with none.
use std::collections::BTreeMap;

use super::{clean_commit, controls, samples, settings, Samples, Subjects};
use super::{stats, CALIBRATION_MIN_SAMPLES, HISTORY_RUNS};
use crate::fasthash::FastMap;
use crate::metric::{self, Kind};
use crate::record::{Calibration, Figures, Run};
use crate::store::{RunFilter, Store};

/// How long a stored band is trusted, before or after it was learned (30 days): a machine's
/// noise changes with what else runs on its host.
pub const MAX_AGE: f64 = 30.0 * 86_400.0;

/// The margin over the 99th percentile of the same-commit changes.
const MARGIN: f64 = 1.25;

/// The bands `runs` teach: per experiment, settings and timing metric, from every pair of runs
/// of one clean commit with the same settings (other runs are ignored). Only bands learned
/// from at least [`CALIBRATION_MIN_SAMPLES`] changes are returned.
pub fn learn(runs: &[&Figures], subjects: &Subjects, learned: f64) -> Vec<Calibration> {
    // Runs by (experiment, settings, commit); each run's samples indexed once.
    let indexed: Vec<Samples> = runs.iter().map(|r| samples(r)).collect();
    let mut groups: BTreeMap<(String, String, &str), Vec<usize>> = BTreeMap::new();
    for (i, run) in runs.iter().enumerate() {
        let Some(commit) = clean_commit(&run.run) else {
            continue;
        };
        for experiment in &run.run.experiments {
            let key = (
                experiment.experiment.clone(),
                settings(&run.run, &experiment.experiment),
                commit,
            );
            groups.entry(key).or_default().push(i);
        }
    }
    // |ln change| by (experiment, settings, metric); the runs and the newest commit behind
    // each (experiment, settings).
    let mut changes: BTreeMap<(String, String, String), Vec<f64>> = BTreeMap::new();
    let mut behind: BTreeMap<(String, String), (usize, f64, &str)> = BTreeMap::new();
    for ((experiment, settings, commit), members) in &groups {
        if members.len() < 2 {
            continue;
        }
        let peers = (subjects.peers)(experiment);
        for (x, &i) in members.iter().enumerate() {
            for &j in &members[x + 1..] {
                let (sa, sb) = (&indexed[i], &indexed[j]);
                for (text, own) in &sa.points {
                    if &*own.point.experiment != experiment {
                        continue;
                    }
                    let Some(other) = sb.points.get(text) else {
                        continue;
                    };
                    for (name, sample) in &own.metrics {
                        if metric::info(name).kind != Kind::Timing {
                            continue;
                        }
                        let (Some(va), Some(vb)) =
                            (sample.median, other.get(name).and_then(|s| s.median))
                        else {
                            continue;
                        };
                        if va <= 0.0 || vb <= 0.0 {
                            continue;
                        }
                        let controls = controls(sa, sb, own.point, peers, name);
                        let ratio = vb / va / stats::geomean(&controls).unwrap_or(1.0);
                        changes
                            .entry((experiment.clone(), settings.clone(), (*name).to_owned()))
                            .or_default()
                            .push(ratio.ln().abs());
                    }
                }
            }
        }
        let newest = members
            .iter()
            .map(|&i| runs[i].run.started)
            .fold(f64::MIN, f64::max);
        let entry = behind
            .entry((experiment.clone(), settings.clone()))
            .or_insert((0, f64::MIN, ""));
        entry.0 += members.len();
        if newest > entry.1 {
            (entry.1, entry.2) = (newest, commit);
        }
    }
    changes
        .into_iter()
        .filter(|(_, c)| c.len() >= CALIBRATION_MIN_SAMPLES)
        .map(|((experiment, settings, metric), mut c)| {
            c.sort_by(f64::total_cmp);
            let (runs, _, commit) = behind[&(experiment.clone(), settings.clone())];
            Calibration {
                experiment,
                settings,
                metric,
                band: (stats::quantile(&c, 0.99) * MARGIN).exp() - 1.0,
                samples: c.len(),
                runs,
                commit: commit.to_owned(),
                learned,
            }
        })
        .collect()
}

/// The bands that apply to run `b`: learned on its testbed (the caller's concern), with
/// `b`'s settings for their experiment, within [`MAX_AGE`] of its start; by (experiment,
/// metric), the first of `stored` (newest first) that fits.
pub(super) fn trusted(stored: &[Calibration], b: &Run) -> FastMap<(String, String), Calibration> {
    let mut out: FastMap<(String, String), Calibration> = FastMap::default();
    for band in stored {
        let fits = (b.started - band.learned).abs() <= MAX_AGE
            && band.settings == settings(b, &band.experiment)
            && band.band.is_finite();
        if fits {
            out.entry((band.experiment.clone(), band.metric.clone()))
                .or_insert_with(|| band.clone());
        }
    }
    out
}

/// After run `id` was recorded: when it is a finished, non-quick run of a clean commit, learns
/// the bands its testbed's runs of that commit teach (it and up to [`HISTORY_RUNS`] earlier
/// ones) and stores them. Returns the bands stored (none when there is not yet enough).
pub fn learn_after(
    store: &mut dyn Store,
    id: &str,
    subjects: &Subjects,
) -> crate::Result<Vec<Calibration>> {
    let run = store.load_figures(id)?;
    let Some(commit) = clean_commit(&run.run) else {
        return Ok(Vec::new());
    };
    if run.run.quick || run.run.finished.is_none() {
        return Ok(Vec::new());
    }
    let testbed = run.run.testbed.fingerprint();
    let same = store.runs(&RunFilter {
        testbed: Some(testbed),
        commit: Some(commit.to_owned()),
        limit: Some(HISTORY_RUNS + 1),
        ..RunFilter::default()
    })?;
    let mut others = Vec::new();
    for summary in same {
        let fits = summary.id != run.run.id
            && summary.git_commit == commit
            && !summary.quick
            && summary.finished.is_some()
            && summary.started <= run.run.started;
        if fits && others.len() < HISTORY_RUNS {
            others.push(store.load_figures(&summary.id)?);
        }
    }
    if others.is_empty() {
        return Ok(Vec::new());
    }
    let runs: Vec<&Figures> = others.iter().chain([&run]).collect();
    let learned = run.run.finished.unwrap_or(run.run.started);
    let bands: Vec<Calibration> = learn(&runs, subjects, learned)
        .into_iter()
        .filter(|b| b.settings == settings(&run.run, &b.experiment))
        .collect();
    if !bands.is_empty() {
        store.save_calibrations(&run.run.testbed, &bands)?;
    }
    Ok(bands)
}

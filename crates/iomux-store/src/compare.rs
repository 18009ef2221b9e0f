//! Verdicts on stored runs, as pure functions of their records: `runs compare A B` (each
//! point's ratio B/A, judged), `runs compare RUN` (the interleaved arms of one run, judged by a
//! paired test) and `runs history` (one point's metric over runs, with its change points).
//!
//! Five verdicts: **regression**, **improvement** and **changed** (decisive), **inconclusive**
//! (it moved at least the metric's minimum effect, but cannot be told from noise at this
//! precision: the rule says what would settle it), and **noise**. How a row is judged, by the
//! metric's kind ([`metric::Kind`]):
//! - correctness counts (errors, mismatches): any change is decisive;
//! - counts (syscalls, instructions per message): decisive past their minimum effect (3% and
//!   0.05 per message for syscalls, 2% for instructions) and past the history fence if there is
//!   one;
//! - headline timings between two runs: decisive only when the raw change **and** the change
//!   relative to the same run's peers (the geometric mean of the peers present in both runs:
//!   the machine's drift between the runs moves them too) both exceed the noise band, in the
//!   same direction. The band comes from a calibration (earlier runs of one clean commit with
//!   the same settings on this testbed), else from history (at least [`MIN_HISTORY`] earlier
//!   runs with the same settings: Q3 + 3·IQR of the point's run-to-run changes, as rustc-perf
//!   judges), else from a default wide enough for a noisy virtual machine
//!   ([`DEFAULT_TIMING_BAND`]). A change under the minimum effect is noise; between the two,
//!   inconclusive;
//! - latency percentiles are judged only between interleaved arms; the user/system split and
//!   descriptive figures are shown, never judged;
//! - a reference peer is judged only against the other peers.
//!
//! Between the interleaved arms of one run (`iomux bench ... --against OLD`: every server in
//! both arms, pair by pair, in ABBA order), a timing is decisive at a Wilcoxon signed-rank
//! p ≤ [`rule::ARMS_P`] and at least its minimum effect; the peers run in both arms as
//! controls, and a control that moves makes the run's timed verdicts inconclusive.
//!
//! Runs on different testbeds are never compared in absolute figures: each subject is taken
//! relative to its experiment's reference subject in the same run (e.g. epoll/tokio), and
//! those ratios are compared, with the default band.
use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use crate::fasthash::{map_with_capacity, FastMap};
use crate::metric::{self, Better, Kind, MetricInfo};
use crate::record::{Calibration, FigurePoint, Figures, Run, RunRecords};
use crate::store::Store;

mod arms;
pub mod calibration;
mod rule;
mod stats;
#[cfg(test)]
mod tests;

pub use arms::{compare_arm_points, compare_arms, ARM_PARAM};
pub use rule::{BandSource, Rule, ARMS_P};
pub use stats::{fence, geomean, median_interval, wilcoxon_p};

/// How many earlier runs of the same testbed [`compare_stored`] reads for the history rule and
/// the calibration.
pub const HISTORY_RUNS: usize = 30;

/// How many earlier runs with identical settings the history rule needs (rustc-perf draws on
/// 30 commits; fewer than 20 run-to-run changes give a fence that is itself noise).
pub const MIN_HISTORY: usize = 20;

/// The noise band of a timing between two runs when neither a calibration nor enough history
/// knows better. Measured here (2 vCPUs, virtual): the machine drifts up to 20% between runs
/// minutes apart for every server at once, and one server's run-to-run noise is about 9%; a
/// band of 60% keeps false decisive verdicts near 1% of rows even where no peer corrects the
/// drift. A real change of 20% is then inconclusive, never noise: the interleaved mode settles
/// it.
pub const DEFAULT_TIMING_BAND: f64 = 0.60;

/// How many same-commit changes a calibration needs before its band is trusted.
pub const CALIBRATION_MIN_SAMPLES: usize = 50;

/// The share of judged timing rows a band is meant to call decisive by chance alone.
pub const CHANCE_PER_ROW: f64 = 0.01;

/// What the lab tells a comparison about an experiment's subjects.
pub struct Subjects<'a> {
    /// The experiment's reference subject (the ratios its tables print).
    pub reference: &'a dyn Fn(&str) -> Option<&'static str>,
    /// The experiment's peers: subjects that are not iomux's code (tokio, mio, nginx, ...),
    /// whose movement between two runs is the machine's, not the change's.
    pub peers: &'a dyn Fn(&str) -> &'static [&'static str],
}

/// `runs compare A B` on a store: finds both runs (ids, prefixes or `latest~N`), reads them
/// and up to [`HISTORY_RUNS`] earlier runs of `b`'s testbed for the history rule and the
/// calibration, and judges.
pub fn compare_stored(
    store: &mut dyn Store,
    a: &str,
    b: &str,
    subjects: &Subjects,
    noise: Noise,
) -> crate::Result<(Run, Run, Comparison)> {
    let (a, b) = (store.find_run(a)?, store.find_run(b)?);
    // The two runs are read at once, on two connections (and two cores where there are), in
    // the lighter form comparisons need.
    let mut second = store.try_clone()?;
    let (a, b) = std::thread::scope(|scope| {
        let b = scope.spawn(move || second.load_figures(&b));
        let a = store.load_figures(&a);
        (a, b.join().expect("reading a run does not panic"))
    });
    let (a, b) = (a?, b?);
    let history = earlier_runs(store, &a.run, &b.run)?;
    let stored = store.calibrations(&b.run.testbed.fingerprint())?;
    let comparison = compare_figures(&a, &b, &history, &stored, subjects, noise);
    Ok((a.run, b.run, comparison))
}

/// `runs compare RUN`: the interleaved arms of one stored run, judged.
pub fn compare_arms_stored(
    store: &mut dyn Store,
    run: &str,
    subjects: &Subjects,
    noise: Noise,
) -> crate::Result<(Run, Comparison)> {
    let id = store.find_run(run)?;
    let figures = store.load_figures(&id)?;
    let comparison = compare_arms(&figures, subjects, noise);
    Ok((figures.run, comparison))
}

/// Earlier runs on `b`'s testbed of the experiments `b` measured (not `a` or `b`). None when
/// the testbeds differ: history is per testbed.
fn earlier_runs(store: &mut dyn Store, a: &Run, b: &Run) -> crate::Result<Vec<Figures>> {
    let testbed = b.testbed.fingerprint();
    if a.testbed.fingerprint() != testbed {
        return Ok(Vec::new());
    }
    let mut ids: Vec<String> = Vec::new();
    for experiment in &b.experiments {
        for id in store.earlier_runs(&testbed, &experiment.experiment, b.started, HISTORY_RUNS)? {
            if id != a.id && id != b.id && !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    ids.iter().map(|id| store.load_figures(id)).collect()
}

/// The measurement settings of `experiment` in `run`: its recorded parameters less the lists
/// that say which points were measured (servers, sizes, ...), and whether the run was a quick
/// one. Runs are history for each other only when these are identical (a 0.3 s window and a
/// 5 s one do not share a noise band).
pub fn settings(run: &Run, experiment: &str) -> String {
    let params = run
        .experiments
        .iter()
        .find(|e| e.experiment == experiment)
        .map(|e| match &e.params {
            serde_json::Value::Object(map) => map
                .iter()
                .filter(|(_, v)| !v.is_array())
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(","),
            other => other.to_string(),
        })
        .unwrap_or_default();
    format!("{params};quick={}", run.quick)
}

/// The commit a run was built from, when it is a clean one (not `-dirty`, not `+planted`, not
/// unknown): two runs of one clean commit measure the same code.
pub fn clean_commit(run: &Run) -> Option<&str> {
    let commit = run.git_commit.as_str();
    let modified = commit.ends_with("-dirty") || commit.contains('+');
    (!commit.is_empty() && commit != "unknown" && !modified).then_some(commit)
}

/// What to do with the rows judged noise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Noise {
    /// Keep them (`runs compare --all`, `--json`).
    Keep,
    /// Only count them ([`Comparison::noise_rows`]): the default table shows the count, and
    /// most rows of a large comparison are noise.
    Count,
}

/// A comparison's judgement of one metric at one point.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// A real change for the worse.
    Regression,
    /// A real change for the better.
    Improvement,
    /// Real, for a metric with no better direction.
    Changed,
    /// Moved at least the metric's minimum effect, but not distinguishable from noise at this
    /// precision (the rule says what would settle it).
    Inconclusive,
    /// No change worth a verdict.
    Noise,
}

impl Verdict {
    /// The verdict in lowercase, as printed and serialized.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Regression => "regression",
            Verdict::Improvement => "improvement",
            Verdict::Changed => "changed",
            Verdict::Inconclusive => "inconclusive",
            Verdict::Noise => "noise",
        }
    }

    /// Whether it calls a real change (regression, improvement or changed).
    pub fn is_decisive(self) -> bool {
        matches!(
            self,
            Verdict::Regression | Verdict::Improvement | Verdict::Changed
        )
    }
}

/// One metric at one point in both runs.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// The point's key, as text ([`PointKey`](crate::record::PointKey)'s `Display`).
    pub point: Arc<str>,
    /// The point's experiment.
    pub experiment: Arc<str>,
    /// The point's subject.
    pub subject: Arc<str>,
    /// The metric's name.
    pub metric: Arc<str>,
    /// Run A's median (in [`Mode::Relative`], its ratio to the reference subject's; between
    /// arms, arm A's).
    pub a: f64,
    /// Run B's median (in [`Mode::Relative`], its ratio to the reference subject's; between
    /// arms, arm B's).
    pub b: f64,
    /// `b / a` (infinite when `a` is zero and `b` is not; between arms, the median of the
    /// pairs' ratios).
    pub ratio: f64,
    /// How the change from A to B was judged.
    pub verdict: Verdict,
    /// Which rule decided (printed and serialized in words).
    pub rule: Rule,
}

/// How figures were compared.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "mode", rename_all = "lowercase")]
pub enum Mode {
    /// Same testbed: the figures themselves.
    Absolute,
    /// Different testbeds: each subject over its experiment's reference subject.
    Relative {
        /// Each experiment's reference subject, by experiment name.
        references: BTreeMap<String, String>,
    },
    /// The interleaved arms of one run (A: the `--against` binary, B: this one).
    Arms,
}

/// `runs compare A B` (or the arms of one run).
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    /// Run A's id: the baseline (between arms: the run's id).
    pub a: String,
    /// Run B's id: the run judged against A (between arms: the run's id).
    pub b: String,
    /// Whether the figures themselves, ratios to reference subjects, or arms were compared.
    pub mode: Mode,
    /// Regressions first (largest first), then improvements, changes, inconclusive rows, noise
    /// (unless counted only: [`Noise::Count`]).
    pub rows: Vec<Row>,
    /// Rows judged noise and left out of `rows` ([`Noise::Count`]).
    pub noise_rows: usize,
    /// Points (key text) measured in A but not in B, sorted.
    pub only_in_a: Vec<String>,
    /// Points (key text) measured in B but not in A, sorted.
    pub only_in_b: Vec<String>,
    /// How many earlier runs with the same settings the history rule could draw on.
    pub history_runs: usize,
    /// Rows that were judged (not shown-only rows), and of those, how many decisive verdicts
    /// chance alone would give at these bands (about [`CHANCE_PER_ROW`] of each judged timing
    /// row; counts and correctness counts do not drift).
    pub judged: usize,
    /// See [`judged`](Self::judged).
    pub chance: f64,
    /// Both runs are the same clean commit: an A/A comparison, where every decisive verdict
    /// is a false one.
    pub same_commit: Option<String>,
    /// Controls (peers run in both arms) that moved decisively: the run's timed verdicts were
    /// made inconclusive.
    pub controls_moved: Vec<String>,
}

impl Comparison {
    /// How many rows got `verdict`.
    pub fn count(&self, verdict: Verdict) -> usize {
        let dropped = if verdict == Verdict::Noise {
            self.noise_rows
        } else {
            0
        };
        dropped + self.rows.iter().filter(|r| r.verdict == verdict).count()
    }

    /// How many rows are decisive (regressions, improvements, changes).
    pub fn decisive(&self) -> usize {
        self.rows.iter().filter(|r| r.verdict.is_decisive()).count()
    }
}

/// One metric of one point in one run: its median and its repeats (by repeat index).
#[derive(Clone, Debug, Default)]
struct Sample {
    median: Option<f64>,
    repeats: Vec<(usize, f64)>,
}

/// One point of a run: the point (its experiment, subject, parameters) and its metrics.
struct PointSamples<'a> {
    point: &'a FigurePoint,
    metrics: Vec<(&'a str, Sample)>,
}

impl<'a> PointSamples<'a> {
    fn metric(&mut self, name: &'a str) -> &mut Sample {
        match self.metrics.iter().position(|(n, _)| *n == name) {
            Some(i) => &mut self.metrics[i].1,
            None => {
                self.metrics.push((name, Sample::default()));
                &mut self.metrics.last_mut().expect("pushed").1
            }
        }
    }

    fn get(&self, name: &str) -> Option<&Sample> {
        self.metrics
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| s)
    }
}

/// A run's samples by point key, and the keys in the order the run measured them.
struct Samples<'a> {
    points: FastMap<Arc<str>, PointSamples<'a>>,
    order: Vec<Arc<str>>,
}

fn samples(figures: &Figures) -> Samples<'_> {
    let mut out = Samples {
        points: map_with_capacity(figures.points.len()),
        order: Vec::new(),
    };
    for point in &figures.points {
        let entry = match out.points.entry(point.key.clone()) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                out.order.push(point.key.clone());
                e.insert(PointSamples {
                    point,
                    metrics: Vec::with_capacity(point.values.len()),
                })
            }
        };
        for &(name, value) in &point.values {
            let Some(value) = value else { continue };
            let sample = entry.metric(&figures.names[name as usize]);
            match point.repeat {
                None => sample.median = Some(value),
                Some(r) => sample.repeats.push((r, value)),
            }
        }
    }
    // A run measured once records only its median; one with repeats but no median (cut
    // short) is judged on the median of what it has.
    for point in out.points.values_mut() {
        for (_, sample) in &mut point.metrics {
            if sample.median.is_none() && !sample.repeats.is_empty() {
                sample.median = Some(median(sample.repeats.iter().map(|r| r.1).collect()));
            }
        }
    }
    out
}

/// Each subject's samples over the reference subject's at the same parameters, repeat by
/// repeat. Points whose experiment has no reference, or whose reference is missing, drop out.
fn relative<'a>(
    samples: &Samples<'a>,
    reference: &dyn Fn(&str) -> Option<&'static str>,
) -> Samples<'a> {
    let mut out = Samples {
        points: FastMap::default(),
        order: Vec::new(),
    };
    for text in &samples.order {
        let own = &samples.points[text];
        let Some(reference) = reference(&own.point.experiment) else {
            continue;
        };
        if &*own.point.subject == reference {
            continue;
        }
        let reference_key = format!("{}/{reference}/{}", own.point.experiment, own.point.params);
        let Some(base) = samples.points.get(reference_key.as_str()) else {
            continue;
        };
        let mut ratios = PointSamples {
            point: own.point,
            metrics: Vec::new(),
        };
        for (name, sample) in &own.metrics {
            let Some(base) = base.get(name) else { continue };
            let (Some(m), Some(bm)) = (sample.median, base.median) else {
                continue;
            };
            if bm == 0.0 {
                continue;
            }
            let repeats = sample
                .repeats
                .iter()
                .filter_map(|&(i, v)| {
                    let b = base.repeats.iter().find(|r| r.0 == i)?.1;
                    (b != 0.0).then(|| (i, v / b))
                })
                .collect();
            ratios.metrics.push((
                name,
                Sample {
                    median: Some(m / bm),
                    repeats,
                },
            ));
        }
        out.order.push(text.clone());
        out.points.insert(text.clone(), ratios);
    }
    out
}

/// Compares run `b` against run `a` (records already read; see [`compare_figures`]).
pub fn compare(
    a: &RunRecords,
    b: &RunRecords,
    history: &[RunRecords],
    subjects: &Subjects,
    noise: Noise,
) -> Comparison {
    let history: Vec<Figures> = history.iter().map(Figures::of).collect();
    compare_figures(
        &Figures::of(a),
        &Figures::of(b),
        &history,
        &[],
        subjects,
        noise,
    )
}

/// What one row is judged against besides its own two figures.
struct Evidence<'s> {
    /// B/A of each peer present in both runs at the same parameters (the subject excluded).
    controls: Vec<f64>,
    /// The subject is one of the experiment's peers.
    is_peer: bool,
    /// The point's past medians with the same settings, oldest first, A last.
    series: Option<&'s [f64]>,
    /// The experiment's calibrated band for this metric, and the changes it was learned from.
    calibration: Option<(f64, usize)>,
}

/// Compares run `b` against run `a`. `history` holds earlier runs on `b`'s testbed and
/// `stored` the bands calibrated on it (both used only when `a` is on the same testbed);
/// `subjects` names each experiment's reference and peers.
pub fn compare_figures(
    a: &Figures,
    b: &Figures,
    history: &[Figures],
    stored: &[Calibration],
    subjects: &Subjects,
    noise: Noise,
) -> Comparison {
    let same_testbed = a.run.testbed.fingerprint() == b.run.testbed.fingerprint();
    let (sa, sb, mode) = if same_testbed {
        let (sa, sb) = std::thread::scope(|scope| {
            let sb = scope.spawn(|| samples(b));
            (samples(a), sb.join().expect("indexing does not panic"))
        });
        (sa, sb, Mode::Absolute)
    } else {
        let mut experiments: Vec<&str> = a
            .points
            .iter()
            .chain(&b.points)
            .map(|p| &*p.experiment)
            .collect();
        experiments.sort();
        experiments.dedup();
        let references = experiments
            .into_iter()
            .filter_map(|e| Some((e.to_owned(), (subjects.reference)(e)?.to_owned())))
            .collect();
        (
            relative(&samples(a), subjects.reference),
            relative(&samples(b), subjects.reference),
            Mode::Relative { references },
        )
    };
    // History: earlier runs with B's settings, per experiment (A counts as the latest).
    let same_settings: Vec<&Figures> = if same_testbed {
        history
            .iter()
            .filter(|h| {
                b.run
                    .experiments
                    .iter()
                    .any(|e| settings(&h.run, &e.experiment) == settings(&b.run, &e.experiment))
            })
            .collect()
    } else {
        Vec::new()
    };
    let past = past_series(&same_settings, a, b);
    // Calibrated bands: stored ones that fit B, else what B's same-settings history teaches.
    let mut calibration: FastMap<(String, String), (f64, usize)> = FastMap::default();
    if same_testbed {
        let learned = calibration::learn(&same_settings, subjects, b.run.started);
        for band in learned
            .into_iter()
            .filter(|c| c.settings == settings(&b.run, &c.experiment))
        {
            calibration.insert((band.experiment, band.metric), (band.band, band.samples));
        }
        for (key, band) in calibration::trusted(stored, &b.run) {
            calibration.insert(key, (band.band, band.samples));
        }
    }
    // Rows share the figures' strings (no allocation per row); each metric's catalogue entry
    // is looked up once per point's parameters.
    let mut rows = Vec::new();
    let mut noise_rows = 0;
    let mut judged = 0;
    let mut chance = 0.0;
    let mut only_in_a = Vec::new();
    let peers_of = |experiment: &str| -> &'static [&'static str] {
        if same_testbed {
            (subjects.peers)(experiment)
        } else {
            &[]
        }
    };
    // In the order A measured its points: rows come out the same every time, and the sort
    // below (stable) needs no tie-break on strings.
    for text in &sa.order {
        let own = &sa.points[text];
        let Some(other) = sb.points.get(text) else {
            only_in_a.push(text.to_string());
            continue;
        };
        let (experiment, subject) = (&own.point.experiment, &own.point.subject);
        let peers = peers_of(experiment);
        for (name, sample_a) in &own.metrics {
            let Some(sample_b) = other.get(name) else {
                continue;
            };
            let (Some(va), Some(vb)) = (sample_a.median, sample_b.median) else {
                continue;
            };
            let info = metric::info_at(name, &own.point.params);
            let controls = controls(&sa, &sb, own.point, peers, name);
            let evidence = Evidence {
                controls,
                is_peer: peers.contains(&&**subject),
                series: past
                    .get(&(text.to_string(), (*name).to_owned()))
                    .map(Vec::as_slice)
                    .filter(|s| s.len() >= MIN_HISTORY),
                calibration: calibration
                    .get(&(experiment.to_string(), (*name).to_owned()))
                    .copied(),
            };
            let (verdict, rule) = judge(&info, va, vb, &evidence);
            if counts_as_judged(&rule) {
                judged += 1;
                if matches!(rule, Rule::Timing { .. }) {
                    chance += CHANCE_PER_ROW;
                }
            }
            if verdict == Verdict::Noise && noise == Noise::Count {
                noise_rows += 1;
                continue;
            }
            let ratio = if va == 0.0 && vb == 0.0 { 1.0 } else { vb / va };
            rows.push(Row {
                point: text.clone(),
                experiment: experiment.clone(),
                subject: subject.clone(),
                metric: Arc::from(*name),
                a: va,
                b: vb,
                ratio,
                verdict,
                rule,
            });
        }
    }
    let mut only_in_b: Vec<String> = sb
        .order
        .iter()
        .filter(|k| !sa.points.contains_key(*k))
        .map(|k| k.to_string())
        .collect();
    only_in_a.sort();
    only_in_b.sort();
    let same_commit = match (clean_commit(&a.run), clean_commit(&b.run)) {
        (Some(x), Some(y)) if x == y && a.run.id != b.run.id => Some(x.to_owned()),
        _ => None,
    };
    Comparison {
        a: a.run.id.clone(),
        b: b.run.id.clone(),
        mode,
        rows: sorted(rows),
        noise_rows,
        only_in_a,
        only_in_b,
        history_runs: same_settings.len(),
        judged,
        chance,
        same_commit,
        controls_moved: Vec::new(),
    }
}

/// B/A of `name` for each of `peers` (not the point's own subject) present in both runs at the
/// point's parameters: what the machine did between the runs.
fn controls(
    sa: &Samples,
    sb: &Samples,
    point: &FigurePoint,
    peers: &[&str],
    name: &str,
) -> Vec<f64> {
    peers
        .iter()
        .filter(|&&p| p != &*point.subject)
        .filter_map(|p| {
            let key = format!("{}/{p}/{}", point.experiment, point.params);
            let ca = sa.points.get(key.as_str())?.get(name)?.median?;
            let cb = sb.points.get(key.as_str())?.get(name)?.median?;
            (ca > 0.0 && cb > 0.0).then(|| cb / ca)
        })
        .collect()
}

/// Whether a row's rule judged it (rather than only showing it).
fn counts_as_judged(rule: &Rule) -> bool {
    matches!(
        rule,
        Rule::Exact
            | Rule::ZeroCount
            | Rule::Count { .. }
            | Rule::Timing { .. }
            | Rule::Arms { .. }
            | Rule::ControlMoved { .. }
    )
}

/// Regressions first, then improvements, changes, inconclusive rows and noise; within a
/// verdict the largest change first, then the order measured.
fn sorted(rows: Vec<Row>) -> Vec<Row> {
    // Sorted by small keys (the rows are large to move).
    let mut order: Vec<(Verdict, f64, usize)> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| (r.verdict, distance(r.ratio), i))
        .collect();
    order.sort_unstable_by(|x, y| {
        x.0.cmp(&y.0)
            .then_with(|| y.1.total_cmp(&x.1))
            .then(x.2.cmp(&y.2))
    });
    let mut slots: Vec<Option<Row>> = rows.into_iter().map(Some).collect();
    order
        .iter()
        .map(|&(_, _, i)| slots[i].take().expect("each row once"))
        .collect()
}

/// The past medians of each point and metric in runs with the same settings, oldest first,
/// with A as the latest.
fn past_series(
    same_settings: &[&Figures],
    a: &Figures,
    b: &Figures,
) -> FastMap<(String, String), Vec<f64>> {
    let mut past: FastMap<(String, String), Vec<(f64, f64)>> = FastMap::default();
    if same_settings.len() + 1 < MIN_HISTORY {
        return FastMap::default();
    }
    let a_fits = b
        .run
        .experiments
        .iter()
        .any(|e| settings(&a.run, &e.experiment) == settings(&b.run, &e.experiment));
    let runs = same_settings.iter().copied().chain(a_fits.then_some(a));
    for run in runs {
        let run_samples = samples(run);
        for (text, point) in &run_samples.points {
            for (name, sample) in &point.metrics {
                if let Some(m) = sample.median {
                    past.entry((text.to_string(), (*name).to_owned()))
                        .or_default()
                        .push((run.run.started, m));
                }
            }
        }
    }
    past.into_iter()
        .map(|(key, mut series)| {
            series.sort_by(|x, y| x.0.total_cmp(&y.0));
            (key, series.into_iter().map(|p| p.1).collect())
        })
        .collect()
}

/// Whether a relative change (B/A − 1) lies outside ±`band`, taken on the ratio's log scale so
/// that the band is symmetric: with a 60% band, B/A above 1.6 or below 1/1.6.
pub fn beyond(change: f64, band: f64) -> bool {
    (1.0 + change).ln().abs() > (1.0 + band).ln()
}

/// How far a ratio is from 1, symmetric in direction (1.25x and 0.8x are as far).
fn distance(ratio: f64) -> f64 {
    if ratio > 0.0 {
        ratio.ln().abs()
    } else {
        f64::INFINITY
    }
}

/// The decisive verdict for a change of `delta` in a metric whose better direction is `better`.
fn direction(better: Better, delta: f64) -> Verdict {
    match better {
        Better::Neither => Verdict::Changed,
        Better::Lower if delta > 0.0 => Verdict::Regression,
        Better::Higher if delta < 0.0 => Verdict::Regression,
        _ => Verdict::Improvement,
    }
}

/// One row between two runs: its verdict and the rule that decided.
fn judge(info: &MetricInfo, va: f64, vb: f64, evidence: &Evidence) -> (Verdict, Rule) {
    let decisive = |real: bool| {
        if real {
            direction(info.better, vb - va)
        } else {
            Verdict::Noise
        }
    };
    match info.kind {
        Kind::Failures => return (decisive(va != vb), Rule::Exact),
        Kind::Descriptive => return (Verdict::Noise, Rule::Descriptive),
        Kind::Split => return (Verdict::Noise, Rule::Split),
        Kind::Latency => return (Verdict::Noise, Rule::LatencyTwoRuns),
        Kind::Timing | Kind::Count => {}
    }
    if (va == 0.0 || vb == 0.0) && info.kind == Kind::Timing {
        return (Verdict::Noise, Rule::ZeroTiming);
    }
    if va == 0.0 {
        return (decisive(vb != 0.0), Rule::ZeroCount);
    }
    let raw = vb / va - 1.0;
    let history_band = evidence
        .series
        .map(|s| (stats::fence(&run_to_run_changes(s), 3.0), s.len() - 1));
    if info.kind == Kind::Count {
        let band = history_band.map_or(info.min_effect, |(f, _)| f.max(info.min_effect));
        let big_enough = (vb - va).abs() >= info.min_abs;
        let rule = Rule::Count {
            change: raw,
            band,
            min_abs: info.min_abs,
        };
        let verdict = if !big_enough || !beyond(raw, info.min_effect) {
            Verdict::Noise
        } else if beyond(raw, band) {
            decisive(true)
        } else {
            Verdict::Inconclusive
        };
        return (verdict, rule);
    }
    if evidence.is_peer && evidence.controls.is_empty() {
        return (Verdict::Noise, Rule::NoControl);
    }
    let relative = geomean(&evidence.controls).map(|g| vb / va / g - 1.0);
    let (band, source) = match (evidence.calibration, history_band) {
        (Some((band, samples)), _) => (band, BandSource::Calibration { samples }),
        (None, Some((fence, changes))) => (fence, BandSource::History { changes }),
        (None, None) => (DEFAULT_TIMING_BAND, BandSource::Default),
    };
    let band = band.max(info.min_effect);
    let rule = Rule::Timing {
        raw,
        relative,
        min_effect: info.min_effect,
        band,
        source,
    };
    let effect = relative.unwrap_or(raw);
    if !beyond(effect, info.min_effect) {
        return (Verdict::Noise, rule);
    }
    let decided =
        beyond(raw, band) && relative.is_none_or(|r| beyond(r, band) && r.signum() == raw.signum());
    if decided {
        (decisive(true), rule)
    } else {
        (Verdict::Inconclusive, rule)
    }
}

/// A number in a few significant digits.
pub fn short(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude >= 1000.0 {
        format!("{value:.0}")
    } else if magnitude >= 10.0 {
        format!("{value:.1}")
    } else if magnitude >= 0.1 || magnitude == 0.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3e}")
    }
}

/// `|x[i] / x[i-1] - 1|` for consecutive values (pairs with a zero left out).
fn run_to_run_changes(series: &[f64]) -> Vec<f64> {
    series
        .windows(2)
        .filter(|w| w[0] != 0.0)
        .map(|w| (w[1] / w[0] - 1.0).abs())
        .collect()
}

/// The median of some values (NaN for none): how the lab reduces its repeats.
pub fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// One run's step in a history.
#[derive(Clone, Debug, Serialize)]
pub struct Step {
    /// Relative change from the previous run (`None` for the first).
    pub change: Option<f64>,
    /// The change is beyond the series' noise: a change point.
    pub change_point: bool,
}

/// Marks the change points of a metric's medians over runs (oldest first), by the rules of
/// `runs compare`: correctness counts at any change; counts past their minimum effect (and
/// the series' fence); timings past the series' fence (Q3 + 3·IQR of its run-to-run changes)
/// once it has [`MIN_HISTORY`] runs, else past [`DEFAULT_TIMING_BAND`]. Returns the steps and
/// the rule used, in words.
pub fn change_points(values: &[f64], info: &MetricInfo) -> (Vec<Step>, String) {
    let changes = run_to_run_changes(values);
    let (threshold, rule) = match info.kind {
        Kind::Failures => (0.0, "exact: any change in a correctness count".to_owned()),
        Kind::Descriptive | Kind::Split | Kind::Latency => (
            f64::INFINITY,
            "not judged between runs: no change points".to_owned(),
        ),
        Kind::Count | Kind::Timing if values.len() >= MIN_HISTORY => {
            let fence = stats::fence(&changes, 3.0).max(info.min_effect);
            (
                fence,
                format!(
                    "change points: beyond ±{:.1}% (Q3 + 3·IQR of the {} run-to-run changes)",
                    fence * 100.0,
                    changes.len()
                ),
            )
        }
        Kind::Count => (
            info.min_effect,
            format!(
                "change points: beyond the count's ±{:.0}% minimum effect (fewer than {MIN_HISTORY} runs)",
                info.min_effect * 100.0
            ),
        ),
        Kind::Timing => (
            DEFAULT_TIMING_BAND,
            format!(
                "change points: beyond ±{:.0}% (the default band; fewer than {MIN_HISTORY} runs)",
                DEFAULT_TIMING_BAND * 100.0
            ),
        ),
    };
    let steps = values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let change = (i > 0 && values[i - 1] != 0.0).then(|| v / values[i - 1] - 1.0);
            Step {
                change,
                change_point: change.is_some_and(|c| c.abs() > threshold)
                    || (i > 0 && values[i - 1] == 0.0 && v != 0.0),
            }
        })
        .collect();
    (steps, rule)
}

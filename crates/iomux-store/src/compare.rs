//! Verdicts on stored runs, as pure functions of their records: `runs compare` (each point's
//! ratio B/A, judged improvement, regression or noise) and `runs history` (one point's metric
//! over runs, with its change points marked).
//!
//! How a change is judged real, first rule that applies:
//! 1. **exact** — correctness counts (errors, mismatches): any change. A timing of 0 (below
//!    the clock's resolution) is not judged; a count from 0 is a change.
//! 2. **history** — the store holds the point in at least [`MIN_HISTORY`] runs on the same
//!    testbed before B (A counts): a change is real beyond the upper fence (Q3 + 1.5·IQR) of the past
//!    run-to-run changes, as rustc-perf judges significance.
//! 3. **repeats** — both runs repeated the point: real when the repeats' ranges do not overlap
//!    (and the change passes the metric's floor).
//! 4. **default** — neither: the metric's default noise band (15% for timings on a machine
//!    that drifts 15–20% between minutes; 3% for counts).
//!
//! Runs on different testbeds are never compared in absolute figures: each subject is taken
//! relative to its experiment's reference subject in the same run (e.g. epoll/tokio), and
//! those ratios are compared.
use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use crate::fasthash::{map_with_capacity, FastMap};
use crate::metric::{self, Better, Kind, MetricInfo};
use crate::record::{FigurePoint, Figures, Run, RunRecords};
use crate::store::Store;

/// How many earlier runs of the same testbed [`compare_stored`] reads for the history rule.
pub const HISTORY_RUNS: usize = 20;

/// `runs compare A B` on a store: finds both runs (ids, prefixes or `latest~N`), reads them
/// and up to [`HISTORY_RUNS`] earlier runs of `b`'s testbed for the history rule, and judges.
pub fn compare_stored(
    store: &mut dyn Store,
    a: &str,
    b: &str,
    reference: &dyn Fn(&str) -> Option<&'static str>,
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
    let comparison = compare_figures(&a, &b, &history, reference, noise);
    Ok((a.run, b.run, comparison))
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

/// What to do with the rows judged noise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Noise {
    /// Keep them (`runs compare --all`, `--json`).
    Keep,
    /// Only count them ([`Comparison::noise_rows`]): the default table shows the count, and
    /// most rows of a large comparison are noise.
    Count,
}

/// How many earlier runs of a point the history rule needs.
pub const MIN_HISTORY: usize = 5;

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
    /// No real change: within the noise.
    Noise,
}

impl Verdict {
    /// The verdict in lowercase, as printed and serialized.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Regression => "regression",
            Verdict::Improvement => "improvement",
            Verdict::Changed => "changed",
            Verdict::Noise => "noise",
        }
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
    /// Run A's median (in [`Mode::Relative`], its ratio to the reference subject's).
    pub a: f64,
    /// Run B's median (in [`Mode::Relative`], its ratio to the reference subject's).
    pub b: f64,
    /// `b / a` (infinite when `a` is zero and `b` is not).
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
}

/// `runs compare A B`.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    /// Run A's id: the baseline.
    pub a: String,
    /// Run B's id: the run judged against A.
    pub b: String,
    /// Whether the figures themselves or ratios to reference subjects were compared.
    pub mode: Mode,
    /// Regressions first (largest first), then improvements, changes, noise (unless counted
    /// only: [`Noise::Count`]).
    pub rows: Vec<Row>,
    /// Rows judged noise and left out of `rows` ([`Noise::Count`]).
    pub noise_rows: usize,
    /// Points (key text) measured in A but not in B, sorted.
    pub only_in_a: Vec<String>,
    /// Points (key text) measured in B but not in A, sorted.
    pub only_in_b: Vec<String>,
    /// How many earlier runs the history rule could draw on.
    pub history_runs: usize,
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
    reference: &dyn Fn(&str) -> Option<&'static str>,
    noise: Noise,
) -> Comparison {
    let history: Vec<Figures> = history.iter().map(Figures::of).collect();
    compare_figures(&Figures::of(a), &Figures::of(b), &history, reference, noise)
}

/// Compares run `b` against run `a`. `history` holds earlier runs on `b`'s testbed (used only
/// when `a` is on the same testbed); `reference` names each experiment's reference subject.
pub fn compare_figures(
    a: &Figures,
    b: &Figures,
    history: &[Figures],
    reference: &dyn Fn(&str) -> Option<&'static str>,
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
            .filter_map(|e| Some((e.to_owned(), reference(e)?.to_owned())))
            .collect();
        (
            relative(&samples(a), reference),
            relative(&samples(b), reference),
            Mode::Relative { references },
        )
    };
    // The past medians of each point and metric, oldest first (a counts as the latest). A
    // series needs MIN_HISTORY runs (A among them) before the history rule applies.
    let mut past: FastMap<(String, String), Vec<(f64, f64)>> = FastMap::default();
    let history_runs = if same_testbed { history.len() } else { 0 };
    if same_testbed && history.len() + 1 >= MIN_HISTORY {
        for run in history.iter().chain([a]) {
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
        for series in past.values_mut() {
            series.sort_by(|x, y| x.0.total_cmp(&y.0));
        }
    }
    // Rows share the figures' strings (no allocation per row); each metric's catalogue entry
    // is looked up once.
    let mut infos: FastMap<String, (Arc<str>, MetricInfo)> = FastMap::default();
    let mut rows = Vec::new();
    let mut noise_rows = 0;
    let mut only_in_a = Vec::new();
    // In the order A measured its points: rows come out the same every time, and the sort
    // below (stable) needs no tie-break on strings.
    for text in &sa.order {
        let own = &sa.points[text];
        let Some(other) = sb.points.get(text) else {
            only_in_a.push(text.to_string());
            continue;
        };
        let point = text.clone();
        let experiment = own.point.experiment.clone();
        let subject = own.point.subject.clone();
        for (name, sample_a) in &own.metrics {
            let Some(sample_b) = other.get(name) else {
                continue;
            };
            let (Some(va), Some(vb)) = (sample_a.median, sample_b.median) else {
                continue;
            };
            let series: Option<Vec<f64>> = if past.is_empty() {
                None
            } else {
                past.get(&(text.to_string(), (*name).to_owned()))
                    .map(|s| s.iter().map(|p| p.1).collect())
            };
            let (metric, info) = match infos.get(*name) {
                Some(known) => known.clone(),
                None => {
                    let entry = (Arc::<str>::from(*name), metric::info(name));
                    infos.insert((*name).to_owned(), entry.clone());
                    entry
                }
            };
            let (real, rule) = judge(&info, sample_a, sample_b, series.as_deref());
            if !real && noise == Noise::Count {
                noise_rows += 1;
                continue;
            }
            let ratio = if va == 0.0 && vb == 0.0 { 1.0 } else { vb / va };
            rows.push(Row {
                point: point.clone(),
                experiment: experiment.clone(),
                subject: subject.clone(),
                metric,
                a: va,
                b: vb,
                ratio,
                verdict: verdict(info.better, real, vb - va),
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
    // Sorted by small keys (the rows are large to move): verdict, distance, then the order
    // measured.
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
    let rows = order
        .iter()
        .map(|&(_, _, i)| slots[i].take().expect("each row once"))
        .collect();
    Comparison {
        a: a.run.id.clone(),
        b: b.run.id.clone(),
        mode,
        rows,
        noise_rows,
        only_in_a,
        only_in_b,
        history_runs,
    }
}

/// How far a ratio is from 1, symmetric in direction (1.25x and 0.8x are as far).
fn distance(ratio: f64) -> f64 {
    if ratio > 0.0 {
        ratio.ln().abs()
    } else {
        f64::INFINITY
    }
}

fn verdict(better: Better, real: bool, delta: f64) -> Verdict {
    match (real, better) {
        (false, _) => Verdict::Noise,
        (true, Better::Neither) => Verdict::Changed,
        (true, Better::Lower) if delta > 0.0 => Verdict::Regression,
        (true, Better::Higher) if delta < 0.0 => Verdict::Regression,
        (true, _) => Verdict::Improvement,
    }
}

/// Whether the change from `a` to `b` is real, and the rule that decided.
fn judge(info: &MetricInfo, a: &Sample, b: &Sample, past: Option<&[f64]>) -> (bool, Rule) {
    let (va, vb) = (a.median.unwrap_or(0.0), b.median.unwrap_or(0.0));
    match info.kind {
        Kind::Failures => return (va != vb, Rule::Exact),
        Kind::Descriptive => return (false, Rule::Descriptive),
        Kind::Timing | Kind::Count => {}
    }
    if (va == 0.0 || vb == 0.0) && info.kind == Kind::Timing {
        return (false, Rule::ZeroTiming);
    }
    if va == 0.0 {
        return (vb != 0.0, Rule::ZeroCount);
    }
    let change = (vb / va - 1.0).abs();
    if let Some(series) = past.filter(|s| s.len() >= MIN_HISTORY) {
        let fence = upper_fence(&run_to_run_changes(series)).max(info.floor);
        let changes = series.len() - 1;
        return (change > fence, Rule::History { fence, changes });
    }
    if a.repeats.len() >= 2 && b.repeats.len() >= 2 {
        let range = |s: &Sample| {
            let values = s.repeats.iter().map(|r| r.1);
            (
                values.clone().fold(f64::INFINITY, f64::min),
                values.fold(f64::NEG_INFINITY, f64::max),
            )
        };
        let (ra, rb) = (range(a), range(b));
        let apart = ra.1 < rb.0 || rb.1 < ra.0;
        let within_floor = apart && change <= info.floor;
        let rule = Rule::Repeats {
            a: ra,
            b: rb,
            apart,
            floor: within_floor.then_some(info.floor),
        };
        return (apart && !within_floor, rule);
    }
    let band = info.default_noise;
    (change > band, Rule::Default { band })
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

/// Q3 + 1.5·IQR of some values (linear interpolation between order statistics).
pub fn upper_fence(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let q1 = quantile(&sorted, 0.25);
    let q3 = quantile(&sorted, 0.75);
    q3 + 1.5 * (q3 - q1)
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let position = q * (sorted.len() - 1) as f64;
    let (low, high) = (position.floor() as usize, position.ceil() as usize);
    sorted[low] + (sorted[high] - sorted[low]) * (position - low as f64)
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

/// Marks the change points of a metric's medians over runs (oldest first): changes beyond the
/// upper fence of all its run-to-run changes, or beyond the metric's default noise band when
/// the series is too short to have a fence. Returns the steps and the rule used.
pub fn change_points(values: &[f64], info: &MetricInfo) -> (Vec<Step>, String) {
    let changes = run_to_run_changes(values);
    let (threshold, rule) = if info.kind == Kind::Failures {
        (0.0, "exact: any change in a correctness count".to_owned())
    } else if info.kind == Kind::Descriptive {
        (
            f64::INFINITY,
            "describes the measurement: no change points".to_owned(),
        )
    } else if values.len() >= MIN_HISTORY {
        let fence = upper_fence(&changes).max(info.floor);
        (
            fence,
            format!(
                "change points: beyond ±{:.1}% (Q3 + 1.5·IQR of the {} run-to-run changes)",
                fence * 100.0,
                changes.len()
            ),
        )
    } else {
        (
            info.default_noise,
            format!(
                "change points: beyond ±{:.0}% (the metric's default; fewer than {MIN_HISTORY} runs)",
                info.default_noise * 100.0
            ),
        )
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

mod rule;
#[cfg(test)]
mod tests;

pub use rule::Rule;

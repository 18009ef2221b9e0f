//! The interleaved arms of one run (`iomux bench ... --against OLD`): each point was measured
//! in pairs, arm A (the old binary) and arm B (this one) back to back in ABBA order, each pair
//! a repeat of its point with an `arm` parameter. Pairs see the same moments of the machine,
//! so their ratios cancel its drift: a paired test (Wilcoxon signed-rank) then tells a real
//! change from noise, and the peers, which run the same code in both arms, are the controls.
use std::sync::Arc;

use super::stats::{median_interval, wilcoxon_p};
use super::{
    beyond, direction, median, samples, sorted, Comparison, Mode, Noise, Row, Rule, Subjects,
    Verdict, ARMS_P,
};
use crate::fasthash::FastMap;
use crate::metric::{self, Kind};
use crate::record::{Figures, Point, Run, RunRecords};

/// The parameter that names a point's arm.
pub const ARM_PARAM: &str = "arm";

/// One point's figures in each arm, pair by pair.
struct Arms<'a> {
    experiment: Arc<str>,
    subject: Arc<str>,
    /// The point's key without the arm.
    key: Arc<str>,
    params: &'a str,
    a: FastMap<&'a str, Vec<(usize, f64)>>,
    b: FastMap<&'a str, Vec<(usize, f64)>>,
}

/// `params` without `arm=...`, and the arm it named.
fn split_arm(params: &str) -> Option<(String, char)> {
    let mut arm = None;
    let rest: Vec<&str> = params
        .split(',')
        .filter(|p| match p.split_once('=') {
            Some((name, value)) if name == ARM_PARAM => {
                arm = value.chars().next();
                false
            }
            _ => true,
        })
        .collect();
    Some((rest.join(","), arm?))
}

/// Judges the arms of points not yet stored (the lab, as it renders a run it just measured).
pub fn compare_arm_points(points: &[Point], subjects: &Subjects, noise: Noise) -> Comparison {
    let records = RunRecords {
        run: Run::default(),
        points: points.to_vec(),
    };
    compare_arms(&Figures::of(&records), subjects, noise)
}

/// Judges the arms of one run: B (this binary) against A (the `--against` binary).
pub fn compare_arms(run: &Figures, subjects: &Subjects, noise: Noise) -> Comparison {
    let all = samples(run);
    let mut points: Vec<Arms> = Vec::new();
    for text in &all.order {
        let own = &all.points[text];
        let Some((params, arm)) = split_arm(&own.point.params) else {
            continue;
        };
        let key: Arc<str> =
            format!("{}/{}/{params}", own.point.experiment, own.point.subject).into();
        let index = match points.iter().position(|p| p.key == key) {
            Some(i) => i,
            None => {
                points.push(Arms {
                    experiment: own.point.experiment.clone(),
                    subject: own.point.subject.clone(),
                    key: key.clone(),
                    params: &own.point.params,
                    a: FastMap::default(),
                    b: FastMap::default(),
                });
                points.len() - 1
            }
        };
        let side = if arm == 'A' {
            &mut points[index].a
        } else {
            &mut points[index].b
        };
        for (name, sample) in &own.metrics {
            side.entry(name)
                .or_default()
                .extend(sample.repeats.iter().copied());
        }
    }
    let mut rows = Vec::new();
    let mut judged = 0;
    for point in &points {
        let mut names: Vec<&&str> = point
            .a
            .keys()
            .filter(|n| point.b.contains_key(**n))
            .collect();
        names.sort();
        for name in names {
            let info = metric::info_at(name, point.params);
            let (a, b) = (&point.a[*name], &point.b[*name]);
            let pairs: Vec<(f64, f64)> = a
                .iter()
                .filter_map(|&(i, va)| Some((va, b.iter().find(|r| r.0 == i)?.1)))
                .collect();
            if pairs.is_empty() {
                continue;
            }
            let va = median(pairs.iter().map(|p| p.0).collect());
            let vb = median(pairs.iter().map(|p| p.1).collect());
            let (verdict, rule, ratio) = match info.kind {
                Kind::Descriptive | Kind::Split => (Verdict::Noise, Rule::Descriptive, vb / va),
                Kind::Failures => {
                    let (sa, sb): (f64, f64) = (
                        pairs.iter().map(|p| p.0).sum(),
                        pairs.iter().map(|p| p.1).sum(),
                    );
                    let verdict = if sa != sb {
                        direction(info.better, sb - sa)
                    } else {
                        Verdict::Noise
                    };
                    judged += 1;
                    (verdict, Rule::Exact, if sa == 0.0 { 1.0 } else { sb / sa })
                }
                Kind::Timing | Kind::Latency | Kind::Count => {
                    let logs: Vec<f64> = pairs
                        .iter()
                        .filter(|p| p.0 > 0.0 && p.1 > 0.0)
                        .map(|p| (p.1 / p.0).ln())
                        .collect();
                    if logs.is_empty() {
                        continue;
                    }
                    judged += 1;
                    let p = wilcoxon_p(&logs);
                    let ratio = median(logs.clone()).exp();
                    let interval = median_interval(&logs)
                        .map_or((f64::NAN, f64::NAN), |(l, h)| (l.exp(), h.exp()));
                    let big_enough =
                        beyond(ratio - 1.0, info.min_effect) && (vb - va).abs() >= info.min_abs;
                    let verdict = if !big_enough {
                        Verdict::Noise
                    } else if p <= ARMS_P {
                        direction(info.better, ratio - 1.0)
                    } else {
                        Verdict::Inconclusive
                    };
                    let rule = Rule::Arms {
                        n: logs.len(),
                        p,
                        median: ratio,
                        interval,
                        min_effect: info.min_effect,
                    };
                    (verdict, rule, ratio)
                }
            };
            rows.push(Row {
                point: point.key.clone(),
                experiment: point.experiment.clone(),
                subject: point.subject.clone(),
                metric: Arc::from(*name),
                a: va,
                b: vb,
                ratio,
                verdict,
                rule,
            });
        }
    }
    // A control (a peer: the same code in both arms) that moved decisively means the arms
    // did not see the same machine; no timed verdict of its experiment stands.
    let mut controls_moved: Vec<String> = rows
        .iter()
        .filter(|r| {
            r.verdict.is_decisive()
                && (subjects.peers)(&r.experiment).contains(&&*r.subject)
                && matches!(metric::info(&r.metric).kind, Kind::Timing | Kind::Latency)
        })
        .map(|r| format!("{} {}", r.point, r.metric))
        .collect();
    controls_moved.sort();
    for row in &mut rows {
        let moved_here = controls_moved
            .iter()
            .any(|c| c.starts_with(&format!("{}/", row.experiment)));
        let timed = matches!(metric::info(&row.metric).kind, Kind::Timing | Kind::Latency);
        let is_control = (subjects.peers)(&row.experiment).contains(&&*row.subject);
        if moved_here && timed && !is_control && row.verdict.is_decisive() {
            if let Rule::Arms { p, median, .. } = row.rule {
                row.rule = Rule::ControlMoved { p, median };
                row.verdict = Verdict::Inconclusive;
            }
        }
    }
    let timed_rows = rows
        .iter()
        .filter(|r| matches!(r.rule, Rule::Arms { .. } | Rule::ControlMoved { .. }))
        .count();
    let noise_rows = match noise {
        Noise::Keep => 0,
        Noise::Count => {
            let before = rows.len();
            rows.retain(|r| r.verdict != Verdict::Noise);
            before - rows.len()
        }
    };
    Comparison {
        a: run.run.id.clone(),
        b: run.run.id.clone(),
        mode: Mode::Arms,
        rows: sorted(rows),
        noise_rows,
        only_in_a: Vec::new(),
        only_in_b: Vec::new(),
        history_runs: 0,
        judged,
        // Each paired test is made at p <= ARMS_P.
        chance: timed_rows as f64 * ARMS_P,
        same_commit: None,
        controls_moved,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_arm_is_taken_out_of_the_parameters() {
        assert_eq!(
            split_arm("arm=A,conns=100,size=64"),
            Some(("conns=100,size=64".to_owned(), 'A'))
        );
        assert_eq!(split_arm("conns=100"), None);
    }
}

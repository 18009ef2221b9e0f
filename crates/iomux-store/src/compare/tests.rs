use proptest::prelude::*;

use super::calibration::MAX_AGE;
use super::*;
use crate::record::{Calibration, ExperimentParams, Point, Run};
use crate::testing::testbed;

const CPU: &str = "server_cpu_us_per_msg";

fn run(id: &str, started: f64, host: &str, points: Vec<Point>) -> RunRecords {
    run_of(id, id, started, host, points)
}

fn run_of(id: &str, commit: &str, started: f64, host: &str, points: Vec<Point>) -> RunRecords {
    RunRecords {
        run: Run {
            id: id.into(),
            started,
            finished: Some(started + 1.0),
            iomux_version: "0".into(),
            git_commit: commit.into(),
            command_line: vec![],
            testbed: testbed(host),
            quick: false,
            experiments: vec![ExperimentParams {
                experiment: "echo".into(),
                params: serde_json::json!({ "duration": 0.3, "servers": ["epoll", "tokio"] }),
            }],
        },
        points,
    }
}

/// A subject's points at conns=100: its repeats and their median.
fn measured(subject: &str, metric: &str, repeats: &[f64]) -> Vec<Point> {
    measured_at(subject, metric, repeats, &[])
}

fn measured_at(
    subject: &str,
    metric: &str,
    repeats: &[f64],
    params: &[(&str, &str)],
) -> Vec<Point> {
    let point = || {
        params.iter().fold(
            Point::new("echo", subject).param("conns", 100),
            |p, (k, v)| p.param(k, *v),
        )
    };
    let mut points: Vec<Point> = repeats
        .iter()
        .enumerate()
        .map(|(i, &v)| point().metric(metric, v).repeat(i))
        .collect();
    if !repeats.is_empty() {
        points.push(point().metric(metric, median(repeats.to_vec())));
    }
    points
}

/// epoll and its peer tokio, each at one figure.
fn pair(epoll: f64, tokio: f64) -> Vec<Point> {
    let mut points = measured("epoll", CPU, &[epoll]);
    points.extend(measured("tokio", CPU, &[tokio]));
    points
}

const SUBJECTS: Subjects<'static> = Subjects {
    reference: &|experiment| (experiment == "echo").then_some("tokio"),
    peers: &|experiment| {
        if experiment == "echo" {
            &["tokio", "mio"]
        } else {
            &[]
        }
    },
};

fn judge_runs(a: &RunRecords, b: &RunRecords, history: &[RunRecords]) -> Comparison {
    compare(a, b, history, &SUBJECTS, Noise::Keep)
}

fn only_row(c: &Comparison, subject: &str, metric: &str) -> Row {
    let rows: Vec<&Row> = c
        .rows
        .iter()
        .filter(|r| &*r.subject == subject && &*r.metric == metric)
        .collect();
    assert_eq!(rows.len(), 1, "{:?}", c.rows);
    rows[0].clone()
}

#[test]
fn a_timing_is_decisive_only_when_it_moved_past_the_band_against_its_peers_too() {
    let a = run("a", 1.0, "m", pair(4.0, 4.0));
    // epoll 80% slower, tokio unchanged: past the 60% default band, raw and relative.
    let row = only_row(
        &judge_runs(&a, &run("b", 2.0, "m", pair(7.2, 4.0)), &[]),
        "epoll",
        CPU,
    );
    assert_eq!(row.verdict, Verdict::Regression, "{}", row.rule);
    // Both 80% slower: the machine moved, not epoll.
    let row = only_row(
        &judge_runs(&a, &run("b", 2.0, "m", pair(7.2, 7.2)), &[]),
        "epoll",
        CPU,
    );
    assert_eq!(row.verdict, Verdict::Noise, "{}", row.rule);
    // 25% slower against a steady peer: more than the 10% minimum effect, within the band.
    let row = only_row(
        &judge_runs(&a, &run("b", 2.0, "m", pair(5.0, 4.0)), &[]),
        "epoll",
        CPU,
    );
    assert_eq!(row.verdict, Verdict::Inconclusive, "{}", row.rule);
    assert!(row.rule.to_string().contains("--against"), "{}", row.rule);
    // 5%: under the minimum effect.
    let row = only_row(
        &judge_runs(&a, &run("b", 2.0, "m", pair(4.2, 4.0)), &[]),
        "epoll",
        CPU,
    );
    assert_eq!(row.verdict, Verdict::Noise, "{}", row.rule);
    // Faster, past the band: an improvement.
    let row = only_row(
        &judge_runs(&a, &run("b", 2.0, "m", pair(1.2, 4.0)), &[]),
        "epoll",
        CPU,
    );
    assert_eq!(row.verdict, Verdict::Improvement, "{}", row.rule);
}

#[test]
fn a_reference_peer_is_judged_only_against_other_peers() {
    let a = run("a", 1.0, "m", pair(4.0, 4.0));
    let c = judge_runs(&a, &run("b", 2.0, "m", pair(4.0, 9.0)), &[]);
    let row = only_row(&c, "tokio", CPU);
    assert_eq!((row.verdict, row.rule), (Verdict::Noise, Rule::NoControl));
    // With mio in both runs, tokio alone slowing down is judged.
    let mut a_points = pair(4.0, 4.0);
    a_points.extend(measured("mio", CPU, &[4.0]));
    let mut b_points = pair(4.0, 9.0);
    b_points.extend(measured("mio", CPU, &[4.0]));
    let c = judge_runs(
        &run("a", 1.0, "m", a_points),
        &run("b", 2.0, "m", b_points),
        &[],
    );
    assert_eq!(only_row(&c, "tokio", CPU).verdict, Verdict::Regression);
}

#[test]
fn counts_are_judged_against_their_minimum_effect() {
    let calls = "syscalls_per_msg";
    let one = |v: f64| run("x", 1.0, "m", measured("epoll", calls, &[v]));
    let verdict =
        |a: f64, b: f64| only_row(&judge_runs(&one(a), &one(b), &[]), "epoll", calls).verdict;
    // One more syscall per message: a regression.
    assert_eq!(verdict(2.0, 3.0), Verdict::Regression);
    // 2% is under the 3% minimum.
    assert_eq!(verdict(2.0, 2.04), Verdict::Noise);
    // 0.02 -> 0.03 is +50%, but less than 0.05 syscalls per message.
    assert_eq!(verdict(0.02, 0.03), Verdict::Noise);
    // A counting pass: instructions (callgrind) have a 2% minimum, syscalls (strace) 3%.
    let pass = |tool: &str, v: f64| {
        run(
            "x",
            1.0,
            "m",
            measured_at("epoll", "per_msg", &[v], &[("pass", tool)]),
        )
    };
    let row = only_row(
        &judge_runs(&pass("callgrind", 378.0), &pass("callgrind", 388.0), &[]),
        "epoll",
        "per_msg",
    );
    assert_eq!(row.verdict, Verdict::Regression, "{}", row.rule);
    let row = only_row(
        &judge_runs(&pass("strace", 2.0), &pass("strace", 2.05), &[]),
        "epoll",
        "per_msg",
    );
    assert_eq!(row.verdict, Verdict::Noise, "{}", row.rule);
}

#[test]
fn latency_and_the_user_system_split_are_shown_not_judged_between_runs() {
    for (metric, rule) in [
        ("p99_us", Rule::LatencyTwoRuns),
        ("server_user_us_per_msg", Rule::Split),
    ] {
        let a = run("a", 1.0, "m", measured("epoll", metric, &[10.0]));
        let b = run("b", 2.0, "m", measured("epoll", metric, &[100.0]));
        let row = only_row(&judge_runs(&a, &b, &[]), "epoll", metric);
        assert_eq!((row.verdict, row.rule), (Verdict::Noise, rule));
    }
}

/// Twenty-five quiet past runs with the same settings (±1%), then a 15% step.
fn quiet_history(commit_of: impl Fn(usize) -> String) -> Vec<RunRecords> {
    (0..25)
        .map(|i| {
            let v = if i % 2 == 0 { 4.0 } else { 4.04 };
            run_of(&format!("h{i}"), &commit_of(i), i as f64, "m", pair(v, 4.0))
        })
        .collect()
}

#[test]
fn history_with_the_same_settings_sets_the_band_when_there_is_enough() {
    let history = quiet_history(|i| format!("c{i}"));
    let a = run("a", 30.0, "m", pair(4.0, 4.0));
    let b = run("b", 31.0, "m", pair(4.6, 4.0));
    let row = only_row(&judge_runs(&a, &b, &history), "epoll", CPU);
    assert_eq!(row.verdict, Verdict::Regression, "{}", row.rule);
    assert!(
        matches!(
            row.rule,
            Rule::Timing {
                source: BandSource::History { .. },
                ..
            }
        ),
        "{}",
        row.rule
    );
    // Too little history: the default band, and the same 15% is inconclusive.
    let row = only_row(&judge_runs(&a, &b, &history[..10]), "epoll", CPU);
    assert_eq!(row.verdict, Verdict::Inconclusive, "{}", row.rule);
    // History measured with other settings (a longer window) does not count.
    let mut other = history.clone();
    for h in &mut other {
        h.run.experiments[0].params["duration"] = serde_json::json!(5.0);
    }
    let row = only_row(&judge_runs(&a, &b, &other), "epoll", CPU);
    assert!(
        matches!(
            row.rule,
            Rule::Timing {
                source: BandSource::Default,
                ..
            }
        ),
        "{}",
        row.rule
    );
}

#[test]
fn runs_of_one_clean_commit_calibrate_the_band() {
    // Many points per run, so that a few runs of one commit give enough changes.
    let many = |scale: f64| -> Vec<Point> {
        (0..30)
            .flat_map(|c| {
                let at = |s: &str, v: f64| Point::new("echo", s).param("conns", c).metric(CPU, v);
                [at("epoll", 4.0 * scale), at("tokio", 4.0)]
            })
            .collect()
    };
    let history: Vec<RunRecords> = (0..4)
        .map(|i| {
            run_of(
                &format!("h{i}"),
                "same",
                i as f64,
                "m",
                many(if i % 2 == 0 { 1.0 } else { 1.02 }),
            )
        })
        .collect();
    let c = judge_runs(
        &run("a", 10.0, "m", many(1.0)),
        &run("b", 11.0, "m", many(1.15)),
        &history,
    );
    let row = &c.rows.iter().find(|r| &*r.subject == "epoll").unwrap();
    assert!(
        matches!(
            row.rule,
            Rule::Timing {
                source: BandSource::Calibration { samples: 360 },
                ..
            }
        ),
        "{}",
        row.rule
    );
    assert_eq!(row.verdict, Verdict::Regression, "{}", row.rule);
}

#[test]
fn an_a_a_comparison_says_so() {
    let a = run_of("a", "abc123", 1.0, "m", pair(4.0, 4.0));
    let b = run_of("b", "abc123", 2.0, "m", pair(4.1, 4.0));
    assert_eq!(
        judge_runs(&a, &b, &[]).same_commit.as_deref(),
        Some("abc123")
    );
    let dirty = run_of("b", "abc123-dirty", 2.0, "m", pair(4.1, 4.0));
    assert_eq!(judge_runs(&a, &dirty, &[]).same_commit, None);
}

#[test]
fn different_testbeds_compare_ratios_to_the_reference_only() {
    let a = run("a", 1.0, "fast", pair(4.0, 4.0));
    // Machine B is twice as slow for everyone: no change.
    let c = judge_runs(&a, &run("b", 2.0, "slow", pair(8.0, 8.0)), &[]);
    assert!(matches!(c.mode, Mode::Relative { .. }));
    let row = only_row(&c, "epoll", CPU);
    assert_eq!(row.verdict, Verdict::Noise, "{row:?}");
    assert!((row.a - 1.0).abs() < 1e-9 && (row.b - 1.0).abs() < 1e-9);
    // On machine C epoll alone is 1.8x slower relative to tokio: a regression.
    let c = judge_runs(&a, &run("c", 3.0, "slow", pair(14.4, 8.0)), &[]);
    assert_eq!(only_row(&c, "epoll", CPU).verdict, Verdict::Regression);
    assert!(c.rows.iter().all(|r| &*r.subject != "tokio"));
}

#[test]
fn any_new_error_is_a_regression() {
    let a = run("a", 1.0, "m", measured("epoll", "errors", &[0.0]));
    let b = run("b", 2.0, "m", measured("epoll", "errors", &[1.0]));
    let row = only_row(&judge_runs(&a, &b, &[]), "epoll", "errors");
    assert_eq!(row.verdict, Verdict::Regression);
}

#[test]
fn regressions_come_first_and_one_sided_points_are_listed() {
    let mut a_points = pair(4.0, 4.0);
    a_points.extend(measured("poll", CPU, &[4.0]));
    a_points.extend(measured("select", CPU, &[4.0]));
    let mut b_points = pair(1.0, 4.0);
    b_points.extend(measured("poll", CPU, &[9.0]));
    b_points.extend(measured("uring", CPU, &[1.0]));
    let c = judge_runs(
        &run("a", 1.0, "m", a_points),
        &run("b", 2.0, "m", b_points),
        &[],
    );
    assert_eq!(c.rows[0].verdict, Verdict::Regression);
    assert_eq!(&*c.rows[0].subject, "poll");
    assert_eq!(c.only_in_a, vec!["echo/select/conns=100".to_owned()]);
    assert_eq!(c.only_in_b, vec!["echo/uring/conns=100".to_owned()]);
}

#[test]
fn a_history_step_is_a_change_point() {
    let mut values: Vec<f64> = (0..24)
        .map(|i| if i % 2 == 0 { 4.0 } else { 4.04 })
        .collect();
    values.extend([5.0, 5.02, 4.98]);
    let (steps, rule) = change_points(&values, &metric::info(CPU));
    let marked: Vec<usize> = steps
        .iter()
        .enumerate()
        .filter(|s| s.1.change_point)
        .map(|s| s.0)
        .collect();
    assert_eq!(marked, vec![24], "{rule}");
}

proptest! {
    /// A run compared with itself has no decisive or inconclusive row, whatever its figures.
    #[test]
    fn a_run_against_itself_is_all_noise(values in proptest::collection::vec(0.001f64..1e6, 1..6)) {
        let a = run("a", 1.0, "m", measured("epoll", CPU, &values));
        let b = run("b", 2.0, "m", a.points.clone());
        let c = judge_runs(&a, &b, &[]);
        prop_assert!(c.rows.iter().all(|r| r.verdict == Verdict::Noise));
    }

    /// The fence never lies below the third quartile.
    #[test]
    fn the_fence_is_above_the_third_quartile(values in proptest::collection::vec(0.0f64..1.0, 1..40)) {
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        prop_assert!(fence(&values, 3.0) >= stats::quantile(&sorted, 0.75) - 1e-12);
    }
}

#[test]
fn counting_noise_keeps_every_other_row_and_the_counts() {
    let mut a_points = pair(4.0, 4.0);
    a_points.extend(measured("poll", CPU, &[4.0]));
    let mut b_points = pair(4.0, 4.0);
    b_points.extend(measured("poll", CPU, &[9.0]));
    let (a, b) = (run("a", 1.0, "m", a_points), run("b", 2.0, "m", b_points));
    let kept = compare(&a, &b, &[], &SUBJECTS, Noise::Keep);
    let counted = compare(&a, &b, &[], &SUBJECTS, Noise::Count);
    assert_eq!(counted.noise_rows, 2);
    assert!(counted.rows.iter().all(|r| r.verdict != Verdict::Noise));
    for verdict in [Verdict::Regression, Verdict::Improvement, Verdict::Noise] {
        assert_eq!(kept.count(verdict), counted.count(verdict), "{verdict:?}");
    }
}

#[test]
fn a_timing_that_falls_to_zero_is_below_the_clock_not_an_improvement() {
    let a = run("a", 1.0, "m", measured("uring", CPU, &[0.17, 0.18, 0.31]));
    let b = run("b", 2.0, "m", measured("uring", CPU, &[0.0, 0.0, 0.0]));
    let row = only_row(&judge_runs(&a, &b, &[]), "uring", CPU);
    assert_eq!((row.verdict, row.rule), (Verdict::Noise, Rule::ZeroTiming));
}

/// Points of one run with arms: `pairs` pairs of each subject, B = A × `factor(subject)` ×
/// a little noise that is the same in both arms of a pair.
fn arms_run(pairs: usize, factor: impl Fn(&str) -> f64) -> RunRecords {
    let mut points = Vec::new();
    for i in 0..pairs {
        let wobble = 1.0 + 0.03 * ((i * 7919 % 13) as f64 / 13.0 - 0.5);
        let jitter = 1.0 + 0.01 * ((i * 104_729 % 11) as f64 / 11.0 - 0.5);
        for subject in ["epoll", "tokio"] {
            let base = 4.0 * wobble;
            for (arm, value) in [("A", base), ("B", base * factor(subject) * jitter)] {
                points.push(
                    Point::new("echo", subject)
                        .param("conns", 100)
                        .param("arm", arm)
                        .metric(CPU, value)
                        .metric("p99_us", value * 10.0)
                        .repeat(i),
                );
            }
        }
    }
    run("r", 1.0, "m", points)
}

#[test]
fn arms_are_judged_by_a_paired_test_with_the_peers_as_controls() {
    let arms = |factor: &dyn Fn(&str) -> f64| {
        compare_arms(&Figures::of(&arms_run(40, factor)), &SUBJECTS, Noise::Keep)
    };
    // epoll 20% slower in B, tokio the same: a regression at a tiny p.
    let c = arms(&|s| if s == "epoll" { 1.2 } else { 1.0 });
    assert!(matches!(c.mode, Mode::Arms));
    let row = only_row(&c, "epoll", CPU);
    assert_eq!(row.verdict, Verdict::Regression, "{}", row.rule);
    assert!(
        matches!(row.rule, Rule::Arms { n: 40, p, .. } if p < 1e-6),
        "{}",
        row.rule
    );
    // The same 20% in p99 latency is under its 25% minimum effect.
    assert_eq!(only_row(&c, "epoll", "p99_us").verdict, Verdict::Noise);
    assert_eq!(only_row(&c, "tokio", CPU).verdict, Verdict::Noise);
    // The same code in both arms: nothing decisive.
    let c = arms(&|_| 1.0);
    assert_eq!(c.decisive(), 0, "{:?}", c.rows);
    // The control moved too: epoll's verdict does not stand.
    let c = arms(&|_| 1.2);
    assert_eq!(
        c.controls_moved,
        ["echo/tokio/conns=100 server_cpu_us_per_msg"],
        "p99 moved 20%: under its minimum"
    );
    let row = only_row(&c, "epoll", CPU);
    assert_eq!(row.verdict, Verdict::Inconclusive, "{}", row.rule);
    assert!(matches!(row.rule, Rule::ControlMoved { .. }));
    // Few pairs cannot be decisive.
    let few = compare_arms(
        &Figures::of(&arms_run(4, |s| if s == "epoll" { 1.2 } else { 1.0 })),
        &SUBJECTS,
        Noise::Keep,
    );
    assert_eq!(only_row(&few, "epoll", CPU).verdict, Verdict::Inconclusive);
}

/// The old history rule (5 runs, Q3 + 1.5·IQR) on stationary noise calls changes at a rate far
/// above 1%; the rule now in force (20 runs, Q3 + 3·IQR) stays near it. Seeded: the same
/// series every time.
#[test]
fn the_old_history_rule_fires_on_stationary_noise_and_the_new_one_does_not() {
    let mut rng = Lcg(42);
    let (mut old_fired, mut new_fired, trials) = (0, 0, 4000);
    for _ in 0..trials {
        let series: Vec<f64> = (0..22).map(|_| 4.0 * (1.0 + 0.09 * rng.normal())).collect();
        let next = 4.0 * (1.0 + 0.09 * rng.normal());
        let last = *series.last().unwrap();
        let change = (next / last - 1.0).abs();
        let old = fence(&run_to_run_changes(&series[series.len() - 5..]), 1.5);
        let new = fence(&run_to_run_changes(&series), 3.0);
        old_fired += usize::from(change > old.max(0.02));
        new_fired += usize::from(change > new.max(0.10));
    }
    let (old_rate, new_rate) = (
        old_fired as f64 / trials as f64,
        new_fired as f64 / trials as f64,
    );
    assert!(old_rate > 0.08, "old rule {old_rate}");
    assert!(new_rate < 0.015, "new rule {new_rate}");
}

/// A seeded generator: a linear congruential sequence, and normal draws by Box–Muller.
pub(super) struct Lcg(pub(super) u64);

impl Lcg {
    pub(super) fn uniform(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    pub(super) fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

#[test]
fn a_stored_calibration_sets_the_band_while_it_fits_the_run() {
    let a = run("a", 1.0, "m", pair(4.0, 4.0));
    let b = run("b", 2.0, "m", pair(4.8, 4.0));
    let band = |learned: f64, settings: String| Calibration {
        experiment: "echo".into(),
        settings,
        metric: CPU.into(),
        band: 0.12,
        samples: 120,
        runs: 10,
        commit: "c0ffee".into(),
        learned,
    };
    let judged = |stored: &[Calibration]| {
        let c = compare_figures(
            &Figures::of(&a),
            &Figures::of(&b),
            &[],
            stored,
            &SUBJECTS,
            Noise::Keep,
        );
        only_row(&c, "epoll", CPU)
    };
    // +20% against an unmoved peer: inconclusive at the 60% default, a regression at a
    // calibrated 12%.
    assert_eq!(judged(&[]).verdict, Verdict::Inconclusive);
    let fitting = band(2.0 + MAX_AGE - 1.0, settings(&b.run, "echo"));
    let row = judged(std::slice::from_ref(&fitting));
    assert_eq!(row.verdict, Verdict::Regression, "{}", row.rule);
    assert!(
        matches!(
            row.rule,
            Rule::Timing {
                source: BandSource::Calibration { samples: 120 },
                ..
            }
        ),
        "{}",
        row.rule
    );
    // Too old for the run, or learned with other settings: not trusted.
    let aged = band(2.0 + MAX_AGE + 1.0, settings(&b.run, "echo"));
    assert_eq!(judged(&[aged]).verdict, Verdict::Inconclusive);
    let other = band(2.0, "duration=5;quick=false".into());
    assert_eq!(judged(&[other]).verdict, Verdict::Inconclusive);
}

use proptest::prelude::*;

use super::*;
use crate::record::{Point, Run};
use crate::testing::testbed;

fn run(id: &str, started: f64, host: &str, points: Vec<Point>) -> RunRecords {
    RunRecords {
        run: Run {
            id: id.into(),
            started,
            finished: Some(started + 1.0),
            iomux_version: "0".into(),
            git_commit: id.into(),
            command_line: vec![],
            testbed: testbed(host),
            quick: false,
            experiments: vec![],
        },
        points,
    }
}

/// A subject's points at conns=100: its repeats and their median.
fn measured(subject: &str, metric: &str, repeats: &[f64]) -> Vec<Point> {
    let point = || Point::new("echo", subject).param("conns", 100);
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

fn reference(experiment: &str) -> Option<&'static str> {
    (experiment == "echo").then_some("tokio")
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
fn repeats_that_do_not_overlap_are_a_regression_and_overlapping_ones_noise() {
    let cpu = "server_cpu_us_per_msg";
    let a = run("a", 1.0, "m", measured("epoll", cpu, &[4.0, 4.1, 4.2]));
    let slower = run("b", 2.0, "m", measured("epoll", cpu, &[5.0, 5.1, 5.2]));
    let c = compare(&a, &slower, &[], &reference, Noise::Keep);
    let row = only_row(&c, "epoll", cpu);
    assert_eq!(row.verdict, Verdict::Regression, "{row:?}");
    assert!(
        row.rule.to_string().starts_with("repeats: ranges apart"),
        "{}",
        row.rule
    );
    assert!((row.ratio - 5.1 / 4.1).abs() < 1e-9);
    let jittery = run("b", 2.0, "m", measured("epoll", cpu, &[3.9, 4.6, 4.3]));
    assert_eq!(
        only_row(
            &compare(&a, &jittery, &[], &reference, Noise::Keep),
            "epoll",
            cpu
        )
        .verdict,
        Verdict::Noise
    );
    let faster = run("b", 2.0, "m", measured("epoll", cpu, &[3.0, 3.1, 3.2]));
    assert_eq!(
        only_row(
            &compare(&a, &faster, &[], &reference, Noise::Keep),
            "epoll",
            cpu
        )
        .verdict,
        Verdict::Improvement
    );
}

#[test]
fn higher_is_better_for_throughput() {
    let a = run(
        "a",
        1.0,
        "m",
        measured("epoll", "msgs_per_s", &[100.0, 101.0, 102.0]),
    );
    let b = run(
        "b",
        2.0,
        "m",
        measured("epoll", "msgs_per_s", &[80.0, 81.0, 82.0]),
    );
    assert_eq!(
        only_row(
            &compare(&a, &b, &[], &reference, Noise::Keep),
            "epoll",
            "msgs_per_s"
        )
        .verdict,
        Verdict::Regression
    );
}

#[test]
fn history_sets_the_noise_band_when_there_is_enough() {
    let cpu = "server_cpu_us_per_msg";
    // Ten quiet past runs (±1%), then a 6% step: the fence is far below 6%.
    let history: Vec<RunRecords> = (0..10)
        .map(|i| {
            let v = if i % 2 == 0 { 4.0 } else { 4.04 };
            run(
                &format!("h{i}"),
                i as f64,
                "m",
                measured("epoll", cpu, &[v]),
            )
        })
        .collect();
    let a = run("a", 20.0, "m", measured("epoll", cpu, &[4.0]));
    let b = run("b", 21.0, "m", measured("epoll", cpu, &[4.24]));
    let c = compare(&a, &b, &history, &reference, Noise::Keep);
    let row = only_row(&c, "epoll", cpu);
    assert_eq!(row.verdict, Verdict::Regression, "{row:?}");
    assert!(row.rule.to_string().starts_with("history:"), "{}", row.rule);
    // Without history the same 6% is within the default band for a timing.
    let row = only_row(&compare(&a, &b, &[], &reference, Noise::Keep), "epoll", cpu);
    assert_eq!(row.verdict, Verdict::Noise);
    assert!(row.rule.to_string().starts_with("default:"), "{}", row.rule);
}

#[test]
fn different_testbeds_compare_ratios_to_the_reference_only() {
    let cpu = "server_cpu_us_per_msg";
    let mut a_points = measured("epoll", cpu, &[4.0, 4.1, 4.2]);
    a_points.extend(measured("tokio", cpu, &[4.0, 4.1, 4.2]));
    // Machine B is twice as slow for everyone: no regression.
    let mut b_points = measured("epoll", cpu, &[8.0, 8.2, 8.4]);
    b_points.extend(measured("tokio", cpu, &[8.0, 8.2, 8.4]));
    let a = run("a", 1.0, "fast", a_points.clone());
    let b = run("b", 2.0, "slow", b_points);
    let c = compare(&a, &b, &[], &reference, Noise::Keep);
    assert!(matches!(c.mode, Mode::Relative { .. }));
    let row = only_row(&c, "epoll", cpu);
    assert_eq!(row.verdict, Verdict::Noise, "{row:?}");
    assert!((row.a - 1.0).abs() < 1e-9 && (row.b - 1.0).abs() < 1e-9);
    // On machine C epoll alone is 1.5x slower relative to tokio: a regression.
    let mut c_points = measured("epoll", cpu, &[12.0, 12.3, 12.6]);
    c_points.extend(measured("tokio", cpu, &[8.0, 8.2, 8.4]));
    let c = compare(
        &a,
        &run("c", 3.0, "slow", c_points),
        &[],
        &reference,
        Noise::Keep,
    );
    assert_eq!(only_row(&c, "epoll", cpu).verdict, Verdict::Regression);
    assert!(c.rows.iter().all(|r| &*r.subject != "tokio"));
}

#[test]
fn any_new_error_is_a_regression() {
    let a = run("a", 1.0, "m", measured("epoll", "errors", &[0.0]));
    let b = run("b", 2.0, "m", measured("epoll", "errors", &[1.0]));
    let row = only_row(
        &compare(&a, &b, &[], &reference, Noise::Keep),
        "epoll",
        "errors",
    );
    assert_eq!(row.verdict, Verdict::Regression);
}

#[test]
fn regressions_come_first_and_one_sided_points_are_listed() {
    let cpu = "server_cpu_us_per_msg";
    let mut a_points = measured("epoll", cpu, &[4.0, 4.1, 4.2]);
    a_points.extend(measured("poll", cpu, &[4.0, 4.1, 4.2]));
    a_points.extend(measured("select", cpu, &[4.0]));
    let mut b_points = measured("epoll", cpu, &[3.0, 3.1, 3.2]);
    b_points.extend(measured("poll", cpu, &[6.0, 6.1, 6.2]));
    b_points.extend(measured("uring", cpu, &[1.0]));
    let c = compare(
        &run("a", 1.0, "m", a_points),
        &run("b", 2.0, "m", b_points),
        &[],
        &reference,
        Noise::Keep,
    );
    assert_eq!(c.rows[0].verdict, Verdict::Regression);
    assert_eq!(&*c.rows[0].subject, "poll");
    assert_eq!(c.only_in_a, vec!["echo/select/conns=100".to_owned()]);
    assert_eq!(c.only_in_b, vec!["echo/uring/conns=100".to_owned()]);
}

#[test]
fn a_history_step_is_a_change_point() {
    let values = [4.0, 4.04, 4.0, 4.02, 4.01, 5.0, 5.02, 4.98];
    let (steps, rule) = change_points(&values, &metric::info("server_cpu_us_per_msg"));
    let marked: Vec<usize> = steps
        .iter()
        .enumerate()
        .filter(|s| s.1.change_point)
        .map(|s| s.0)
        .collect();
    assert_eq!(marked, vec![5], "{rule}");
}

proptest! {
    /// A run compared with itself has no regressions or improvements, whatever its figures.
    #[test]
    fn a_run_against_itself_is_all_noise(values in proptest::collection::vec(0.001f64..1e6, 1..6)) {
        let a = run("a", 1.0, "m", measured("epoll", "server_cpu_us_per_msg", &values));
        let b = run("b", 2.0, "m", a.points.clone());
        let c = compare(&a, &b, &[], &reference, Noise::Keep);
        prop_assert!(c.rows.iter().all(|r| r.verdict == Verdict::Noise));
    }

    /// The fence never lies below the third quartile.
    #[test]
    fn the_fence_is_above_the_third_quartile(values in proptest::collection::vec(0.0f64..1.0, 1..40)) {
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        prop_assert!(upper_fence(&values) >= quantile(&sorted, 0.75) - 1e-12);
    }
}

#[test]
fn counting_noise_keeps_every_other_row_and_the_counts() {
    let cpu = "server_cpu_us_per_msg";
    let mut a_points = measured("epoll", cpu, &[4.0, 4.1, 4.2]);
    a_points.extend(measured("poll", cpu, &[4.0, 4.1, 4.2]));
    let mut b_points = measured("epoll", cpu, &[4.0, 4.1, 4.2]);
    b_points.extend(measured("poll", cpu, &[6.0, 6.1, 6.2]));
    let (a, b) = (run("a", 1.0, "m", a_points), run("b", 2.0, "m", b_points));
    let kept = compare(&a, &b, &[], &reference, Noise::Keep);
    let counted = compare(&a, &b, &[], &reference, Noise::Count);
    assert_eq!(counted.noise_rows, 1);
    assert!(counted.rows.iter().all(|r| r.verdict != Verdict::Noise));
    for verdict in [Verdict::Regression, Verdict::Improvement, Verdict::Noise] {
        assert_eq!(kept.count(verdict), counted.count(verdict), "{verdict:?}");
    }
}

#[test]
fn a_timing_that_falls_to_zero_is_below_the_clock_not_an_improvement() {
    let user = "server_user_us_per_msg";
    let a = run("a", 1.0, "m", measured("uring", user, &[0.17, 0.18, 0.31]));
    let b = run("b", 2.0, "m", measured("uring", user, &[0.0, 0.0, 0.0]));
    let row = only_row(
        &compare(&a, &b, &[], &reference, Noise::Keep),
        "uring",
        user,
    );
    assert_eq!(row.verdict, Verdict::Noise);
    assert_eq!(row.rule, Rule::ZeroTiming);
}

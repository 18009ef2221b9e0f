//! `runs compare` and `runs history`: the store's records judged by `iomux_store::compare`,
//! printed as tables (or JSON).
use std::io;

use iomux_store::compare::{self, short, Comparison, Mode, Verdict};
use iomux_store::record::{PointKey, Run};
use iomux_store::{metric, Store};

use super::{print_json, say, short_testbed};
use crate::bench::{self, Experiment};
use crate::units::Utc;

/// One run as a line: id, commit, start, testbed.
fn describe(run: &Run) -> String {
    format!(
        "{} (commit {}, {} UTC, testbed {} {})",
        run.id,
        run.git_commit,
        Utc::of(run.started).minutes(),
        run.testbed.host,
        short_testbed(&run.testbed.fingerprint())
    )
}

/// Compares run `b` with run `a`; prints the verdicts; returns the number of regressions.
pub fn compare(
    store: &mut dyn Store,
    a: &str,
    b: &str,
    only_metric: Option<&str>,
    all: bool,
    json: bool,
) -> io::Result<usize> {
    // The table hides noise rows unless --all: they are only counted then (with --metric they
    // are kept, to be counted for that metric alone).
    let noise = if all || json || only_metric.is_some() {
        compare::Noise::Keep
    } else {
        compare::Noise::Count
    };
    let (a, b, mut comparison) =
        compare::compare_stored(store, a, b, &Experiment::reference, noise)?;
    if let Some(name) = only_metric {
        comparison.rows.retain(|r| &*r.metric == name);
    }
    let regressions = comparison.count(Verdict::Regression);
    if json {
        print_json(&comparison)?;
    } else {
        print_comparison(&a, &b, &comparison, all);
    }
    Ok(regressions)
}

fn print_comparison(a: &Run, b: &Run, c: &Comparison, all: bool) {
    say(&format!("A: {}", describe(a)));
    say(&format!("B: {}", describe(b)));
    match &c.mode {
        Mode::Absolute => say(&format!(
            "same testbed: the figures themselves are compared; {} earlier run{} of it inform{} the noise bands",
            c.history_runs,
            if c.history_runs == 1 { "" } else { "s" },
            if c.history_runs == 1 { "s" } else { "" },
        )),
        Mode::Relative { references } => {
            let refs: Vec<String> = references.iter().map(|(e, s)| format!("{e}: {s}")).collect();
            say(&format!(
                "different testbeds (A on {} {}, B on {} {}): absolute figures are not comparable, so each subject is taken relative to its experiment's reference in the same run ({}) and those ratios are compared",
                a.testbed.host,
                short_testbed(&a.testbed.fingerprint()),
                b.testbed.host,
                short_testbed(&b.testbed.fingerprint()),
                refs.join(", ")
            ));
        }
    }
    if a.quick || b.quick {
        say("note: a --quick run is a smoke run; its figures are not measurements");
    }
    say(&format!(
        "{} regressions, {} improvements, {} changed, {} noise; {} points only in A, {} only in B",
        c.count(Verdict::Regression),
        c.count(Verdict::Improvement),
        c.count(Verdict::Changed),
        c.count(Verdict::Noise),
        c.only_in_a.len(),
        c.only_in_b.len()
    ));
    let shown: Vec<Vec<String>> = c
        .rows
        .iter()
        .filter(|r| all || r.verdict != Verdict::Noise)
        .map(|r| {
            vec![
                r.verdict.name().to_owned(),
                if r.ratio.is_finite() {
                    format!("{:.3}x", r.ratio)
                } else {
                    "from 0".into()
                },
                r.point.to_string(),
                r.metric.to_string(),
                short(r.a),
                short(r.b),
                r.rule.to_string(),
            ]
        })
        .collect();
    if !shown.is_empty() {
        say("");
        say(&bench::aligned_table(
            &["verdict", "B/A", "point", "metric", "A", "B", "rule"],
            &shown,
            &[false, true, false, false, true, true, false],
        ));
    }
    let hidden = c.rows.len() - shown.len() + c.noise_rows;
    if hidden > 0 {
        say(&format!(
            "({hidden} noise rows not shown: --all shows them)"
        ));
    }
}

/// One run's figure in a point's history.
#[derive(Clone, Debug, serde::Serialize)]
pub struct HistoryRow {
    pub run: String,
    pub started: f64,
    pub git_commit: String,
    pub median: f64,
    pub repeats: Vec<f64>,
    /// The change from the previous run, as a fraction.
    pub change: Option<f64>,
    pub change_point: bool,
}

/// One point's metric over the stored runs of one testbed (`runs history`, the web page).
#[derive(Clone, Debug, serde::Serialize)]
pub struct History {
    pub point: String,
    pub metric: String,
    pub better: metric::Better,
    /// The testbed's fingerprint.
    pub testbed: String,
    /// Its host name.
    pub host: String,
    /// How change points were found.
    pub rule: String,
    pub runs: Vec<HistoryRow>,
    /// Other testbeds that measured the point: host, fingerprint, runs.
    pub other_testbeds: Vec<(String, String, u64)>,
}

/// Prints one point's metric over the runs of one testbed.
pub fn history(
    store: &mut dyn Store,
    point: &str,
    metric_name: Option<&str>,
    testbed: Option<&str>,
    json: bool,
) -> io::Result<()> {
    let h = history_of(store, point, metric_name, testbed)?;
    if json {
        return print_json(&h);
    }
    print_history(&h);
    Ok(())
}

/// One point's metric over the runs of one testbed (default: the testbed that ran it last).
pub fn history_of(
    store: &mut dyn Store,
    point: &str,
    metric_name: Option<&str>,
    testbed: Option<&str>,
) -> io::Result<History> {
    let key: PointKey = point.parse().map_err(io::Error::other)?;
    let testbeds = store.point_testbeds(&key)?;
    if testbeds.is_empty() {
        return Err(io::Error::other(format!(
            "no stored run measured {key} (`iomux runs show RUN` prints a run's points as `runs compare` names them)"
        )));
    }
    let chosen = match testbed {
        None => &testbeds[0],
        Some(t) => testbeds
            .iter()
            .find(|u| u.fingerprint.starts_with(t) || u.host == t)
            .ok_or_else(|| {
                io::Error::other(format!(
                    "testbed {t:?} has no runs of {key}; these do: {}",
                    testbeds
                        .iter()
                        .map(|u| format!("{} {}", u.host, short_testbed(&u.fingerprint)))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?,
    };
    let entries = store.history(&chosen.fingerprint, &key)?;
    let name = metric_name.unwrap_or_else(|| Experiment::headline(&key.experiment));
    let info = metric::info(name);
    let series: Vec<(&iomux_store::HistoryEntry, f64)> = entries
        .iter()
        .filter_map(|e| Some((e, e.median.as_ref()?.get(name)?)))
        .collect();
    if series.is_empty() {
        let names: Vec<String> = entries
            .iter()
            .filter_map(|e| e.median.as_ref())
            .flat_map(|p| p.metrics.keys().cloned())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        return Err(io::Error::other(format!(
            "the runs of {key} have no metric {name:?} (they have: {})",
            names.join(", ")
        )));
    }
    let values: Vec<f64> = series.iter().map(|s| s.1).collect();
    let (steps, rule) = compare::change_points(&values, &info);
    let rows: Vec<HistoryRow> = series
        .iter()
        .zip(&steps)
        .map(|((entry, median), step)| HistoryRow {
            run: entry.run.clone(),
            started: entry.started,
            git_commit: entry.git_commit.clone(),
            median: *median,
            repeats: entry.repeats.iter().filter_map(|p| p.get(name)).collect(),
            change: step.change,
            change_point: step.change_point,
        })
        .collect();
    Ok(History {
        point: key.to_string(),
        metric: name.to_owned(),
        better: info.better,
        testbed: chosen.fingerprint.clone(),
        host: chosen.host.clone(),
        rule,
        runs: rows,
        other_testbeds: testbeds
            .iter()
            .filter(|u| u.fingerprint != chosen.fingerprint)
            .map(|u| (u.host.clone(), u.fingerprint.clone(), u.runs))
            .collect(),
    })
}

fn print_history(h: &History) {
    let (key, name, rows, rule) = (&h.point, &h.metric, &h.runs, &h.rule);
    let others: Vec<String> = h
        .other_testbeds
        .iter()
        .map(|(host, fingerprint, runs)| {
            format!("{host} {} ({runs} runs)", short_testbed(fingerprint))
        })
        .collect();
    say(&format!(
        "{key} · {name} ({}) on testbed {} {}{}",
        match h.better {
            metric::Better::Lower => "lower is better",
            metric::Better::Higher => "higher is better",
            metric::Better::Neither => "a count",
        },
        h.host,
        short_testbed(&h.testbed),
        if others.is_empty() {
            String::new()
        } else {
            format!("; also measured on {} (--testbed)", others.join(", "))
        }
    ));
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let range = match (
                r.repeats.iter().copied().reduce(f64::min),
                r.repeats.iter().copied().reduce(f64::max),
            ) {
                (Some(lo), Some(hi)) if r.repeats.len() > 1 => {
                    format!("{} to {}", short(lo), short(hi))
                }
                _ => String::new(),
            };
            vec![
                Utc::of(r.started).minutes(),
                r.run.clone(),
                r.git_commit.clone(),
                short(r.median),
                range,
                r.change
                    .map(|c| format!("{:+.1}%", c * 100.0))
                    .unwrap_or_default(),
                if r.change_point {
                    "◆ change point".into()
                } else {
                    String::new()
                },
            ]
        })
        .collect();
    say(&bench::aligned_table(
        &[
            "started (UTC)",
            "run",
            "commit",
            "median",
            "repeats",
            "change",
            "",
        ],
        &table,
        &[false, false, false, true, true, true, false],
    ));
    say(rule);
}

//! `runs compare` and `runs history`: the store's records judged by `iomux_store::compare`,
//! printed as tables (or JSON).
use std::io;

use iomux_store::compare::{self, short, Comparison, Mode, Verdict};
use iomux_store::record::Run;
use iomux_store::{metric, Store};

use super::{print_json, say, short_testbed};
use iomux_lab::aligned_table;
use iomux_lab::units::Utc;
use iomux_store::history::{self, History};

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

/// Compares run `b` with run `a` (or, with no `b`, the arms of run `a`); prints the verdicts;
/// returns the number of decisive regressions.
pub fn compare(
    store: &mut dyn Store,
    a: &str,
    b: Option<&str>,
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
    let (a, b, mut comparison) = match b {
        Some(b) => compare::compare_stored(store, a, b, &iomux_lab::SUBJECTS, noise)?,
        None => {
            let (run, comparison) =
                compare::compare_arms_stored(store, a, &iomux_lab::SUBJECTS, noise)?;
            if comparison.rows.is_empty() && comparison.noise_rows == 0 {
                return Err(io::Error::other(format!(
                    "run {} has no interleaved arms (measure with `iomux bench echo --against OLD_IOMUX`), or name a second run to compare it with",
                    run.id
                )));
            }
            (run.clone(), run, comparison)
        }
    };
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
    if matches!(c.mode, Mode::Arms) {
        say(&format!("run: {}", describe(a)));
        say("interleaved arms: A = the --against binary, B = this build; each pair measured back to back (ABBA), so the machine's drift cancels in their ratio; peers run in both arms as controls");
    } else {
        say(&format!("A: {}", describe(a)));
        say(&format!("B: {}", describe(b)));
    }
    match &c.mode {
        Mode::Absolute => say(&format!(
            "same testbed: the figures themselves are compared, timings also against the same run's peers; {} earlier run{} with the same settings inform{} the noise bands",
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
        Mode::Arms => {}
    }
    if a.quick || b.quick {
        say("note: a --quick run is a smoke run; its figures are not measurements");
    }
    if let Some(commit) = &c.same_commit {
        say(&format!(
            "A/A: both runs are commit {commit}: the code is the same, so any decisive verdict here is a false one"
        ));
    }
    say(&format!(
        "{} regressions, {} improvements, {} changed, {} inconclusive, {} noise; {} points only in A, {} only in B",
        c.count(Verdict::Regression),
        c.count(Verdict::Improvement),
        c.count(Verdict::Changed),
        c.count(Verdict::Inconclusive),
        c.count(Verdict::Noise),
        c.only_in_a.len(),
        c.only_in_b.len()
    ));
    say(&format!(
        "{} rows judged; chance alone would give about {:.2} decisive verdicts at these bands",
        c.judged, c.chance
    ));
    if !c.controls_moved.is_empty() {
        say(&format!(
            "controls moved ({}): the arms did not see the same machine, so no timed verdict stands; rerun",
            c.controls_moved.join("; ")
        ));
    }
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
                if all {
                    r.rule.to_string()
                } else {
                    r.rule.brief()
                },
            ]
        })
        .collect();
    if !shown.is_empty() {
        say("");
        say(&aligned_table(
            &["verdict", "B/A", "point", "metric", "A", "B", "rule"],
            &shown,
            &[false, true, false, false, true, true, false],
        ));
    }
    if !all && c.count(Verdict::Inconclusive) > 0 {
        let source = c.rows.iter().find_map(|r| match r.rule {
            compare::Rule::Timing { source, .. } if r.verdict == Verdict::Inconclusive => {
                Some(source)
            }
            _ => None,
        });
        say(&format!(
            "inconclusive: moved at least the metric's minimum effect, but within the noise band two runs have here{}; two runs cannot tell such a change from the machine's drift: measure both builds in one run, pair by pair (`iomux bench echo ... --against OLD_IOMUX`, then `iomux runs compare latest`)",
            source.map_or(String::new(), |s| format!(" ({s})"))
        ));
    }
    let hidden = c.rows.len() - shown.len() + c.noise_rows;
    if hidden > 0 {
        say(&format!(
            "({hidden} noise rows not shown: --all shows them)"
        ));
    }
}

/// Prints one point's metric over the runs of one testbed.
pub fn history(
    store: &mut dyn Store,
    point: &str,
    metric_name: Option<&str>,
    testbed: Option<&str>,
    json: bool,
) -> io::Result<()> {
    let h = history::of(store, point, metric_name, testbed, &iomux_lab::headline)?;
    if json {
        return print_json(&h);
    }
    print_history(&h);
    Ok(())
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
    say(&aligned_table(
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

/// `runs calibration`: the noise bands stored for a testbed (by default the one that ran the
/// newest run), newest first.
pub fn calibration(store: &mut dyn Store, testbed: Option<&str>, json: bool) -> io::Result<()> {
    let newest = store.runs(&iomux_store::RunFilter {
        testbed: testbed.map(str::to_owned),
        limit: Some(1),
        ..Default::default()
    })?;
    let Some(newest) = newest.first() else {
        return Err(io::Error::other(match testbed {
            Some(t) => format!("no stored run on a testbed {t}"),
            None => format!("{} holds no run", store.describe()),
        }));
    };
    let bands = store.calibrations(&newest.testbed)?;
    if json {
        return print_json(&bands);
    }
    let place = format!("{} {}", newest.host, short_testbed(&newest.testbed));
    if bands.is_empty() {
        say(&format!(
            "no noise band stored for testbed {place}: `iomux bench --calibrate 8 echo ...` learns one (so do any two recorded runs of one clean commit with the same settings, once they give {} changes)",
            compare::CALIBRATION_MIN_SAMPLES
        ));
        return Ok(());
    }
    say(&format!(
        "noise bands of testbed {place}: two runs with an experiment's settings are judged by them for {} days after they were learned",
        (compare::calibration::MAX_AGE / 86_400.0).round()
    ));
    let rows: Vec<Vec<String>> = bands
        .iter()
        .map(|b| {
            vec![
                b.experiment.clone(),
                b.metric.clone(),
                format!("±{:.1}%", b.band * 100.0),
                b.samples.to_string(),
                b.runs.to_string(),
                b.commit.clone(),
                Utc::of(b.learned).minutes(),
                b.settings.clone(),
            ]
        })
        .collect();
    say(&aligned_table(
        &[
            "experiment",
            "metric",
            "band",
            "changes",
            "runs",
            "commit",
            "learned (UTC)",
            "settings",
        ],
        &rows,
        &[false, false, true, true, true, false, false, false],
    ));
    Ok(())
}

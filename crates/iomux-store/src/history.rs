//! One point's metric over the stored runs of one testbed, with its change points marked: what
//! `iomux runs history` prints and the front end's history page draws.
use serde::Serialize;

use crate::compare;
use crate::error::{Error, ErrorKind, Result};
use crate::metric;
use crate::record::PointKey;
use crate::store::{HistoryEntry, Store};

/// One run's figure in a point's history.
#[derive(Clone, Debug, Serialize)]
pub struct HistoryRow {
    /// The run's id.
    pub run: String,
    /// When the run started, in seconds since the Unix epoch.
    pub started: f64,
    /// The commit the run's binary was built from.
    pub git_commit: String,
    /// The metric's value at the run's median point.
    pub median: f64,
    /// The metric's value in each repeat.
    pub repeats: Vec<f64>,
    /// The change from the previous run, as a fraction.
    pub change: Option<f64>,
    /// The change is beyond the series' noise: a change point.
    pub change_point: bool,
}

/// One point's metric over the stored runs of one testbed (`runs history`, the web page).
#[derive(Clone, Debug, Serialize)]
pub struct History {
    /// The point's key.
    pub point: String,
    /// The metric's name.
    pub metric: String,
    /// Which direction of the metric is an improvement.
    pub better: metric::Better,
    /// The testbed's fingerprint.
    pub testbed: String,
    /// Its host name.
    pub host: String,
    /// How change points were found.
    pub rule: String,
    /// The runs that measured the point on this testbed, oldest first.
    pub runs: Vec<HistoryRow>,
    /// Other testbeds that measured the point: host, fingerprint, runs.
    pub other_testbeds: Vec<(String, String, u64)>,
}

/// One point's metric over the runs of one testbed (default: the testbed that ran it last).
pub fn of(
    store: &mut dyn Store,
    point: &str,
    metric_name: Option<&str>,
    testbed: Option<&str>,
    headline: &dyn Fn(&str) -> &'static str,
) -> Result<History> {
    let key: PointKey = point
        .parse()
        .map_err(|e: String| Error::new(ErrorKind::Other, e))?;
    let testbeds = store.point_testbeds(&key)?;
    if testbeds.is_empty() {
        return Err(Error::new(ErrorKind::NotFound, format!(
            "no stored run measured {key} (`iomux runs show RUN` prints a run's points as `runs compare` names them)"
        )));
    }
    let chosen = match testbed {
        None => &testbeds[0],
        Some(t) => testbeds
            .iter()
            .find(|u| u.fingerprint.starts_with(t) || u.host == t)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::NotFound,
                    format!(
                        "testbed {t:?} has no runs of {key}; these do: {}",
                        testbeds
                            .iter()
                            .map(|u| format!(
                                "{} {}",
                                u.host,
                                &u.fingerprint[..u.fingerprint.len().min(8)]
                            ))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })?,
    };
    let entries = store.history(&chosen.fingerprint, &key)?;
    let name = metric_name.unwrap_or_else(|| headline(&key.experiment));
    let info = metric::info(name);
    let series: Vec<(&HistoryEntry, f64)> = entries
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
        return Err(Error::new(
            ErrorKind::NotFound,
            format!(
                "the runs of {key} have no metric {name:?} (they have: {})",
                names.join(", ")
            ),
        ));
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

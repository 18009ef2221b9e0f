//! A run's points as tables for the run page: one table per point group (the points of one
//! experiment that share their parameters, a row per subject: echo's groups are its terminal
//! tables; wait's and idle's are the rows of theirs), every metric a column with its direction from the metric catalogue, the best
//! figure of each column, and each row's headline figure as a ratio to the experiment's
//! reference subject, judged against the metric's minimum effect (10% for timings, 3% for counts).
//!
//! A few parameters tell rows apart instead of making groups ([`ROW_PARAMS`]): a point skipped
//! (and why), a soak's sample number, a soak's verdict.
use std::collections::BTreeMap;

use iomux_store::metric::{self, Better};
use iomux_store::record::Point;
use serde::Serialize;

/// Parameters shown in their own column instead of splitting a group.
pub const ROW_PARAMS: &[&str] = &["sample", "verdict", "skipped"];

/// One table: the points of one group.
#[derive(Clone, Debug, Serialize)]
pub struct Table {
    /// The group's parameters, as `name=value, ...` (empty when it has none).
    pub title: String,
    /// The subject the ratios are to, when the group has it.
    pub reference: Option<String>,
    /// The metric the ratios are of.
    pub ratio_metric: Option<String>,
    /// The row parameters some row of this group has.
    pub row_params: Vec<String>,
    /// The metric columns, in the catalogue's order.
    pub columns: Vec<Column>,
    /// A row per point, in the order measured.
    pub rows: Vec<Row>,
}

/// One metric column.
#[derive(Clone, Debug, Serialize)]
pub struct Column {
    /// The metric's name, as recorded.
    pub metric: String,
    /// A short header.
    pub label: String,
    /// What it measures (the catalogue's words).
    pub about: &'static str,
    /// Which way is better.
    pub better: Better,
    /// The column's best figure, when at least two rows differ in it and a direction is known.
    pub best: Option<f64>,
}

/// One row: one point.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// The subject.
    pub subject: String,
    /// The point's key, for its history page.
    pub point: String,
    /// The values of the table's row parameters (text), in its `row_params` order.
    pub params: Vec<Option<String>>,
    /// The values, in the table's column order.
    pub values: Vec<Option<f64>>,
    /// The ratio metric over the reference subject's, in the same group and row parameters.
    pub ratio: Option<f64>,
    /// `reference`, `better`, `worse` or `same` (within the metric's minimum effect).
    pub ratio_class: Option<&'static str>,
}

/// The tables of `experiment`'s medians among `points`; `reference` and `headline` are the
/// experiment's (the headline is the ratio metric where the group has it, else its first
/// metric with a direction).
pub fn tables(
    points: &[Point],
    experiment: &str,
    reference: Option<&str>,
    headline: &str,
) -> Vec<Table> {
    let mut groups: Vec<(BTreeMap<String, serde_json::Value>, Vec<&Point>)> = Vec::new();
    for pt in points
        .iter()
        .filter(|p| p.experiment == experiment && p.repeat.is_none())
    {
        let key = group_key(pt);
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, members)) => members.push(pt),
            None => groups.push((key, vec![pt])),
        }
    }
    groups
        .into_iter()
        .map(|(key, members)| table(&key, &members, reference, headline))
        .collect()
}

fn group_key(pt: &Point) -> BTreeMap<String, serde_json::Value> {
    pt.params
        .iter()
        .filter(|(name, _)| !ROW_PARAMS.contains(&name.as_str()))
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect()
}

fn row_params_of(pt: &Point) -> BTreeMap<&str, String> {
    pt.params
        .iter()
        .filter(|(name, _)| ROW_PARAMS.contains(&name.as_str()))
        .map(|(n, v)| (n.as_str(), text(v)))
        .collect()
}

fn text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A short header for a metric: `server_cpu_us_per_msg` -> `server cpu µs/msg`.
pub fn label(metric: &str) -> String {
    metric
        .split('_')
        .fold((String::new(), false), |(mut out, per), word| {
            match word {
                "per" if !out.is_empty() => return (out, true),
                _ if per => out.push('/'),
                _ if !out.is_empty() => out.push(' '),
                _ => {}
            }
            out.push_str(if word == "us" { "µs" } else { word });
            (out, false)
        })
        .0
}

fn table(
    key: &BTreeMap<String, serde_json::Value>,
    members: &[&Point],
    reference: Option<&str>,
    headline: &str,
) -> Table {
    let title = key
        .iter()
        .map(|(n, v)| format!("{n}={}", text(v)))
        .collect::<Vec<_>>()
        .join(", ");
    // The columns: every metric some row has a figure of, in the catalogue's order.
    let order = |name: &str| {
        metric::METRICS
            .iter()
            .position(|m| m.name == name)
            .unwrap_or(usize::MAX)
    };
    let mut names: Vec<&str> = Vec::new();
    for pt in members {
        for (name, value) in &pt.metrics {
            if value.is_some() && !names.contains(&name.as_str()) {
                names.push(name);
            }
        }
    }
    names.sort_by_key(|n| (order(n), *n));
    let row_params: Vec<String> = ROW_PARAMS
        .iter()
        .filter(|p| members.iter().any(|pt| pt.params.contains_key(**p)))
        .map(|p| p.to_string())
        .collect();
    let columns: Vec<Column> = names
        .iter()
        .map(|&name| {
            let info = metric::info(name);
            let values: Vec<f64> = members
                .iter()
                .filter_map(|pt| pt.get(name))
                .filter(|v| v.is_finite())
                .collect();
            let differ = values.iter().any(|v| *v != values[0]);
            let best = match info.better {
                _ if values.len() < 2 || !differ => None,
                Better::Lower => values.iter().copied().reduce(f64::min),
                Better::Higher => values.iter().copied().reduce(f64::max),
                Better::Neither => None,
            };
            Column {
                metric: name.to_owned(),
                label: label(name),
                about: if metric::known(name) { info.about } else { "" },
                better: info.better,
                best,
            }
        })
        .collect();
    let ratio_metric = names.iter().copied().find(|n| *n == headline).or_else(|| {
        names
            .iter()
            .copied()
            .find(|n| metric::info(n).better != Better::Neither)
    });
    let reference_here = reference.filter(|r| members.iter().any(|pt| pt.subject == *r));
    let rows = members
        .iter()
        .map(|pt| {
            let mine = row_params_of(pt);
            let (ratio, ratio_class) = match (ratio_metric, reference_here) {
                (Some(m), Some(r)) => ratio_of(pt, members, m, r),
                _ => (None, None),
            };
            Row {
                subject: pt.subject.clone(),
                point: pt.key_text(),
                params: row_params
                    .iter()
                    .map(|p| mine.get(p.as_str()).cloned())
                    .collect(),
                values: names.iter().map(|n| pt.get(n)).collect(),
                ratio,
                ratio_class,
            }
        })
        .collect();
    Table {
        title,
        reference: reference_here.map(str::to_owned),
        ratio_metric: ratio_metric.map(str::to_owned),
        row_params,
        columns,
        rows,
    }
}

/// `pt`'s `metric` over the reference subject's at the same row parameters, and its class.
fn ratio_of(
    pt: &Point,
    members: &[&Point],
    metric_name: &str,
    reference: &str,
) -> (Option<f64>, Option<&'static str>) {
    let mine = row_params_of(pt);
    let Some(base) = members
        .iter()
        .find(|o| o.subject == reference && row_params_of(o) == mine)
        .and_then(|o| o.get(metric_name))
    else {
        return (None, None);
    };
    let Some(value) = pt.get(metric_name) else {
        return (None, None);
    };
    if pt.subject == reference {
        return (Some(1.0), Some("reference"));
    }
    if base == 0.0 {
        return (None, None);
    }
    let ratio = value / base;
    let info = metric::info(metric_name);
    let band = info.min_effect;
    let class = match info.better {
        Better::Neither => None,
        _ if (ratio - 1.0).abs() <= band => Some("same"),
        Better::Lower if ratio < 1.0 => Some("better"),
        Better::Higher if ratio > 1.0 => Some("better"),
        _ => Some("worse"),
    };
    (Some(ratio), class)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echo(subject: &str, size: u64, cpu: f64, rate: f64) -> Point {
        Point::new("echo", subject)
            .param("conns", 100)
            .param("size", size)
            .metric("server_cpu_us_per_msg", cpu)
            .metric("msgs_per_s", rate)
    }

    #[test]
    fn one_table_per_group_best_per_column_and_ratios_to_the_reference() {
        let points = [
            echo("tokio", 64, 4.0, 100.0),
            echo("epoll", 64, 3.0, 120.0),
            echo("uring", 64, 5.0, 90.0),
            echo("epoll", 64, 9.0, 1.0).repeat(0), // a repeat: not a row
            echo("tokio", 4096, 8.0, 50.0),
            Point::new("echo", "epoll")
                .param("conns", 100)
                .param("size", 4096)
                .param("skipped", "no reason"),
        ];
        let t = tables(&points, "echo", Some("tokio"), "server_cpu_us_per_msg");
        assert_eq!(t.len(), 2, "{t:#?}");
        assert_eq!(t[0].title, "conns=100, size=64");
        assert_eq!(t[0].rows.len(), 3);
        let cpu = t[0]
            .columns
            .iter()
            .find(|c| c.metric == "server_cpu_us_per_msg")
            .unwrap();
        assert_eq!(cpu.best, Some(3.0), "lower is better");
        assert_eq!(cpu.label, "server cpu µs/msg");
        assert_eq!(label("per_msg"), "per msg");
        assert_eq!(label("msgs_per_s"), "msgs/s");
        let rate = t[0]
            .columns
            .iter()
            .find(|c| c.metric == "msgs_per_s")
            .unwrap();
        assert_eq!(rate.best, Some(120.0), "higher is better");
        let by = |s: &str| t[0].rows.iter().find(|r| r.subject == s).unwrap();
        assert_eq!(by("tokio").ratio_class, Some("reference"));
        assert_eq!(by("epoll").ratio, Some(0.75));
        assert_eq!(by("epoll").ratio_class, Some("better"));
        assert_eq!(by("uring").ratio_class, Some("worse"));
        // The skipped point is a row of its group, with its reason in a column.
        assert_eq!(t[1].row_params, vec!["skipped"]);
        assert_eq!(t[1].rows[1].params, vec![Some("no reason".to_owned())]);
        assert_eq!(t[1].columns[0].best, None, "one figure is nothing to mark");
    }
}

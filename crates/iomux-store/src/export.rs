//! A stored run in other tools' formats: Bencher Metric Format (JSON) and CSV.
use std::collections::BTreeMap;

use crate::record::RunRecords;

/// Bencher Metric Format: `{ benchmark: { measure: { value, lower_value, upper_value } } }`.
/// A benchmark is a point (`experiment/subject/params`); its value is the median, and the
/// bounds are the repeats' extremes where the run repeated it.
pub fn bmf(records: &RunRecords) -> serde_json::Value {
    let mut out: BTreeMap<String, BTreeMap<String, serde_json::Value>> = BTreeMap::new();
    let mut extremes: BTreeMap<(String, String), (f64, f64)> = BTreeMap::new();
    for point in records.points.iter().filter(|p| p.repeat.is_some()) {
        for (name, value) in &point.metrics {
            let Some(v) = *value else { continue };
            let e = extremes
                .entry((point.key().to_string(), name.clone()))
                .or_insert((v, v));
            *e = (e.0.min(v), e.1.max(v));
        }
    }
    for point in records.points.iter().filter(|p| p.repeat.is_none()) {
        let benchmark = point.key().to_string();
        for (name, value) in &point.metrics {
            let Some(v) = value.filter(|v| v.is_finite()) else {
                continue;
            };
            let mut measure = serde_json::json!({ "value": v });
            if let Some(&(lo, hi)) = extremes.get(&(benchmark.clone(), name.clone())) {
                measure["lower_value"] = lo.into();
                measure["upper_value"] = hi.into();
            }
            out.entry(benchmark.clone())
                .or_default()
                .insert(name.clone(), measure);
        }
    }
    serde_json::to_value(out).expect("numbers and strings serialize")
}

/// CSV, one row per metric value: `run,experiment,subject,params,repeat,metric,value`
/// (`repeat` empty for the median, `value` empty where none could be had).
pub fn csv(records: &RunRecords) -> String {
    let mut out = String::from("run,experiment,subject,params,repeat,metric,value\n");
    for point in &records.points {
        let params = point
            .key()
            .to_string()
            .splitn(3, '/')
            .nth(2)
            .unwrap_or("")
            .to_owned();
        for (name, value) in &point.metrics {
            let fields = [
                records.run.id.clone(),
                point.experiment.clone(),
                point.subject.clone(),
                params.clone(),
                point.repeat.map(|r| r.to_string()).unwrap_or_default(),
                name.clone(),
                value.map(|v| v.to_string()).unwrap_or_default(),
            ];
            let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
            out.push_str(&line.join(","));
            out.push('\n');
        }
    }
    out
}

/// A CSV field, quoted when it holds a comma, a quote or a line break (RFC 4180).
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Point, Run, Testbed};

    fn records() -> RunRecords {
        let point = || {
            Point::new("echo", "epoll")
                .param("conns", 100)
                .param("size", 64)
        };
        RunRecords {
            run: Run {
                id: "r1".into(),
                started: 0.0,
                finished: None,
                iomux_version: "0".into(),
                git_commit: "c".into(),
                command_line: vec![],
                testbed: Testbed::detect(None, None),
                quick: false,
                experiments: vec![],
            },
            points: vec![
                point().metric("msgs_per_s", 10.0).repeat(0),
                point().metric("msgs_per_s", 14.0).repeat(1),
                point().metric("msgs_per_s", 12.0).metric("p99_us", None),
            ],
        }
    }

    #[test]
    fn bmf_has_the_median_and_the_repeat_bounds() {
        let bmf = bmf(&records());
        let measure = &bmf["echo/epoll/conns=100,size=64"]["msgs_per_s"];
        assert_eq!(measure["value"], 12.0);
        assert_eq!(measure["lower_value"], 10.0);
        assert_eq!(measure["upper_value"], 14.0);
        assert!(bmf["echo/epoll/conns=100,size=64"].get("p99_us").is_none());
    }

    #[test]
    fn csv_quotes_the_parameters() {
        let csv = csv(&records());
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines[0],
            "run,experiment,subject,params,repeat,metric,value"
        );
        assert_eq!(
            lines[1],
            "r1,echo,epoll,\"conns=100,size=64\",0,msgs_per_s,10"
        );
        assert_eq!(lines[4], "r1,echo,epoll,\"conns=100,size=64\",,p99_us,");
    }
}

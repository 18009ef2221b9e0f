//! The rules that say whether a claim held, as data: each variant carries its thresholds,
//! judges the points of one run ([`Rule::judge`]) and says itself in words
//! ([`Rule::describe`]). A rule reads only the medians (`repeat: None`) of the claim's
//! subjects, named by their place in the claim's list (`subjects[0]`, `subjects[1]`).
use iomux_store::record::Point;
use serde::Serialize;

/// The point parameter that counts the watched descriptors (`bench wait`'s N).
pub const FDS: &str = "fds";

/// The point parameter that counts the idle connections (`bench idle`).
pub const IDLE: &str = "idle";

/// What a claim came to on this store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// The run's figures bear the claim out.
    Held,
    /// The run's figures contradict it.
    NotHeld,
    /// No run has the figures the rule needs (the command to measure them goes with it).
    Unmeasured,
    /// Not measurable: the notes are wrong, and the documentation says so.
    Corrected,
}

impl Verdict {
    /// The verdict in a word or two, as the terminal and the page print it.
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Held => "held",
            Verdict::NotHeld => "not held",
            Verdict::Unmeasured => "not measured",
            Verdict::Corrected => "corrected",
        }
    }
}

/// One figure a verdict rests on.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Figure {
    /// The subject measured.
    pub subject: String,
    /// The point's key (`experiment/subject/name=value,...`), as `runs history` takes it.
    pub point: String,
    /// The metric (or, for a refused point, the parameter) the figure is.
    pub metric: String,
    /// Its value.
    pub value: f64,
}

/// What a rule found in one run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Judgement {
    /// Held, not held, or not measurable from this run.
    pub verdict: Verdict,
    /// What was found, in a sentence with its figures (or why the run cannot tell).
    pub summary: String,
    /// The figures it rests on.
    pub figures: Vec<Figure>,
}

/// Whether a claim held, given the run's points of its experiment.
#[derive(Clone, Copy, Debug)]
pub enum Rule {
    /// `subjects[0]` used at least `min` of a core, and at least `factor` times the share
    /// `subjects[1]` used.
    Spins {
        /// The least share of a core (1.0 = a whole core).
        min: f64,
        /// How many times `subjects[1]`'s share, at least.
        factor: f64,
    },
    /// At every N it measured, `subjects[0]` handed the kernel at least N descriptors per wait.
    ScansAll,
    /// `subjects[0]` was refused at the `FD_SETSIZE` wall at every N of at least `limit` tried,
    /// and measured at every N below it.
    Wall {
        /// The wall (`FD_SETSIZE`).
        limit: u64,
    },
    /// `subjects[0]` was measured at some N above `limit` and handed the kernel at least N
    /// descriptors per wait at every N it measured.
    PastWall {
        /// The wall it goes past.
        limit: u64,
    },
    /// `subjects[0]`'s metric at the largest N is at most `growth` times its figure at the
    /// smallest N (which must be at least `spread` times apart), and it handed the kernel no
    /// descriptor per wait.
    Flat {
        /// The most the figure may grow.
        growth: f64,
        /// How far apart the smallest and largest N must be to tell.
        spread: u64,
    },
    /// At the most idle connections both subjects were measured with (at least `min_idle`),
    /// `subjects[0]` kept at least `keep` of the throughput it had with none idle, and
    /// `subjects[1]` less than half of what `subjects[0]` kept.
    IdleCost {
        /// The fewest idle connections that can tell.
        min_idle: u64,
        /// The share of its throughput `subjects[0]` must keep.
        keep: f64,
    },
    /// Over the points both subjects were measured at (in the counting pass `pass`, if
    /// given), the geometric mean of `subjects[0]`'s metric over `subjects[1]`'s is at most
    /// `factor`.
    Ratio {
        /// Only the points of this counting pass (`syscalls`); `None`: the timed points.
        pass: Option<&'static str>,
        /// The largest mean ratio that bears the claim out.
        factor: f64,
    },
}

impl Rule {
    /// The rule in words, for the claim's subjects and metric.
    pub fn describe(&self, subjects: &[&str], metric: &str) -> String {
        let (a, b) = (subjects[0], subjects.get(1).copied().unwrap_or("-"));
        match *self {
            Rule::Spins { min, factor } => format!(
                "held if {a} uses at least {:.0}% of a core ({metric}) and at least {factor}x {b}'s share",
                min * 100.0
            ),
            Rule::ScansAll => format!(
                "held if at every N measured {a} hands the kernel at least N descriptors per wait ({metric})"
            ),
            Rule::Wall { limit } => format!(
                "held if {a} is refused at the FD_SETSIZE wall at every N of {limit} or more tried, and measured at every N below"
            ),
            Rule::PastWall { limit } => format!(
                "held if {a} is measured at some N above {limit} and hands the kernel at least N descriptors per wait at every N ({metric})"
            ),
            Rule::Flat { growth, spread } => format!(
                "held if {a}'s {metric} at the largest N is at most {growth}x its figure at the smallest N (at least {spread}x fewer fds), with no descriptor handed to the kernel per wait"
            ),
            Rule::IdleCost { min_idle, keep } => format!(
                "held if, at the most idle connections both were measured with (at least {min_idle}), {a} keeps at least {:.0}% of its {metric} with none idle and {b} less than half of what {a} keeps",
                keep * 100.0
            ),
            Rule::Ratio { pass, factor } => format!(
                "held if {a}'s {metric}{} is at most {factor}x {b}'s (geometric mean over the points both measured)",
                pass.map_or(String::new(), |p| format!(" in the {p} pass"))
            ),
        }
    }

    /// Judges the points of one run of the claim's experiment.
    pub fn judge(&self, subjects: &[&str], metric: &str, points: &[Point]) -> Judgement {
        let a = subjects[0];
        let b = subjects.get(1).copied().unwrap_or("");
        match *self {
            Rule::Spins { min, factor } => spins(points, (a, b), metric, min, factor),
            Rule::ScansAll => scans_all(points, a, metric),
            Rule::Wall { limit } => wall(points, a, metric, limit),
            Rule::PastWall { limit } => past_wall(points, a, metric, limit),
            Rule::Flat { growth, spread } => flat(points, a, metric, growth, spread),
            Rule::IdleCost { min_idle, keep } => idle_cost(points, (a, b), metric, min_idle, keep),
            Rule::Ratio { pass, factor } => ratio(points, (a, b), metric, pass, factor),
        }
    }
}

/// A figure for a verdict.
fn figure(pt: &Point, metric: &str, value: f64) -> Figure {
    Figure {
        subject: pt.subject.clone(),
        point: pt.key_text(),
        metric: metric.to_owned(),
        value,
    }
}

fn judged(verdict: Verdict, summary: String, figures: Vec<Figure>) -> Judgement {
    Judgement {
        verdict,
        summary,
        figures,
    }
}

fn unmeasured(summary: String) -> Judgement {
    judged(Verdict::Unmeasured, summary, Vec::new())
}

fn held_if(held: bool) -> Verdict {
    if held {
        Verdict::Held
    } else {
        Verdict::NotHeld
    }
}

/// A number as a sentence shows it: three significant figures, no exponent for everyday sizes.
pub fn num(value: f64) -> String {
    let a = value.abs();
    if a >= 100.0 || a == 0.0 {
        format!("{value:.0}")
    } else if a >= 10.0 {
        format!("{value:.1}")
    } else if a >= 0.1 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    }
}

/// The medians of `subject` (in the counting pass `pass`, or the timed points).
fn medians<'a>(points: &'a [Point], subject: &str, pass: Option<&str>) -> Vec<&'a Point> {
    points
        .iter()
        .filter(|pt| {
            pt.repeat.is_none()
                && pt.subject == subject
                && pt.params.get("pass").and_then(|v| v.as_str()) == pass
        })
        .collect()
}

fn skipped(pt: &Point) -> Option<&str> {
    pt.params.get("skipped").and_then(|v| v.as_str())
}

/// `subject`'s measured points by N (sorted), each with its metric.
fn by_fds(points: &[Point], subject: &str, metric: &str) -> Vec<(u64, f64, Point)> {
    let mut found: Vec<(u64, f64, Point)> = medians(points, subject, None)
        .into_iter()
        .filter(|pt| skipped(pt).is_none())
        .filter_map(|pt| Some((pt.at(FDS)?, pt.get(metric)?, pt.clone())))
        .collect();
    found.sort_by_key(|(n, _, _)| *n);
    found
}

fn spins(points: &[Point], (a, b): (&str, &str), metric: &str, min: f64, factor: f64) -> Judgement {
    let share = |s| {
        medians(points, s, None)
            .into_iter()
            .find_map(|pt| Some((pt.get(metric)?, pt)))
    };
    let (Some((sa, pa)), Some((sb, pb))) = (share(a), share(b)) else {
        return unmeasured(format!("the run has no {metric} of both {a} and {b}"));
    };
    let times = if sb > 0.0 { sa / sb } else { f64::INFINITY };
    judged(
        held_if(sa >= min && times >= factor),
        format!(
            "{a} used {:.0}% of a core, {b} {:.1}% ({}x)",
            sa * 100.0,
            sb * 100.0,
            num(times)
        ),
        vec![figure(pa, metric, sa), figure(pb, metric, sb)],
    )
}

fn scans_all(points: &[Point], a: &str, metric: &str) -> Judgement {
    let found = by_fds(points, a, metric);
    if found.is_empty() {
        return unmeasured(format!("the run has no {metric} of {a}"));
    }
    let short: Vec<String> = found
        .iter()
        .filter(|(n, v, _)| *v < *n as f64)
        .map(|(n, v, _)| format!("{} of {n}", num(*v)))
        .collect();
    let summary = if short.is_empty() {
        format!(
            "{a} handed the kernel {} per wait",
            found
                .iter()
                .map(|(n, v, _)| format!("{} of {n} fds", num(*v)))
                .collect::<Vec<_>>()
                .join(", ")
        )
    } else {
        format!("{a} handed the kernel fewer than N: {}", short.join(", "))
    };
    let figures = found
        .iter()
        .map(|(_, v, pt)| figure(pt, metric, *v))
        .collect();
    judged(held_if(short.is_empty()), summary, figures)
}

fn wall(points: &[Point], a: &str, metric: &str, limit: u64) -> Judgement {
    let mine: Vec<&Point> = medians(points, a, None)
        .into_iter()
        .filter(|pt| pt.at(FDS).is_some())
        .collect();
    let n = |pt: &Point| pt.at(FDS).unwrap_or(0);
    let at_wall = |pt: &Point| skipped(pt).is_some_and(|why| why.contains("FD_SETSIZE"));
    let (above, below): (Vec<&Point>, Vec<&Point>) = mine.iter().partition(|pt| n(pt) >= limit);
    if above.is_empty() {
        let most = mine.iter().map(|pt| n(pt)).max();
        return unmeasured(match most {
            Some(most) => {
                format!("the run tried {a} at {most} fds at most: nothing at {limit} or more")
            }
            None => format!("the run did not measure {a}"),
        });
    }
    let refused: Vec<&Point> = above.iter().copied().filter(|pt| at_wall(pt)).collect();
    let failed_below = below
        .iter()
        .filter(|pt| skipped(pt).is_some() || pt.get(metric).is_none())
        .count();
    let largest_ok = below
        .iter()
        .filter(|pt| skipped(pt).is_none())
        .max_by_key(|pt| n(pt));
    let mut figures: Vec<Figure> = Vec::new();
    if let Some(pt) = largest_ok {
        figures.push(figure(pt, FDS, n(pt) as f64));
    }
    if let Some(pt) = refused.iter().min_by_key(|pt| n(pt)) {
        figures.push(figure(pt, "refused at fds", n(pt) as f64));
    }
    let held = refused.len() == above.len() && failed_below == 0;
    let summary = format!(
        "{a} was measured up to {} fds and refused at the FD_SETSIZE wall at {} of the {} N of {limit} or more tried{}",
        largest_ok.map_or("no".to_owned(), |pt| n(pt).to_string()),
        refused.len(),
        above.len(),
        if failed_below > 0 {
            format!("; {failed_below} N below it failed too")
        } else {
            String::new()
        }
    );
    judged(held_if(held), summary, figures)
}

fn past_wall(points: &[Point], a: &str, metric: &str, limit: u64) -> Judgement {
    let found = by_fds(points, a, metric);
    let tried_past = medians(points, a, None)
        .into_iter()
        .any(|pt| pt.at(FDS).is_some_and(|n| n > limit));
    if !tried_past {
        return unmeasured(format!("the run did not try {a} above {limit} fds"));
    }
    let Some((most, _, _)) = found.last().filter(|(n, _, _)| *n > limit) else {
        return judged(
            Verdict::NotHeld,
            format!("{a} was not measured above {limit} fds (it was refused or failed)"),
            Vec::new(),
        );
    };
    let scans = found.iter().all(|(n, v, _)| *v >= *n as f64);
    let (_, at_most, _) = found.last().expect("found above");
    judged(
        held_if(scans),
        format!(
            "{a} was measured at up to {most} fds and handed the kernel {} per wait there{}",
            num(*at_most),
            if scans {
                ""
            } else {
                " (fewer than N somewhere)"
            }
        ),
        found
            .iter()
            .map(|(_, v, pt)| figure(pt, metric, *v))
            .collect(),
    )
}

fn flat(points: &[Point], a: &str, metric: &str, growth: f64, spread: u64) -> Judgement {
    let found = by_fds(points, a, metric);
    let (Some((small, vs, ps)), Some((large, vl, pl))) = (found.first(), found.last()) else {
        return unmeasured(format!("the run has no {metric} of {a}"));
    };
    if *large < small.saturating_mul(spread) {
        return unmeasured(format!(
            "the run measured {a} from {small} to {large} fds only: at least {spread}x apart is needed to tell"
        ));
    }
    let passed: f64 = found
        .iter()
        .filter_map(|(_, _, pt)| pt.get("fds_passed_per_wait"))
        .fold(0.0, f64::max);
    let times = vl / vs;
    judged(
        held_if(times <= growth && passed == 0.0),
        format!(
            "{a}: {} at {large} fds vs {} at {small} ({}x); at most {} descriptors handed to the kernel per wait",
            num(*vl),
            num(*vs),
            num(times),
            num(passed)
        ),
        vec![figure(ps, metric, *vs), figure(pl, metric, *vl)],
    )
}

fn idle_cost(
    points: &[Point],
    (a, b): (&str, &str),
    metric: &str,
    min_idle: u64,
    keep: f64,
) -> Judgement {
    let at = |s: &str, idle: u64| {
        medians(points, s, None)
            .into_iter()
            .find(|pt| pt.at(IDLE) == Some(idle) && skipped(pt).is_none())
            .and_then(|pt| Some((pt.get(metric)?, pt)))
    };
    let most = medians(points, a, None)
        .into_iter()
        .filter_map(|pt| pt.at(IDLE))
        .filter(|&idle| idle > 0 && at(a, idle).is_some() && at(b, idle).is_some())
        .max();
    let (Some(most), Some((a0, pa0)), Some((b0, pb0))) = (most, at(a, 0), at(b, 0)) else {
        return unmeasured(format!(
            "the run has no {metric} of both {a} and {b} with and without idle connections"
        ));
    };
    if most < min_idle {
        return unmeasured(format!(
            "the run measured at most {most} idle connections: at least {min_idle} are needed to tell"
        ));
    }
    let (Some((an, pan)), Some((bn, pbn))) = (at(a, most), at(b, most)) else {
        unreachable!("both measured at `most`")
    };
    let (ka, kb) = (an / a0, bn / b0);
    judged(
        held_if(ka >= keep && kb < ka / 2.0),
        format!(
            "with {most} idle connections {a} kept {:.0}% of its {metric}, {b} {:.1}%",
            ka * 100.0,
            kb * 100.0
        ),
        vec![
            figure(pa0, metric, a0),
            figure(pan, metric, an),
            figure(pb0, metric, b0),
            figure(pbn, metric, bn),
        ],
    )
}

fn ratio(
    points: &[Point],
    (a, b): (&str, &str),
    metric: &str,
    pass: Option<&str>,
    factor: f64,
) -> Judgement {
    let mut figures = Vec::new();
    let mut logs = Vec::new();
    for pa in medians(points, a, pass)
        .into_iter()
        .filter(|pt| skipped(pt).is_none())
    {
        let same = |pt: &&Point| {
            let without = |p: &Point| {
                let mut params = p.params.clone();
                params.remove("skipped");
                params
            };
            without(pt) == without(pa)
        };
        let Some(pb) = medians(points, b, pass).into_iter().find(same) else {
            continue;
        };
        let (Some(va), Some(vb)) = (pa.get(metric), pb.get(metric)) else {
            continue;
        };
        if va <= 0.0 && vb <= 0.0 {
            continue;
        }
        logs.push((va.max(f64::MIN_POSITIVE) / vb.max(f64::MIN_POSITIVE)).ln());
        figures.push(figure(pa, metric, va));
        figures.push(figure(pb, metric, vb));
    }
    let what = pass.map_or(String::new(), |p| format!(" in a {p} pass"));
    if logs.is_empty() {
        return unmeasured(format!(
            "the run has no {metric} of both {a} and {b}{what} at the same point"
        ));
    }
    let mean = (logs.iter().sum::<f64>() / logs.len() as f64).exp();
    judged(
        held_if(mean <= factor),
        format!(
            "{a}'s {metric}{what} was {}x {b}'s (geometric mean over {} point{})",
            num(mean),
            logs.len(),
            if logs.len() == 1 { "" } else { "s" }
        ),
        figures,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait_point(subject: &str, fds: u64, wait_us: Option<f64>, passed: f64) -> Point {
        let pt = Point::new("wait", subject).param(FDS, fds);
        match wait_us {
            Some(w) => pt
                .metric("wait_us", w)
                .metric("fds_passed_per_wait", passed),
            None => pt.param("skipped", "FD_SETSIZE wall (1024)"),
        }
    }

    #[test]
    fn the_wall_holds_only_when_every_large_n_is_refused() {
        let rule = Rule::Wall { limit: 1024 };
        let mut points = vec![
            wait_point("select", 100, Some(3.0), 100.0),
            wait_point("select", 5000, None, 0.0),
        ];
        let j = rule.judge(&["select"], "fds_passed_per_wait", &points);
        assert_eq!(j.verdict, Verdict::Held, "{j:?}");
        points[1] = wait_point("select", 5000, Some(30.0), 5000.0);
        let j = rule.judge(&["select"], "fds_passed_per_wait", &points);
        assert_eq!(j.verdict, Verdict::NotHeld, "{j:?}");
        let j = rule.judge(&["select"], "fds_passed_per_wait", &points[..1]);
        assert_eq!(j.verdict, Verdict::Unmeasured, "{j:?}");
    }

    #[test]
    fn flat_needs_a_spread_and_no_growth() {
        let rule = Rule::Flat {
            growth: 2.0,
            spread: 10,
        };
        let flat = [
            wait_point("epoll", 100, Some(1.0), 0.0),
            wait_point("epoll", 5000, Some(1.1), 0.0),
        ];
        assert_eq!(
            rule.judge(&["epoll"], "wait_us", &flat).verdict,
            Verdict::Held
        );
        let grows = [
            wait_point("epoll", 100, Some(1.0), 0.0),
            wait_point("epoll", 5000, Some(3.0), 0.0),
        ];
        assert_eq!(
            rule.judge(&["epoll"], "wait_us", &grows).verdict,
            Verdict::NotHeld
        );
        let near = [
            wait_point("epoll", 100, Some(1.0), 0.0),
            wait_point("epoll", 300, Some(1.0), 0.0),
        ];
        assert_eq!(
            rule.judge(&["epoll"], "wait_us", &near).verdict,
            Verdict::Unmeasured
        );
    }

    #[test]
    fn a_ratio_is_the_geometric_mean_over_shared_points_of_the_pass() {
        let at =
            |s: &str, size: u64, v: f64| Point::new("echo", s).param("size", size).metric("cpu", v);
        let points = [
            at("et", 64, 1.0),
            at("lt", 64, 1.0),
            at("et", 4096, 0.81),
            at("lt", 4096, 1.0),
            at("et", 1, 0.1), // no partner: left out
        ];
        let j = Rule::Ratio {
            pass: None,
            factor: 0.95,
        }
        .judge(&["et", "lt"], "cpu", &points);
        assert_eq!(j.verdict, Verdict::Held, "{j:?}"); // sqrt(0.81) = 0.9
        assert_eq!(j.figures.len(), 4);
        let j = Rule::Ratio {
            pass: Some("syscalls"),
            factor: 0.95,
        }
        .judge(&["et", "lt"], "cpu", &points);
        assert_eq!(j.verdict, Verdict::Unmeasured);
    }
}

//! How far a server's ratio to the reference moved between the rotated repeats of one run.
//!
//! A point's table shows each server's CPU per message over the reference's from the medians
//! of the repeats. On a small shared machine one point's ratio can swing widely between
//! repeats (uring at one connection × 4 KiB × pipeline 16: 1.00–1.31 over five repeats, a
//! median of 1.19, and 1.03 when measured again at once; BENCHMARKS §25), so a median above 1.0
//! is not yet "slower". Each repeat measures every server back to back, so a repeat's own ratio
//! is like for like. Under each point the lab gives, per server, an interval for the median of
//! those ratios: from 6 repeats the 95% interval from their order statistics (the store's
//! [`median_interval`], which `--against` uses too), below that the lowest to the highest (with
//! 5 repeats that holds the median 94 times in 100). It counts the points where the interval
//! holds 1.0: there the run does not settle which server spends less, and more repeats narrow it.

use std::collections::BTreeSet;

use iomux_store::compare::median_interval;

/// An interval for the median of a server's per-repeat ratios at one point.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    /// The interval's low end.
    pub low: f64,
    /// The interval's high end.
    pub high: f64,
    /// How many repeats had a ratio.
    pub repeats: usize,
    /// Whether the interval is the 95% interval of the median (6 repeats or more), not the
    /// lowest to the highest.
    pub of_the_median: bool,
}

impl Spread {
    /// The spread of `ratios`, one per repeat (the ones that could not be taken, NaN, left
    /// out); `None` with fewer than two: a single measurement has no spread.
    pub fn of(ratios: &[f64]) -> Option<Spread> {
        let finite: Vec<f64> = ratios.iter().copied().filter(|r| r.is_finite()).collect();
        if finite.len() < 2 {
            return None;
        }
        let of_the_median = median_interval(&finite);
        let (low, high) = of_the_median.unwrap_or_else(|| {
            (
                finite.iter().copied().fold(f64::INFINITY, f64::min),
                finite.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            )
        });
        Some(Spread {
            low,
            high,
            repeats: finite.len(),
            of_the_median: of_the_median.is_some(),
        })
    }

    /// Whether the interval holds 1.0 (the repeats put the server above the reference and
    /// below it): then this run does not settle which of the two spends less.
    pub fn unsettled(&self) -> bool {
        self.low < 1.0 && self.high > 1.0
    }
}

/// Each server's spread against `reference` at one point, over `repeats`: `cpu(server,
/// repeat)` is a server's CPU per message in that repeat (`None` where it could not be taken or
/// does not count). The reference itself, and servers with fewer than two ratios, are left out.
pub fn against<'a>(
    reference: &str,
    names: &[&'a str],
    repeats: &BTreeSet<usize>,
    cpu: impl Fn(&str, usize) -> Option<f64>,
) -> Vec<(&'a str, Spread)> {
    names
        .iter()
        .filter(|&&name| name != reference)
        .filter_map(|&name| {
            let ratios: Vec<f64> = repeats
                .iter()
                .map(|&r| match (cpu(name, r), cpu(reference, r)) {
                    (Some(a), Some(b)) if b > 0.0 => a / b,
                    _ => f64::NAN,
                })
                .collect();
            Some((name, Spread::of(&ratios)?))
        })
        .collect()
}

/// The line said under a point: each server's range of per-repeat ratios to `reference`, and
/// which of them the run leaves unsettled. `None` when no server has a spread (one repeat).
pub fn point_line(reference: &str, spreads: &[(&str, Spread)]) -> Option<String> {
    // The header names the most repeats any server had; a server with fewer (a repeat where
    // it, or the reference, could not be measured or fell behind) says how many.
    let most = spreads.iter().max_by_key(|(_, s)| s.repeats)?.1;
    let kind = |of_the_median: bool| {
        if of_the_median {
            "95% interval of the median"
        } else {
            "lowest to highest"
        }
    };
    let ranges: Vec<String> = spreads
        .iter()
        .map(|(name, s)| {
            let fewer = match (
                s.repeats < most.repeats,
                s.of_the_median != most.of_the_median,
            ) {
                (false, _) => String::new(),
                (true, false) => format!(" (in {})", s.repeats),
                (true, true) => format!(" (in {}, {})", s.repeats, kind(s.of_the_median)),
            };
            format!("{name} {}–{}{fewer}", ratio(s.low), ratio(s.high))
        })
        .collect();
    let unsettled: Vec<&str> = spreads
        .iter()
        .filter(|(_, s)| s.unsettled())
        .map(|(name, _)| *name)
        .collect();
    let mut line = format!(
        "x {reference} over the {} repeats ({}): {}",
        most.repeats,
        kind(most.of_the_median),
        ranges.join(", ")
    );
    if !unsettled.is_empty() {
        line.push_str(&format!(
            "; unsettled: {} (above {reference} in some repeats, below in others)",
            unsettled.join(", ")
        ));
    }
    Some(line)
}

/// A ratio to two decimals, or as many more (up to six) as it takes not to round it onto 1.0
/// from one side (an interval shown as "1.00–1.22" and called unsettled would read as a
/// contradiction).
fn ratio(r: f64) -> String {
    (2..=6)
        .map(|places| format!("{r:.places$}"))
        .find(|shown| r == 1.0 || shown.parse::<f64>() != Ok(1.0))
        .unwrap_or_else(|| format!("{r:.6}"))
}

/// Said under the summary when some point was unsettled.
pub const UNSETTLED_NOTE: &str = "(unsettled at: points where the interval of the server's per-repeat ratios holds 1.0, said under their tables: this run does not settle which side of the reference it is on there; more --repeat narrows the interval, and --against compares two builds pair by pair)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spread_needs_two_repeats_and_ignores_what_could_not_be_taken() {
        assert_eq!(Spread::of(&[1.2]), None);
        assert_eq!(Spread::of(&[1.2, f64::NAN]), None);
        let s = Spread::of(&[1.19, 1.31, f64::NAN, 1.00, 1.05]).unwrap();
        assert_eq!(
            (s.low, s.high, s.repeats, s.of_the_median),
            (1.00, 1.31, 4, false)
        );
        assert!(!s.unsettled(), "never below 1.0");
        assert!(Spread::of(&[0.81, 1.18]).unwrap().unsettled());
        assert!(!Spread::of(&[0.81, 0.99]).unwrap().unsettled());
    }

    #[test]
    fn from_six_repeats_one_stray_repeat_no_longer_unsettles_a_point() {
        // Twenty repeats clearly below the reference, two of them stray above it.
        let mut ratios = vec![0.90, 0.88, 0.91, 0.89, 0.92, 0.90, 0.87, 0.93, 0.90, 0.91];
        ratios.extend([0.89, 0.90, 0.88, 0.92, 0.91, 0.90, 0.89, 0.90, 1.12, 1.25]);
        let s = Spread::of(&ratios).unwrap();
        assert!(s.of_the_median && s.high < 1.0 && !s.unsettled(), "{s:?}");
        let line = point_line("tokio", &[("uring", s)]).unwrap();
        assert!(
            line.starts_with(
                "x tokio over the 20 repeats (95% interval of the median): uring 0.89–0.91"
            ),
            "{line}"
        );
        // A side of 1.0 that two decimals would hide is shown with three.
        let edge = Spread::of(&[0.998, 1.22, 1.1]).unwrap();
        let line = point_line("tokio", &[("epoll", edge)]).unwrap();
        assert!(
            line.contains("epoll 0.998–1.22; unsettled: epoll"),
            "{line}"
        );
        let closer = Spread::of(&[0.9996, 1.15, 1.1]).unwrap();
        let line = point_line("tokio", &[("uring", closer)]).unwrap();
        assert!(line.contains("uring 0.9996–1.15; unsettled"), "{line}");
        assert_eq!(ratio(1.0), "1.00");
        // Five repeats with one stray: the lowest-to-highest range still holds 1.0.
        assert!(Spread::of(&[0.90, 0.88, 0.91, 0.89, 1.12])
            .unwrap()
            .unsettled());
    }

    #[test]
    fn the_point_line_gives_each_range_and_names_the_unsettled() {
        assert_eq!(point_line("tokio", &[]), None);
        let uring = Spread::of(&[0.87, 1.16, 1.05]).unwrap();
        let epoll = Spread::of(&[0.83, 0.95, 0.90]).unwrap();
        let line = point_line("tokio", &[("uring", uring), ("epoll", epoll)]).unwrap();
        assert_eq!(
            line,
            "x tokio over the 3 repeats (lowest to highest): uring 0.87–1.16, epoll 0.83–0.95; unsettled: uring (above tokio in some repeats, below in others)"
        );
        let line = point_line("tokio", &[("epoll", epoll)]).unwrap();
        assert!(!line.contains("unsettled"), "{line}");
    }
}

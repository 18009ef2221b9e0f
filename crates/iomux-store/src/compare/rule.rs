//! The rule that decided a comparison row, kept as data and written out in words on demand.
use std::fmt;

use serde::Serialize;

use super::short;

/// Where a timing's noise band came from.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BandSource {
    /// Learned from earlier runs of one clean commit with the same settings on this testbed:
    /// the 99th percentile of their row-to-row changes, with a margin.
    Calibration {
        /// How many same-commit changes it was learned from.
        samples: usize,
    },
    /// At least [`MIN_HISTORY`](super::MIN_HISTORY) earlier runs with the same settings:
    /// Q3 + 3·IQR of the point's run-to-run changes.
    History {
        /// How many past changes it was computed from.
        changes: usize,
    },
    /// Neither: the default, wide enough to keep false verdicts near 1% a row on a noisy
    /// virtual machine.
    Default,
}

impl fmt::Display for BandSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BandSource::Calibration { samples } => write!(
                f,
                "calibrated from {samples} same-commit changes on this testbed"
            ),
            BandSource::History { changes } => write!(
                f,
                "Q3 + 3·IQR of {changes} past run-to-run changes with these settings"
            ),
            BandSource::Default => write!(
                f,
                "the default: no calibration and fewer than {} earlier runs with these settings",
                super::MIN_HISTORY
            ),
        }
    }
}

/// The rule that decided a row, with its figures; shown in words. (Kept as data: a comparison
/// of 10,000 points makes 90,000 rows, and formatting each rule's text up front cost more than
/// all the rest of the comparison.)
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Rule {
    /// A correctness count: any change is real.
    Exact,
    /// A figure that describes the measurement (its size), not judged.
    Descriptive,
    /// The user/system split of a timing: too coarse (10 ms ticks) to judge.
    Split,
    /// A latency percentile between two runs: judged only between interleaved arms.
    LatencyTwoRuns,
    /// A timing of 0 in A or B: below the clock's resolution, not judged.
    ZeroTiming,
    /// A count from 0: any change is real.
    ZeroCount,
    /// A reference peer with no other peer in both runs to judge it against.
    NoControl,
    /// A count against its minimum effect (and a history fence when there is one).
    Count {
        /// The relative change.
        change: f64,
        /// The band it had to clear (relative).
        band: f64,
        /// The smallest absolute change worth a verdict (0: none).
        min_abs: f64,
    },
    /// A timing between two runs: its raw change and its change relative to the same run's
    /// peers, against the minimum effect and the noise band.
    Timing {
        /// The raw relative change, B/A − 1.
        raw: f64,
        /// The change relative to the peers present in both runs (`None`: no peers).
        relative: Option<f64>,
        /// The minimum effect (relative).
        min_effect: f64,
        /// The noise band (relative).
        band: f64,
        /// Where the band came from.
        source: BandSource,
    },
    /// Interleaved arms of one run: a paired test.
    Arms {
        /// Pairs.
        n: usize,
        /// The Wilcoxon signed-rank test's two-sided p-value.
        p: f64,
        /// The median of B/A over the pairs.
        median: f64,
        /// Its 95% confidence interval.
        interval: (f64, f64),
        /// The minimum effect (relative).
        min_effect: f64,
    },
    /// A decisive timing made inconclusive because a control of the same run moved.
    ControlMoved {
        /// The paired test of the row itself.
        p: f64,
        /// The median of B/A over the pairs.
        median: f64,
    },
}

/// The p-value a paired test must reach for a decisive verdict.
pub const ARMS_P: f64 = 0.005;

fn percent(change: f64) -> String {
    format!("{:+.1}%", change * 100.0)
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Rule::Exact => write!(f, "exact: any change in a correctness count"),
            Rule::Descriptive => write!(f, "describes the measurement: not judged"),
            Rule::Split => write!(
                f,
                "the user/system split: 10 ms ticks, shown and not judged (the total is judged)"
            ),
            Rule::LatencyTwoRuns => write!(
                f,
                "latency: judged only between interleaved arms (`--against`), not between two runs"
            ),
            Rule::ZeroTiming => write!(
                f,
                "from zero: a timing of 0 is below the clock's resolution; not judged"
            ),
            Rule::ZeroCount => write!(f, "from zero: any change in a count"),
            Rule::NoControl => write!(
                f,
                "a reference peer: judged only against other peers, and none is in both runs"
            ),
            Rule::Count {
                change,
                band,
                min_abs,
            } => {
                let floor = if min_abs > 0.0 {
                    format!(" and {} per message", short(min_abs))
                } else {
                    String::new()
                };
                write!(
                    f,
                    "count: {} against a ±{:.1}%{floor} minimum",
                    percent(change),
                    band * 100.0
                )
            }
            Rule::Timing {
                raw,
                relative,
                min_effect,
                band,
                source,
            } => {
                let moved = match relative {
                    Some(r) => format!("{} raw, {} against the same run's peers", percent(raw), percent(r)),
                    None => format!("{} (no peer in both runs)", percent(raw)),
                };
                let effect = relative.unwrap_or(raw);
                if !super::beyond(effect, min_effect) {
                    write!(
                        f,
                        "moved {moved}: under the {:.0}% minimum effect",
                        min_effect * 100.0
                    )
                } else {
                    write!(
                        f,
                        "moved {moved}; band ±{:.0}% ({source})",
                        band * 100.0
                    )?;
                    let both = super::beyond(raw, band)
                        && relative.is_none_or(|r| super::beyond(r, band) && r.signum() == raw.signum());
                    if !both {
                        write!(
                            f,
                            ": not told from noise; settle it with an interleaved run (`iomux bench ... --against OLD_IOMUX`)"
                        )?;
                    }
                    Ok(())
                }
            }
            Rule::Arms {
                n,
                p,
                median,
                interval,
                min_effect,
            } => {
                write!(
                    f,
                    "interleaved: {n} pairs, median B/A {} (95% CI {}–{}), Wilcoxon p = {}",
                    short(median),
                    short(interval.0),
                    short(interval.1),
                    if p < 1e-4 { format!("{p:.1e}") } else { format!("{p:.4}") }
                )?;
                if !super::beyond(median - 1.0, min_effect) {
                    write!(f, "; under the {:.0}% minimum effect", min_effect * 100.0)
                } else if p > ARMS_P {
                    write!(f, "; not decisive above p = {ARMS_P} (more pairs would settle it: --pairs)")
                } else {
                    Ok(())
                }
            }
            Rule::ControlMoved { p, median } => write!(
                f,
                "interleaved: median B/A {} at p = {p:.4}, but a control (a peer run in both arms) moved too, so the arms did not see the same machine: rerun",
                short(median)
            ),
        }
    }
}

impl Rule {
    /// The rule in a few words for a table row (a timing's changes and band, without the
    /// advice [`Display`](fmt::Display) repeats on every row); the whole text otherwise.
    pub fn brief(&self) -> String {
        match *self {
            Rule::Timing {
                raw,
                relative,
                band,
                ..
            } => match relative {
                Some(r) => format!(
                    "{} raw, {} vs peers; band ±{:.0}%",
                    percent(raw),
                    percent(r),
                    band * 100.0
                ),
                None => format!("{}; band ±{:.0}%", percent(raw), band * 100.0),
            },
            _ => self.to_string(),
        }
    }
}

impl Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

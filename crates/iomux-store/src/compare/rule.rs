//! The rule that decided a comparison row, kept as data and written out in words on demand.
use std::fmt;

use serde::Serialize;

use super::short;

/// The rule that decided a row, with its figures; shown in words. (Kept as data: a comparison
/// of 10,000 points makes 90,000 rows, and formatting each rule's text up front cost more than
/// all the rest of the comparison.)
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Rule {
    /// A correctness count: any change is real.
    Exact,
    /// A figure that describes the measurement (its size), not judged.
    Descriptive,
    /// A timing of 0 in A or B: below the clock's resolution, not judged.
    ZeroTiming,
    /// A count from 0: any change is real.
    ZeroCount,
    /// Past run-to-run changes put the noise band at `fence`.
    History {
        /// The band, relative (0.05: ±5%).
        fence: f64,
        /// How many past changes it was computed from.
        changes: usize,
    },
    /// Both runs' repeats decided.
    Repeats {
        /// A's repeats, lowest and highest.
        a: (f64, f64),
        /// B's repeats, lowest and highest.
        b: (f64, f64),
        /// The ranges do not overlap.
        apart: bool,
        /// Set when the ranges are apart but the change is within the metric's floor.
        floor: Option<f64>,
    },
    /// Neither repeats nor history: the metric's default band.
    Default {
        /// The band, relative.
        band: f64,
    },
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Rule::Exact => write!(f, "exact: any change in a correctness count"),
            Rule::Descriptive => write!(f, "describes the measurement: not judged"),
            Rule::ZeroTiming => write!(
                f,
                "from zero: a timing of 0 is below the clock's resolution; not judged"
            ),
            Rule::ZeroCount => write!(f, "from zero: any change in a count"),
            Rule::History { fence, changes } => write!(
                f,
                "history: beyond ±{:.1}% (Q3 + 1.5·IQR of {changes} past run-to-run changes)",
                fence * 100.0
            ),
            Rule::Repeats { a, b, apart, floor } => {
                let ranges = format!(
                    "A {} to {}, B {} to {}",
                    short(a.0),
                    short(a.1),
                    short(b.0),
                    short(b.1)
                );
                match (apart, floor) {
                    (false, _) => write!(f, "repeats: ranges overlap ({ranges})"),
                    (true, Some(floor)) => write!(
                        f,
                        "repeats: ranges apart ({ranges}) but within the {:.1}% floor",
                        floor * 100.0
                    ),
                    (true, None) => write!(f, "repeats: ranges apart ({ranges})"),
                }
            }
            Rule::Default { band } => write!(
                f,
                "default: ±{:.0}% for this metric (no repeats or history)",
                band * 100.0
            ),
        }
    }
}

impl Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

//! A finished run's points and figures kept in one text (`iomux_run_figures`), for the readers
//! that want whole runs: `runs compare` and the history rule read one row instead of one a
//! point. The points and figures tables stay the record; the snapshot is rebuilt from them
//! whenever a finished run gains points, and is used only while it covers every point the run
//! has (so a snapshot that a crash left behind a later import is never read).
//!
//! The text: a first line `iomux-run-figures 1`, then one line a point, in `seq` order, of six
//! fields separated by tabs: seq, experiment, subject, the parameters' JSON, the repeat index
//! (empty for a median) and the figures (as `iomux_point_figures` holds them).

/// The first line; a snapshot in another format is not read (its run is read row by row).
const HEADER: &str = "iomux-run-figures 1";

/// Larger runs keep no snapshot: a MySQL statement is bounded by `max_allowed_packet`
/// (16 MiB by default), and building one means reading the run back, which for a very large
/// import would cost more than the snapshot saves its readers.
pub const MAX_BYTES: usize = 4 << 20;

/// Runs of more points keep no snapshot (and are not read back to try): about `MAX_BYTES`
/// of typical points.
pub const MAX_POINTS: i64 = 40_000;

/// One point of a snapshot, borrowed from the text (or from the rows it is built from).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Line<'a> {
    /// The point's index in its run.
    pub seq: i64,
    /// The experiment (`echo`, `wait`, ...).
    pub experiment: &'a str,
    /// The model, backend or peer measured.
    pub subject: &'a str,
    /// The parameters' canonical JSON, as `iomux_points.params` holds it.
    pub params: &'a str,
    /// Which repeat (`None` for the median of the repeats).
    pub repeat: Option<i64>,
    /// `None` for a point stored before `iomux_point_figures` existed (then there is no
    /// snapshot: its figures are in `iomux_metrics` only).
    pub figures: Option<&'a str>,
}

/// The snapshot of `lines`, or `None` if one cannot be kept: a point without figures, a field
/// holding a tab or a line break (names are the lab's own, but an imported file could hold
/// anything), or a text over [`MAX_BYTES`].
pub fn encode<'a>(lines: impl IntoIterator<Item = Line<'a>>) -> Option<String> {
    use std::fmt::Write as _;
    let mut out = String::from(HEADER);
    out.push('\n');
    for line in lines {
        let figures = line.figures?;
        let fields = [line.experiment, line.subject, line.params, figures];
        if fields.iter().any(|f| f.contains(['\t', '\n'])) {
            return None;
        }
        let _ = write!(
            out,
            "{}\t{}\t{}\t{}\t",
            line.seq, line.experiment, line.subject, line.params
        );
        if let Some(repeat) = line.repeat {
            let _ = write!(out, "{repeat}");
        }
        out.push('\t');
        out.push_str(figures);
        out.push('\n');
        if out.len() > MAX_BYTES {
            return None;
        }
    }
    Some(out)
}

/// The points of a snapshot, in its order; `Ok(None)` for a format this binary does not know.
pub fn decode(text: &str) -> Result<Option<Vec<Line<'_>>>, String> {
    let mut lines = text.split_terminator('\n');
    if lines.next() != Some(HEADER) {
        return Ok(None);
    }
    let bad = |line: &str, what: &str| format!("bad run snapshot line {line:?}: {what}");
    let int = |field: &str, line: &str| -> Result<i64, String> {
        field.parse().map_err(|_| bad(line, "not a number"))
    };
    let mut out = Vec::with_capacity(text.len() / 96);
    for line in lines {
        let mut fields = line.split('\t');
        let mut next = || fields.next().ok_or_else(|| bad(line, "too few fields"));
        let (seq, experiment, subject, params, repeat, figures) =
            (next()?, next()?, next()?, next()?, next()?, next()?);
        if fields.next().is_some() {
            return Err(bad(line, "too many fields"));
        }
        out.push(Line {
            seq: int(seq, line)?,
            experiment,
            subject,
            params,
            repeat: match repeat {
                "" => None,
                r => Some(int(r, line)?),
            },
            figures: Some(figures),
        });
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn field() -> impl Strategy<Value = String> {
        // Any text but the two separators (those make `encode` refuse, tested below).
        "[^\t\n]{0,12}"
    }

    proptest! {
        #[test]
        fn a_snapshot_reads_back_exactly(
            points in prop::collection::vec(
                (any::<i64>(), field(), field(), field(), prop::option::of(any::<i64>()), field()),
                0..30,
            )
        ) {
            let lines: Vec<Line> = points
                .iter()
                .map(|(seq, e, s, p, r, f)| Line {
                    seq: *seq,
                    experiment: e,
                    subject: s,
                    params: p,
                    repeat: *r,
                    figures: Some(f),
                })
                .collect();
            let text = encode(lines.iter().copied()).expect("no separators in the fields");
            prop_assert_eq!(decode(&text).unwrap(), Some(lines));
        }
    }

    fn line<'a>(experiment: &'a str, figures: Option<&'a str>) -> Line<'a> {
        Line {
            seq: 0,
            experiment,
            subject: "epoll",
            params: "{}",
            repeat: None,
            figures,
        }
    }

    #[test]
    fn what_cannot_be_kept_gets_no_snapshot() {
        assert_eq!(
            encode([line("echo", None)]),
            None,
            "figures only in iomux_metrics"
        );
        assert_eq!(encode([line("ec\tho", Some(""))]), None);
        assert_eq!(encode([line("ec\nho", Some(""))]), None);
        let big = "x".repeat(MAX_BYTES);
        assert_eq!(encode([line("echo", Some(&big))]), None);
        assert!(encode([line("echo", Some("1=2"))]).is_some());
    }

    #[test]
    fn another_format_is_not_read_and_garbage_is_an_error() {
        assert_eq!(decode("iomux-run-figures 2\n1\ta\tb\t{}\t\t\n"), Ok(None));
        assert_eq!(decode(""), Ok(None));
        for garbage in ["x\ta", "1\ta\tb", "1\ta\tb\t{}\t\t\t", "1\ta\tb\t{}\tz\t"] {
            let text = format!("{HEADER}\n{garbage}\n");
            assert!(decode(&text).is_err(), "{garbage:?}");
        }
    }
}

//! Plain text tables, as every report of the command prints them (the lab, `iomux runs`,
//! `iomux trace summary`).
use std::fmt::Write as _;

/// A table cell: a figure with `digits` decimals, or `?` when it was not measured.
pub fn cell(value: Option<f64>, digits: usize) -> String {
    value.map_or("?".to_owned(), |v| format!("{v:.digits$}"))
}

/// A plain text table with right-aligned columns after the first.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let right: Vec<bool> = (0..headers.len()).map(|i| i > 0).collect();
    aligned_table(headers, rows, &right)
}

/// A plain text table; `right[i]` right-aligns column `i` (numbers), else it is left-aligned.
pub fn aligned_table(headers: &[&str], rows: &[Vec<String>], right: &[bool]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: &[String], out: &mut String| {
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            let sep = if i == 0 { "" } else { "  " };
            if right.get(i).copied().unwrap_or(false) {
                let _ = write!(out, "{sep}{cell:>w$}");
            } else {
                let _ = write!(out, "{sep}{cell:<w$}");
            }
        }
        // Left-aligned last columns leave trailing spaces.
        let trimmed = out.trim_end_matches(' ').len();
        out.truncate(trimmed);
        out.push('\n');
    };
    line(
        &headers.iter().map(|h| h.to_string()).collect::<Vec<_>>(),
        &mut out,
    );
    line(
        &widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>(),
        &mut out,
    );
    for row in rows {
        line(row, &mut out);
    }
    out.pop();
    out
}

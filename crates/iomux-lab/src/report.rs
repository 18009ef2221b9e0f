//! [`Report`]: where rendered tables and charts go.
use std::fs;
use std::io::{self, Write};
use std::path::PathBuf;

use crate::chart;

/// Where rendered tables and charts go: printed, kept for `summary.txt`, charts into a folder;
/// or, for the web front end, only kept ([`Report::in_memory`]).
pub struct Report {
    /// The folder the charts go into.
    pub dir: PathBuf,
    pub(crate) text: String,
    /// `Some`: nothing is printed or written; charts are kept here as (name, SVG).
    kept_charts: Option<Vec<(String, String)>>,
}

impl Report {
    /// A report whose charts go into `dir` (created if missing).
    pub fn new(dir: PathBuf) -> Report {
        Report {
            dir,
            text: String::new(),
            kept_charts: None,
        }
    }

    /// A report that prints and writes nothing: its text and charts are kept for the caller.
    pub fn in_memory() -> Report {
        Report {
            dir: PathBuf::new(),
            text: String::new(),
            kept_charts: Some(Vec::new()),
        }
    }

    /// Everything said so far.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The charts kept by an [`in_memory`](Self::in_memory) report, as (name, SVG).
    pub fn into_charts(self) -> Vec<(String, String)> {
        self.kept_charts.unwrap_or_default()
    }

    /// Prints a line and keeps it for `summary.txt`.
    pub fn say(&mut self, line: &str) {
        if self.kept_charts.is_none() {
            // A closed stdout (`| head`) must not end the run: the line is still kept.
            let _ = writeln!(io::stdout(), "{line}");
        }
        self.text.push_str(line);
        self.text.push('\n');
    }

    /// Writes a chart into the folder as `NAME.svg` and, rendered, `NAME.png`.
    pub fn write_chart(&mut self, name: &str, svg: &str) -> io::Result<()> {
        if let Some(kept) = &mut self.kept_charts {
            kept.push((name.to_owned(), svg.to_owned()));
            return Ok(());
        }
        fs::create_dir_all(&self.dir)?;
        fs::write(self.dir.join(format!("{name}.svg")), svg)?;
        match chart::to_png(svg) {
            Ok(png) => fs::write(self.dir.join(format!("{name}.png")), png),
            Err(e) => {
                self.say(&format!(
                    "({name}.png not written: {e}; the SVG has the same chart)"
                ));
                Ok(())
            }
        }
    }
}

//! `iomux runs claims`: the course notes' claims ([`iomux_claims::table::CLAIMS`]), each
//! with the newest stored run that measures it, its figures and whether it held; the commands
//! that measure those no run has measured yet.
use std::fmt::Write as _;
use std::io;

use iomux_claims::check::{self, Finding};
use iomux_claims::rules::{num, Verdict};
use iomux_lab::units::Utc;
use iomux_store::Store;

/// Every claim's finding as the command prints it (`json`: the same findings as JSON, as
/// `/api/claims` has them without the charts).
pub fn render(store: &mut dyn Store, testbed: Option<&str>, json: bool) -> io::Result<String> {
    let findings = check::check(store, testbed, false)?;
    let commands = check::commands_needed(&findings);
    if json {
        let value = serde_json::json!({
            "store": store.describe(),
            "findings": findings,
            "commands": commands,
        });
        return serde_json::to_string_pretty(&value).map_err(io::Error::other);
    }
    let mut out = String::new();
    let mut say = |line: &str| {
        out.push_str(line);
        out.push('\n');
    };
    say(&format!(
        "The course notes' claims, each checked against the newest run in {} that measures it:",
        store.describe()
    ));
    for f in &findings {
        say("");
        say(&show(f));
    }
    if !commands.is_empty() {
        say("");
        say("To measure what no stored run has measured yet:");
        for command in &commands {
            say(&format!("  {command}"));
        }
    }
    out.pop();
    Ok(out)
}

/// One finding, in lines.
fn show(f: &Finding) -> String {
    let mut out = String::new();
    let mut say = |line: &str| {
        let _ = writeln!(out, "{line}");
    };
    say(&format!(
        "{}. {} [{}]",
        f.number,
        f.claim,
        f.verdict.word().to_uppercase()
    ));
    if let (Some(experiment), Some(metric)) = (f.experiment, f.metric) {
        say(&format!(
            "   measured by: bench {experiment}, {metric} of {}",
            f.subjects.join(" vs ")
        ));
    }
    say(&format!("   rule: {}", f.rule));
    let found = if f.verdict == Verdict::Corrected {
        "documented"
    } else {
        "found"
    };
    say(&format!("   {found}: {}", f.summary));
    for figure in &f.figures {
        say(&format!(
            "     {} {} = {}",
            figure.point,
            figure.metric,
            num(figure.value)
        ));
    }
    if let Some(run) = &f.run {
        say(&format!(
            "   run: {} ({} UTC, {}, commit {}{})",
            run.id,
            Utc::of(run.started).minutes(),
            run.host,
            run.git_commit,
            if run.quick {
                "; a --quick run: figures for checking only"
            } else {
                ""
            }
        ));
    }
    if let Some(command) = f.command {
        let again = if f.verdict == Verdict::Unmeasured {
            "to measure it"
        } else {
            "to measure it again"
        };
        say(&format!("   {again}: {command}"));
    }
    out.pop();
    out
}

//! The claims checked against a store: for each claim of [`CLAIMS`], the newest stored run that
//! measures it (its experiment, with every subject the claim compares), the figures its rule
//! read, the verdict (computed here, from those figures), the run's chart, and the command
//! that measures it again.
use std::collections::HashMap;

use iomux_store::record::{Point, RunRecords};
use iomux_store::{RunFilter, Store};
use serde::Serialize;

use crate::rules::{Figure, Judgement, Verdict};
use crate::table::{Claim, Test, CLAIMS};
use iomux_lab::registry;
use iomux_lab::Report;

/// How many of an experiment's newest runs are looked at for one that measured a claim's
/// subjects.
pub const LOOK_AT: usize = 20;

/// A claim and what the store says of it.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// Its place in the notes' order, from 1.
    pub number: usize,
    /// [`Claim::id`].
    pub id: &'static str,
    /// [`Claim::text`].
    pub claim: &'static str,
    /// The experiment that measures it (`None`: a documented correction).
    pub experiment: Option<&'static str>,
    /// The metric its rule reads.
    pub metric: Option<&'static str>,
    /// The subjects it compares.
    pub subjects: &'static [&'static str],
    /// The rule, in words (for a correction: what is true instead).
    pub rule: String,
    /// The command that measures it.
    pub command: Option<&'static str>,
    /// Held, not held, not measured, or corrected.
    pub verdict: Verdict,
    /// What was found, or why it cannot be told.
    pub summary: String,
    /// The figures the verdict rests on.
    pub figures: Vec<Figure>,
    /// The run they come from.
    pub run: Option<RunRef>,
    /// The run's chart of it, when asked for and one exists.
    pub chart: Option<Chart>,
}

/// The run a finding comes from.
#[derive(Clone, Debug, Serialize)]
pub struct RunRef {
    /// Its id.
    pub id: String,
    /// When it started (seconds since the Unix epoch).
    pub started: f64,
    /// Its testbed's host.
    pub host: String,
    /// The commit its binary was built from.
    pub git_commit: String,
    /// A `--quick` run: figures for checking, not for quoting.
    pub quick: bool,
}

/// A chart, as SVG.
#[derive(Clone, Debug, Serialize)]
pub struct Chart {
    /// Its name (the file name `bench` writes it under, without `.svg`).
    pub name: String,
    /// The SVG.
    pub svg: String,
}

/// Every claim, checked against `store`: runs on `testbed` only, if given (a fingerprint, its
/// start or a host name); with each run's chart when `charts`.
pub fn check(
    store: &mut dyn Store,
    testbed: Option<&str>,
    charts: bool,
) -> iomux_store::Result<Vec<Finding>> {
    let mut runs = Runs {
        store,
        testbed,
        loaded: HashMap::new(),
        listed: HashMap::new(),
    };
    CLAIMS
        .iter()
        .enumerate()
        .map(|(i, claim)| finding(&mut runs, i + 1, claim, charts))
        .collect()
}

/// The commands that measure the claims `findings` could not tell, each once, in order.
pub fn commands_needed(findings: &[Finding]) -> Vec<&'static str> {
    let mut commands: Vec<&'static str> = Vec::new();
    for f in findings {
        if let (Verdict::Unmeasured, Some(command)) = (f.verdict, f.command) {
            if !commands.contains(&command) {
                commands.push(command);
            }
        }
    }
    commands
}

/// The store's runs, each loaded once however many claims read it.
struct Runs<'a> {
    store: &'a mut dyn Store,
    testbed: Option<&'a str>,
    loaded: HashMap<String, RunRecords>,
    listed: HashMap<&'static str, Vec<String>>,
}

impl Runs<'_> {
    /// The newest runs of `experiment`, newest first.
    fn of(&mut self, experiment: &'static str) -> iomux_store::Result<Vec<String>> {
        if let Some(ids) = self.listed.get(experiment) {
            return Ok(ids.clone());
        }
        let filter = RunFilter {
            experiment: Some(experiment.to_owned()),
            testbed: self.testbed.map(str::to_owned),
            limit: Some(LOOK_AT),
            ..RunFilter::default()
        };
        let ids: Vec<String> = self
            .store
            .runs(&filter)?
            .into_iter()
            .map(|r| r.id)
            .collect();
        self.listed.insert(experiment, ids.clone());
        Ok(ids)
    }

    fn load(&mut self, id: &str) -> iomux_store::Result<&RunRecords> {
        if !self.loaded.contains_key(id) {
            let records = self.store.load_run(id)?;
            self.loaded.insert(id.to_owned(), records);
        }
        Ok(&self.loaded[id])
    }
}

/// A run's medians of one experiment.
fn points_of(records: &RunRecords, experiment: &str) -> Vec<Point> {
    records
        .points
        .iter()
        .filter(|p| p.experiment == experiment)
        .cloned()
        .collect()
}

fn finding(
    runs: &mut Runs<'_>,
    number: usize,
    claim: &'static Claim,
    charts: bool,
) -> iomux_store::Result<Finding> {
    let measure = match &claim.test {
        Test::Correction { note, see } => {
            return Ok(Finding {
                number,
                id: claim.id,
                claim: claim.text,
                experiment: None,
                metric: None,
                subjects: &[],
                rule: format!("not measurable; see {see}"),
                command: None,
                verdict: Verdict::Corrected,
                summary: (*note).to_owned(),
                figures: Vec::new(),
                run: None,
                chart: None,
            })
        }
        Test::Measured(measure) => measure,
    };
    let ids = runs.of(measure.experiment)?;
    // The newest run that measured every subject the claim compares; else the newest run of
    // the experiment (which then says what it lacks).
    let mut chosen = None;
    for id in &ids {
        let records = runs.load(id)?;
        let measured = |s: &&str| {
            records
                .points
                .iter()
                .any(|p| p.experiment == measure.experiment && p.subject == *s)
        };
        if measure.subjects.iter().all(measured) {
            chosen = Some(id.clone());
            break;
        }
    }
    let chosen = chosen.or_else(|| ids.first().cloned());
    let (judgement, run, chart) = match chosen {
        None => (
            Judgement {
                verdict: Verdict::Unmeasured,
                summary: format!("no stored run of `bench {}` yet", measure.experiment),
                figures: Vec::new(),
            },
            None,
            None,
        ),
        Some(id) => {
            let records = runs.load(&id)?;
            let points = points_of(records, measure.experiment);
            let judgement = measure
                .rule
                .judge(measure.subjects, measure.metric, &points);
            let chart = match (charts, measure.chart) {
                (true, Some(name)) => chart_of(records, measure.experiment, &points, name),
                _ => None,
            };
            let r = &records.run;
            let run = RunRef {
                id: r.id.clone(),
                started: r.started,
                host: r.testbed.host.clone(),
                git_commit: r.git_commit.clone(),
                quick: r.quick,
            };
            (judgement, Some(run), chart)
        }
    };
    Ok(Finding {
        number,
        id: claim.id,
        claim: claim.text,
        experiment: Some(measure.experiment),
        metric: Some(measure.metric),
        subjects: measure.subjects,
        rule: measure.rule.describe(measure.subjects, measure.metric),
        command: Some(measure.command),
        verdict: judgement.verdict,
        summary: judgement.summary,
        figures: judgement.figures,
        run,
        chart,
    })
}

/// The chart `name` of the run's `experiment`, drawn from its points (`None` when the run's
/// parameters cannot be read by this binary, or the experiment draws no such chart).
fn chart_of(records: &RunRecords, experiment: &str, points: &[Point], name: &str) -> Option<Chart> {
    let params = records
        .run
        .experiments
        .iter()
        .find(|e| e.experiment == experiment)?;
    let mut report = Report::in_memory();
    registry::from_record(params)
        .ok()?
        .render(&mut report, points)
        .ok()?;
    report
        .into_charts()
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(name, svg)| Chart { name, svg })
}

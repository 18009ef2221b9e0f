//! A lab session from the command's point of view: run experiments into a new run, or render a
//! stored run again.
use std::io;
use std::path::{Path, PathBuf};

use crate::experiment::Chosen;
use crate::lab::{calibration_refused, describe_run, Lab, LabArgs};
use crate::registry;
use crate::report::Report;
use iomux_store::record::{self, ExperimentParams, Point, RunRecords};

/// Runs `experiments` with the lab's options; returns the folder the results went to (`None`
/// for a dry run, which measures nothing). With `--calibrate K`, K runs in a row, each in a
/// folder of its own; the folder of the last is returned.
pub fn run(lab_args: &LabArgs, experiments: &[Box<dyn Chosen>]) -> io::Result<Option<PathBuf>> {
    let name = match experiments {
        [one] => one.name(),
        _ => "all",
    };
    let Some(runs) = lab_args.calibrate.filter(|_| !lab_args.dry_run) else {
        return run_once(lab_args, name, experiments);
    };
    if let Some(why) = calibration_refused(lab_args, runs) {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, why));
    }
    let mut last = None;
    for i in 1..=runs {
        println!("calibration run {i} of {runs}");
        let args = LabArgs {
            out: lab_args.out.as_ref().map(|o| o.join(format!("run-{i}"))),
            ..lab_args.clone()
        };
        last = run_once(&args, &format!("{name}-calibrate-{i}"), experiments)?;
    }
    Ok(last)
}

/// One run of `experiments`, named `name` in its folder's name.
fn run_once(
    lab_args: &LabArgs,
    name: &str,
    experiments: &[Box<dyn Chosen>],
) -> io::Result<Option<PathBuf>> {
    let recorded: Vec<ExperimentParams> = experiments
        .iter()
        .map(|e| ExperimentParams {
            experiment: e.name().to_owned(),
            params: e.params_json(),
        })
        .collect();
    let mut lab = Lab::new(lab_args, name, recorded)?;
    if lab_args.dry_run {
        println!(
            "{}",
            serde_json::to_string_pretty(lab.run_record()).map_err(io::Error::other)?
        );
        return Ok(None);
    }
    for (i, experiment) in experiments.iter().enumerate() {
        if i > 0 {
            lab.say("");
        }
        lab.headline = experiment.headline();
        experiment.measure(&mut lab)?;
        let points = lab.points_of(experiment.name());
        let report = &mut lab.report;
        lab.progress
            .suspend(|| experiment.render(report, &points))?;
    }
    lab.finish(&registry::SUBJECTS).map(Some)
}

/// `iomux bench show DIR`: the stored run's tables and charts, rendered again.
pub fn show(dir: &Path) -> io::Result<()> {
    let path = dir.join("results.jsonl");
    let jsonl = record::read_jsonl(&path)?;
    if jsonl.runs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} holds no run record", path.display()),
        ));
    }
    let mut report = Report::new(dir.to_path_buf());
    for records in &jsonl.runs {
        render_run(&mut report, records)?;
    }
    Ok(())
}

/// A recorded run's description, tables and charts, rendered from its records.
pub fn render_run(report: &mut Report, records: &RunRecords) -> io::Result<()> {
    report.say(&describe_run(&records.run));
    for (i, experiment) in records.run.experiments.iter().enumerate() {
        if i > 0 {
            report.say("");
        }
        let mine: Vec<Point> = records
            .points
            .iter()
            .filter(|p| p.experiment == experiment.experiment)
            .cloned()
            .collect();
        registry::from_record(experiment)?.render(report, &mine)?;
    }
    Ok(())
}

//! The experiments the lab knows, each with its parameters, and what each is about.
use std::io;

use serde::de::DeserializeOwned;

use crate::experiments::{busy, echo, http, idle, python, soak, store, wait};
use crate::record::{ExperimentParams, Point};
use crate::{Lab, Report};

/// One experiment with its parameters.
pub enum Experiment {
    Wait(wait::Params),
    Echo(echo::Params),
    Idle(idle::Params),
    Busy(busy::Params),
    Store(store::Params),
    Http(http::Params),
    Python(python::Params),
    Soak(soak::Params),
}

impl Experiment {
    /// What `iomux bench all` runs: every experiment that needs nothing but this binary, with
    /// its defaults. (Not `python`: it needs python3, a maturin build of the extension and
    /// uvloop, and its defaults take minutes. Not `store`, `http` or `soak`: they measure the
    /// store, nginx and endurance, not the notes' claims.)
    pub fn all_defaults() -> Vec<Experiment> {
        vec![
            Experiment::Wait(Default::default()),
            Experiment::Echo(Default::default()),
            Experiment::Idle(Default::default()),
            Experiment::Busy(Default::default()),
        ]
    }

    pub fn name(&self) -> &'static str {
        match self {
            Experiment::Wait(_) => wait::NAME,
            Experiment::Echo(_) => echo::NAME,
            Experiment::Idle(_) => idle::NAME,
            Experiment::Busy(_) => busy::NAME,
            Experiment::Store(_) => store::NAME,
            Experiment::Http(_) => http::NAME,
            Experiment::Python(_) => python::NAME,
            Experiment::Soak(_) => soak::NAME,
        }
    }

    pub(crate) fn params_json(&self) -> serde_json::Value {
        let value = match self {
            Experiment::Wait(p) => serde_json::to_value(p),
            Experiment::Echo(p) => serde_json::to_value(p),
            Experiment::Idle(p) => serde_json::to_value(p),
            Experiment::Busy(p) => serde_json::to_value(p),
            Experiment::Store(p) => serde_json::to_value(p),
            Experiment::Http(p) => serde_json::to_value(p),
            Experiment::Python(p) => serde_json::to_value(p),
            Experiment::Soak(p) => serde_json::to_value(p),
        };
        value.expect("parameters serialize")
    }

    /// The subject an experiment's other subjects are compared with across testbeds (the
    /// ratios the tables print).
    pub fn reference(experiment: &str) -> Option<&'static str> {
        match experiment {
            echo::NAME => Some(echo::REFERENCE),
            wait::NAME => Some(wait::REFERENCE),
            idle::NAME => Some(idle::REFERENCE),
            busy::NAME => Some(busy::REFERENCE),
            store::NAME => Some(store::REFERENCE),
            http::NAME => Some(http::REFERENCE),
            python::NAME => Some(python::REFERENCE),
            soak::NAME => Some(soak::REFERENCE),
            _ => None,
        }
    }

    /// The metric an experiment is about (what `runs history` shows unless told otherwise).
    pub fn headline(experiment: &str) -> &'static str {
        match experiment {
            wait::NAME => "wait_us",
            store::NAME => "compare_ms",
            http::NAME => "server_cpu_us_per_req",
            soak::NAME => "fds_end",
            _ => "server_cpu_us_per_msg",
        }
    }

    /// The experiment a run record names, with its recorded parameters.
    pub(crate) fn from_record(record: &ExperimentParams) -> io::Result<Experiment> {
        fn params<T: DeserializeOwned>(record: &ExperimentParams) -> io::Result<T> {
            serde_json::from_value(record.params.clone()).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("the {} parameters cannot be read: {e}", record.experiment),
                )
            })
        }
        Ok(match record.experiment.as_str() {
            wait::NAME => Experiment::Wait(params(record)?),
            echo::NAME => Experiment::Echo(params(record)?),
            idle::NAME => Experiment::Idle(params(record)?),
            busy::NAME => Experiment::Busy(params(record)?),
            store::NAME => Experiment::Store(params(record)?),
            http::NAME => Experiment::Http(params(record)?),
            python::NAME => Experiment::Python(params(record)?),
            soak::NAME => Experiment::Soak(params(record)?),
            other => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("unknown experiment {other:?} in the run record"),
                ))
            }
        })
    }

    pub(crate) fn measure(&self, lab: &mut Lab) -> io::Result<()> {
        match self {
            Experiment::Wait(p) => wait::measure(lab, p),
            Experiment::Echo(p) => echo::measure(lab, p),
            Experiment::Idle(p) => idle::measure(lab, p),
            Experiment::Busy(p) => busy::measure(lab, p),
            Experiment::Store(p) => store::measure(lab, p),
            Experiment::Http(p) => http::measure(lab, p),
            Experiment::Python(p) => python::measure(lab, p),
            Experiment::Soak(p) => soak::measure(lab, p),
        }
    }

    pub(crate) fn render(&self, report: &mut Report, points: &[Point]) -> io::Result<()> {
        match self {
            Experiment::Wait(p) => wait::render(report, p, points),
            Experiment::Echo(p) => echo::render(report, p, points),
            Experiment::Idle(p) => idle::render(report, p, points),
            Experiment::Busy(p) => busy::render(report, p, points),
            Experiment::Store(p) => store::render(report, p, points),
            Experiment::Http(p) => http::render(report, p, points),
            Experiment::Python(p) => python::render(report, p, points),
            Experiment::Soak(p) => soak::render(report, p, points),
        }
    }
}

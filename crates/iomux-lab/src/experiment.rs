//! [`Experiment`]: what an experiment is to the lab. Each experiment's `Params` implements it in
//! its own file; [`crate::registry`] lists them.
use std::io;

use iomux_store::record::Point;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::lab::Lab;
use crate::report::Report;

/// An experiment: its parameters are the implementing type (its command line, its record and,
/// parsed from an empty command line, its defaults: [`crate::params::defaults`]); what it measures and
/// how it shows it are its methods.
pub trait Experiment:
    Serialize + DeserializeOwned + clap::Args + clap::FromArgMatches + 'static
{
    /// Its name, in records and on the command line.
    const NAME: &'static str;
    /// The subject its other subjects are compared with (the ratios its tables print, and
    /// what runs on different testbeds are compared through).
    const REFERENCE: &'static str;
    /// The metric it is about (what `runs history` shows unless told otherwise).
    const HEADLINE: &'static str = "server_cpu_us_per_msg";
    /// Its peers: subjects that are not iomux's code (tokio, nginx, the standard library),
    /// which a comparison of two runs uses as controls for the machine's drift.
    const PEERS: &'static [&'static str] = &[];
    /// Measures every point and records each into `lab` as it is measured.
    fn measure(&self, lab: &mut Lab) -> io::Result<()>;
    /// Its tables and charts, from its recorded points.
    fn render(&self, report: &mut Report, points: &[Point]) -> io::Result<()>;
}

/// An experiment with its parameters, chosen at run time (from the command line, or from a
/// stored run's record).
pub trait Chosen {
    /// Its name.
    fn name(&self) -> &'static str;
    /// Its parameters as recorded.
    fn params_json(&self) -> serde_json::Value;
    /// See [`Experiment::HEADLINE`].
    fn headline(&self) -> &'static str;
    /// See [`Experiment::measure`].
    fn measure(&self, lab: &mut Lab) -> io::Result<()>;
    /// See [`Experiment::render`].
    fn render(&self, report: &mut Report, points: &[Point]) -> io::Result<()>;
}

impl<E: Experiment> Chosen for E {
    fn name(&self) -> &'static str {
        E::NAME
    }

    fn params_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("parameters serialize")
    }

    fn headline(&self) -> &'static str {
        E::HEADLINE
    }

    fn measure(&self, lab: &mut Lab) -> io::Result<()> {
        Experiment::measure(self, lab)
    }

    fn render(&self, report: &mut Report, points: &[Point]) -> io::Result<()> {
        Experiment::render(self, report, points)
    }
}

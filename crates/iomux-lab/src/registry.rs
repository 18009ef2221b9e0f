//! The experiments the lab knows ([`KINDS`]), listed once. Everything that goes by an
//! experiment's name (a stored run's rendering, `runs compare`'s reference subject, `runs
//! history`'s default metric, `bench all`) looks it up here.
use std::io;

use iomux_store::record::ExperimentParams;

use crate::experiment::{Chosen, Experiment};
use crate::experiments::{busy, echo, http, idle, python, soak, store, wait};

/// What the lab knows of an experiment by its name alone.
pub struct Kind {
    /// [`Experiment::NAME`].
    pub name: &'static str,
    /// [`Experiment::REFERENCE`].
    pub reference: &'static str,
    /// [`Experiment::HEADLINE`].
    pub headline: &'static str,
    /// [`Experiment::PEERS`].
    pub peers: &'static [&'static str],
    /// Whether `iomux bench all` runs it (with its defaults).
    pub in_all: bool,
    /// Its recorded parameters, read back.
    read: fn(&serde_json::Value) -> Result<Box<dyn Chosen>, serde_json::Error>,
    /// Its defaults.
    defaults: fn() -> Box<dyn Chosen>,
}

const fn kind<E: Experiment>(in_all: bool) -> Kind {
    fn read<E: Experiment>(
        params: &serde_json::Value,
    ) -> Result<Box<dyn Chosen>, serde_json::Error> {
        Ok(Box::new(E::deserialize(params)?))
    }
    fn defaults<E: Experiment>() -> Box<dyn Chosen> {
        Box::new(crate::params::defaults::<E>())
    }
    Kind {
        name: E::NAME,
        reference: E::REFERENCE,
        headline: E::HEADLINE,
        peers: E::PEERS,
        in_all,
        read: read::<E>,
        defaults: defaults::<E>,
    }
}

/// Every experiment, once. `bench all` runs those that need nothing but this binary and
/// measure the notes' claims: not `python` (python3, a maturin build and uvloop; minutes),
/// `store`, `http` or `soak` (the store, nginx and endurance).
pub const KINDS: &[Kind] = &[
    kind::<wait::Params>(true),
    kind::<echo::Params>(true),
    kind::<idle::Params>(true),
    kind::<busy::Params>(true),
    kind::<store::Params>(false),
    kind::<http::Params>(false),
    kind::<python::Params>(false),
    kind::<soak::Params>(false),
];

/// The experiment named `name`.
pub fn kind_of(name: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.name == name)
}

/// The reference subject of the experiment named `name` (see [`Experiment::REFERENCE`]).
pub fn reference(name: &str) -> Option<&'static str> {
    kind_of(name).map(|k| k.reference)
}

/// The headline metric of the experiment named `name` (see [`Experiment::HEADLINE`]).
pub fn headline(name: &str) -> &'static str {
    kind_of(name).map_or(echo::Params::HEADLINE, |k| k.headline)
}

/// The peers of the experiment named `name` (see [`Experiment::PEERS`]).
pub fn peers(name: &str) -> &'static [&'static str] {
    kind_of(name).map_or(&[], |k| k.peers)
}

/// What a comparison needs to know of every experiment's subjects.
pub const SUBJECTS: iomux_store::compare::Subjects<'static> = iomux_store::compare::Subjects {
    reference: &reference,
    peers: &peers,
};

/// What `iomux bench all` runs, each with its defaults.
pub fn all_defaults() -> Vec<Box<dyn Chosen>> {
    KINDS
        .iter()
        .filter(|k| k.in_all)
        .map(|k| (k.defaults)())
        .collect()
}

/// The experiment a run record names, with its recorded parameters.
pub fn from_record(record: &ExperimentParams) -> io::Result<Box<dyn Chosen>> {
    let kind = kind_of(&record.experiment).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "unknown experiment {:?} in the run record",
                record.experiment
            ),
        )
    })?;
    (kind.read)(&record.params).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the {} parameters cannot be read: {e}", record.experiment),
        )
    })
}

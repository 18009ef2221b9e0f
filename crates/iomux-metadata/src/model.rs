//! [`Model`]: the I/O models `iomux serve` offers. The readiness models are one per selector
//! backend, taken from [`BackendKind::ALL`], so a new backend is a new model here, in the lab
//! and in the tests without any list being edited. The completion model (`uring`) is one more.
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use iomux::BackendKind;

/// How a server waits for work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Model {
    /// A thread per connection, blocking sockets.
    Blocking,
    /// The notes' first server: non-blocking sockets tried in a busy loop, no readiness API.
    Nonblocking,
    /// The readiness loop on one selector backend.
    Readiness(BackendKind),
    /// The notes' selectors server: the callback event loop (IOMUX_BACKEND picks its backend).
    Callbacks,
    /// The asynchronous model: io_uring completions, the kernel does the reads and writes.
    Uring,
}

impl Model {
    /// Every model, in the order the tables show them.
    pub fn all() -> &'static [Model] {
        static ALL: OnceLock<Vec<Model>> = OnceLock::new();
        ALL.get_or_init(|| {
            let mut all = vec![Model::Blocking, Model::Nonblocking];
            all.extend(BackendKind::ALL.into_iter().map(Model::Readiness));
            all.push(Model::Callbacks);
            all.push(Model::Uring);
            all
        })
    }

    /// The name `--model` takes (a readiness model is named after its backend).
    pub fn name(self) -> &'static str {
        match self {
            Model::Blocking => "blocking",
            Model::Nonblocking => "nonblocking",
            Model::Readiness(kind) => kind.name(),
            Model::Callbacks => "callbacks",
            Model::Uring => "uring",
        }
    }

    /// One line for `--help`.
    pub fn describe(self) -> String {
        match self {
            Model::Blocking => "a thread per connection, blocking reads and writes".into(),
            Model::Nonblocking => {
                "the notes' first server: every socket tried in a busy loop, no readiness API"
                    .into()
            }
            Model::Readiness(kind) => format!("the readiness loop on the {kind} backend"),
            Model::Callbacks => {
                "the notes' selectors server: the callback event loop (IOMUX_BACKEND picks its backend)"
                    .into()
            }
            Model::Uring => "the asynchronous model: io_uring completions (multishot accept and receive into a provided-buffer ring, one io_uring_enter per turn)".into(),
        }
    }

    /// The selector backend of a readiness model.
    pub fn backend(self) -> Option<BackendKind> {
        match self {
            Model::Readiness(kind) => Some(kind),
            _ => None,
        }
    }

    /// Whether one thread serves many sockets through a kernel interface that watches them
    /// all (a readiness backend, or io_uring completions): the models `bench idle` compares.
    pub fn multiplexes(self) -> bool {
        matches!(self, Model::Readiness(_) | Model::Uring)
    }

    /// Whether `--threads N` applies (several independent loops sharing the port).
    pub fn runs_several_loops(self) -> bool {
        self.multiplexes()
    }

    /// Whether the model waits on an iomux selector, so `--trace` can record its turns.
    pub fn waits_on_a_selector(self) -> bool {
        matches!(self, Model::Readiness(_) | Model::Callbacks)
    }

    /// Whether `--trace` applies: the model has loop turns to record (a selector's waits, or
    /// the completion model's `io_uring_enter`s).
    pub fn traces(self) -> bool {
        self.waits_on_a_selector() || matches!(self, Model::Uring)
    }

    /// Whether `--stats-addr` applies: its threads publish their counters as they go (the
    /// blocking model's connection threads keep theirs until they end).
    pub fn publishes_stats(self) -> bool {
        !matches!(self, Model::Blocking)
    }

    /// Why this machine cannot run the model, if it cannot (a backend the kernel lacks).
    pub fn probe(self) -> Result<(), String> {
        match self {
            Model::Readiness(kind) => kind.probe(),
            Model::Uring => iomux_sys::uring::probe().and_then(|()| {
                if iomux_sys::uring::kernel_at_least(6, 0) {
                    Ok(())
                } else {
                    Err("multishot receive into a provided-buffer ring needs Linux 6.0".into())
                }
            }),
            Model::Blocking | Model::Nonblocking | Model::Callbacks => Ok(()),
        }
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Model {
    type Err = String;
    fn from_str(name: &str) -> Result<Model, String> {
        Model::all()
            .iter()
            .copied()
            .find(|m| m.name() == name)
            .ok_or_else(|| {
                let names: Vec<_> = Model::all().iter().map(|m| m.name()).collect();
                format!("unknown model {name:?}; models: {}", names.join(", "))
            })
    }
}

impl clap::ValueEnum for Model {
    fn value_variants<'a>() -> &'a [Self] {
        Model::all()
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.name()).help(self.describe()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_backend_is_a_model_and_names_round_trip() {
        for kind in BackendKind::ALL {
            assert!(Model::all().contains(&Model::Readiness(kind)));
        }
        for &model in Model::all() {
            assert_eq!(model.name().parse::<Model>(), Ok(model));
        }
        assert!("bogus".parse::<Model>().unwrap_err().contains("epoll-et"));
    }
}

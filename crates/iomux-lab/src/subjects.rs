//! The servers the lab measures: the `iomux serve` models and the reference peers, by the names
//! `--servers` takes, and the command that starts each as an echo server.
use std::fmt;
use std::io;
use std::str::FromStr;
use std::sync::OnceLock;

use iomux::BackendKind;
use iomux_metadata::Model;

use crate::process::{sibling_binary, ServerSpec};

/// The reference servers `bench echo` compares the models with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    /// tokio's current-thread runtime, a task per connection.
    Tokio,
    /// mio, one event loop.
    Mio,
    /// The floor: a bare level-triggered epoll loop with no abstraction.
    Floor,
    /// monoio, a published io_uring runtime: the completion model's peer.
    Monoio,
}

impl Peer {
    /// Every peer.
    pub const ALL: [Peer; 4] = [Peer::Tokio, Peer::Mio, Peer::Floor, Peer::Monoio];

    /// Every peer's name: the subjects of `bench echo` that are not iomux's code, whose
    /// movement between two runs is the machine's (the controls of a comparison).
    pub const NAMES: [&'static str; 4] = [
        Peer::Tokio.name(),
        Peer::Mio.name(),
        Peer::Floor.name(),
        Peer::Monoio.name(),
    ];

    /// The peer's name, as `--servers` takes it.
    pub const fn name(self) -> &'static str {
        match self {
            Peer::Tokio => "tokio",
            Peer::Mio => "mio",
            Peer::Floor => "floor",
            Peer::Monoio => "monoio",
        }
    }

    fn binary(self) -> &'static str {
        match self {
            Peer::Tokio => "peer-tokio",
            Peer::Mio => "peer-mio",
            Peer::Floor => "peer-epoll",
            Peer::Monoio => "peer-monoio",
        }
    }
}

/// A server `bench echo` measures: an `iomux serve` model or a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject {
    /// An `iomux serve` model.
    Model(Model),
    /// A reference server.
    Peer(Peer),
}

impl Subject {
    /// Every model, then every peer.
    pub fn all() -> &'static [Subject] {
        static ALL: OnceLock<Vec<Subject>> = OnceLock::new();
        ALL.get_or_init(|| {
            let models = Model::all().iter().copied().map(Subject::Model);
            models.chain(Peer::ALL.map(Subject::Peer)).collect()
        })
    }

    /// Its name, as `--servers` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Subject::Model(m) => m.name(),
            Subject::Peer(p) => p.name(),
        }
    }

    /// Whether the server waits in `io_uring_enter`: valgrind (3.19 and older) cannot run
    /// those, since a thread blocked there keeps valgrind's lock and the others never run.
    pub fn uses_io_uring(self) -> bool {
        match self {
            Subject::Model(Model::Uring) => true,
            Subject::Model(Model::Readiness(kind)) => {
                matches!(kind, BackendKind::IoUring | BackendKind::IoUringEdge)
            }
            Subject::Model(_) => false,
            Subject::Peer(peer) => peer == Peer::Monoio,
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Subject {
    type Err = String;
    fn from_str(name: &str) -> Result<Subject, String> {
        Subject::all()
            .iter()
            .copied()
            .find(|s| s.name() == name)
            .ok_or_else(|| {
                let names: Vec<_> = Subject::all().iter().map(|s| s.name()).collect();
                format!(
                    "unknown server {name:?}: name a serve model or a peer ({})",
                    names.join(", ")
                )
            })
    }
}

/// (The struct and its `start` live in [`crate::process`]: every experiment starts
/// servers; which commands run which subjects is this experiment's knowledge.)
impl ServerSpec {
    /// The command that runs `subject` as an echo server.
    pub fn new(subject: Subject) -> io::Result<ServerSpec> {
        match subject {
            Subject::Model(model) => Ok(ServerSpec {
                name: model.name().to_owned(),
                io_uring: subject.uses_io_uring(),
                program: std::env::current_exe()?,
                args: [
                    "serve",
                    "--model",
                    model.name(),
                    "--proto",
                    "echo",
                    "--summary",
                    "json",
                ]
                .map(String::from)
                .to_vec(),
            }),
            Subject::Peer(peer) => Ok(ServerSpec {
                name: peer.name().to_owned(),
                io_uring: subject.uses_io_uring(),
                program: sibling_binary(peer.binary())?,
                args: Vec::new(),
            }),
        }
    }
}

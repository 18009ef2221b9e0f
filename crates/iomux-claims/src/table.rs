//! THE table of the course notes' claims, in the notes' order: what each claims, which
//! experiment measures it (the metric, the subjects, the rule that says whether it held) and
//! the command that measures it. `iomux runs claims` and the web's `/claims` page both read it.
use crate::rules::Rule;

/// One claim of the notes.
#[derive(Debug)]
pub struct Claim {
    /// A short name that stays put (for links and scripts).
    pub id: &'static str,
    /// The claim, as the notes make it.
    pub text: &'static str,
    /// How it is tested.
    pub test: Test,
}

/// How a claim is tested.
#[derive(Debug)]
pub enum Test {
    /// By an experiment's figures.
    Measured(Measure),
    /// Not by measuring: the notes are wrong, and the documentation says so.
    Correction {
        /// What is true instead.
        note: &'static str,
        /// Where the project says so.
        see: &'static str,
    },
}

/// What measures a claim, and what says whether it held.
#[derive(Debug)]
pub struct Measure {
    /// The experiment (`iomux bench NAME`).
    pub experiment: &'static str,
    /// The metric the rule reads (as the store records it).
    pub metric: &'static str,
    /// The subjects compared (the rule names them by place); a run measures the claim when it
    /// measured all of them.
    pub subjects: &'static [&'static str],
    /// Whether it held.
    pub rule: Rule,
    /// The command that measures it.
    pub command: &'static str,
    /// The experiment's chart that shows it, if one does.
    pub chart: Option<&'static str>,
}

/// The notes' claims, in their order.
pub const CLAIMS: &[Claim] = &[
    Claim {
        id: "busy-loop",
        text: "A server that polls its non-blocking sockets in a loop wastes a whole core, even when there is nothing to do.",
        test: Test::Measured(Measure {
            experiment: "busy",
            metric: "server_cpu_share",
            subjects: &["nonblocking", "epoll"],
            rule: Rule::Spins {
                min: 0.5,
                factor: 10.0,
            },
            command: "iomux bench busy",
            chart: Some("busy"),
        }),
    },
    Claim {
        id: "select-scans",
        text: "select copies every watched descriptor into the kernel and scans them all on every call.",
        test: Test::Measured(Measure {
            experiment: "wait",
            metric: "fds_passed_per_wait",
            subjects: &["select"],
            rule: Rule::ScansAll,
            command: "iomux bench wait",
            chart: Some("wait"),
        }),
    },
    Claim {
        id: "select-wall",
        text: "select cannot watch a descriptor numbered 1024 or more (FD_SETSIZE).",
        test: Test::Measured(Measure {
            experiment: "wait",
            metric: "fds_passed_per_wait",
            subjects: &["select"],
            rule: Rule::Wall { limit: 1024 },
            command: "iomux bench wait",
            chart: Some("wait"),
        }),
    },
    Claim {
        id: "poll-scans",
        text: "poll lifts the 1024 limit, but still copies and scans every watched descriptor on every call.",
        test: Test::Measured(Measure {
            experiment: "wait",
            metric: "fds_passed_per_wait",
            subjects: &["poll"],
            rule: Rule::PastWall { limit: 1024 },
            command: "iomux bench wait",
            chart: Some("wait"),
        }),
    },
    Claim {
        id: "epoll-ready-only",
        text: "epoll registers each descriptor once and returns only the ready ones: a wait costs the same however many are watched.",
        test: Test::Measured(Measure {
            experiment: "wait",
            metric: "wait_us",
            subjects: &["epoll"],
            rule: Rule::Flat {
                growth: 2.0,
                spread: 10,
            },
            command: "iomux bench wait",
            chart: Some("wait"),
        }),
    },
    Claim {
        id: "idle-connections",
        text: "Idle connections slow a select or poll server down (each wait scans them), not an epoll one.",
        test: Test::Measured(Measure {
            experiment: "idle",
            metric: "msgs_per_s",
            subjects: &["epoll", "poll"],
            rule: Rule::IdleCost {
                min_idle: 1000,
                keep: 0.8,
            },
            command: "iomux bench idle --models poll,epoll",
            chart: Some("idle"),
        }),
    },
    Claim {
        id: "edge-triggered",
        text: "Edge-triggered epoll is (theoretically) faster than level-triggered.",
        test: Test::Measured(Measure {
            experiment: "echo",
            metric: "server_cpu_us_per_msg",
            subjects: &["epoll-et", "epoll"],
            rule: Rule::Ratio {
                pass: None,
                factor: 0.95,
            },
            command: "iomux bench echo --servers epoll,epoll-et --repeat 3",
            chart: Some("echo"),
        }),
    },
    Claim {
        id: "epoll-mmap",
        text: "epoll hands the ready events to user space through memory shared with the kernel (mmap).",
        test: Test::Correction {
            note: "The notes are wrong: epoll_wait copies the ready events into the caller's array (the kernel writes each one to user memory); nothing is mapped.",
            see: "README.md, \"The I/O models, and what each costs\"",
        },
    },
    Claim {
        id: "async-io",
        text: "select, poll and epoll are synchronous: they only say when to read, and the program still makes every read and write. Asynchronous I/O (io_uring completions) does the copy for you.",
        test: Test::Measured(Measure {
            experiment: "echo",
            metric: "per_msg",
            subjects: &["uring", "epoll"],
            rule: Rule::Ratio {
                pass: Some("syscalls"),
                factor: 0.25,
            },
            command: "iomux bench echo --servers epoll,uring",
            chart: None,
        }),
    },
];

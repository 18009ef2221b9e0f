//! What each metric the lab records means for a comparison: which way is better, and how
//! large a change is noise when nothing better is known. The one catalogue of metric names;
//! a test in the CLI checks that every metric a `bench all` run records is in it.

/// Which direction of a metric is an improvement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    /// Smaller is better (times, costs, failures).
    Lower,
    /// Larger is better (throughput).
    Higher,
    /// A count that describes the run, not its quality.
    Neither,
}

/// The sorts of figure, which are judged differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A headline time or rate from a clock (CPU per message, messages per second): noisy
    /// between runs, so judged against a noise band and, where the run has them, against the
    /// same run's peers. 0 means "below the clock's resolution".
    Timing,
    /// The user/system split of a timing: 10 ms ticks (about 30 in a 0.3 s window), too coarse
    /// to judge. Shown, never judged.
    Split,
    /// A latency percentile: judged only between the interleaved arms of one run
    /// (`--against`), where both arms see the same moments of the machine.
    Latency,
    /// A count (syscalls, instructions, descriptors per wait): nearly deterministic, judged
    /// against its minimum effect.
    Count,
    /// A correctness count whose right value is 0 (errors, mismatches): any change is real.
    Failures,
    /// A figure that describes the measurement, not its outcome (how many messages a counting
    /// pass saw): shown, never judged.
    Descriptive,
}

/// One metric's comparison rules.
#[derive(Clone, Copy, Debug)]
pub struct MetricInfo {
    /// The metric's name as recorded in a point (`unknown` for one not in the catalogue).
    pub name: &'static str,
    /// Which direction is an improvement.
    pub better: Better,
    /// The smallest relative change worth a verdict: below it a row is noise whatever the
    /// statistics say (10% for headline timings, 25% for latency percentiles, 3% for
    /// syscall counts, 2% for instruction counts).
    pub min_effect: f64,
    /// The smallest absolute change worth a verdict, in the metric's unit (syscalls per
    /// message: 0.05, so that 0.02 -> 0.03 of a completion loop is not a 50% regression).
    pub min_abs: f64,
    /// What sort of figure it is.
    pub kind: Kind,
    /// What the metric measures, in a few words (with its unit where it has one).
    pub about: &'static str,
}

/// A catalogue entry; the minimum effect follows from the kind.
const fn entry(name: &'static str, better: Better, kind: Kind, about: &'static str) -> MetricInfo {
    let min_effect = match kind {
        Kind::Timing => 0.10,
        Kind::Latency => 0.25,
        Kind::Count => 0.03,
        Kind::Split | Kind::Failures | Kind::Descriptive => 0.0,
    };
    MetricInfo {
        name,
        better,
        min_effect,
        min_abs: 0.0,
        kind,
        about,
    }
}

const fn timing(name: &'static str, better: Better, about: &'static str) -> MetricInfo {
    entry(name, better, Kind::Timing, about)
}

const fn split(name: &'static str, about: &'static str) -> MetricInfo {
    entry(name, Better::Lower, Kind::Split, about)
}

const fn latency(name: &'static str, about: &'static str) -> MetricInfo {
    entry(name, Better::Lower, Kind::Latency, about)
}

const fn count(name: &'static str, better: Better, about: &'static str) -> MetricInfo {
    entry(name, better, Kind::Count, about)
}

/// A syscall count per message or request: 3%, and at least 0.05 syscalls.
const fn syscalls(name: &'static str, about: &'static str) -> MetricInfo {
    MetricInfo {
        min_abs: SYSCALLS_MIN_ABS,
        ..entry(name, Better::Lower, Kind::Count, about)
    }
}

/// The smallest change in syscalls per message (or request) worth a verdict.
const SYSCALLS_MIN_ABS: f64 = 0.05;

/// The minimum relative effect of an instruction count (callgrind: deterministic to a few
/// hundred instructions a run).
const INSTRUCTIONS_MIN_EFFECT: f64 = 0.02;

const fn failures(name: &'static str, about: &'static str) -> MetricInfo {
    entry(name, Better::Lower, Kind::Failures, about)
}

/// Every metric the lab records.
pub const METRICS: &[MetricInfo] = &[
    timing("msgs_per_s", Better::Higher, "messages echoed per second"),
    timing(
        "server_cpu_us_per_msg",
        Better::Lower,
        "server CPU time per message (µs)",
    ),
    split(
        "server_user_us_per_msg",
        "server user-mode CPU per message (µs)",
    ),
    split(
        "server_system_us_per_msg",
        "server kernel CPU per message (µs)",
    ),
    entry(
        "load_cpu_us_per_msg",
        Better::Lower,
        Kind::Descriptive,
        "load generator CPU per message (µs): the lab's own cost, shown to check it was not the bottleneck",
    ),
    entry(
        "msgs_per_wakeup",
        Better::Neither,
        Kind::Descriptive,
        "messages per time the server's threads went to sleep (voluntary context switches): how much each wake-up batched, which a closed loop's pacing sets as much as the server",
    ),
    entry(
        "fairness",
        Better::Higher,
        Kind::Descriptive,
        "how evenly the load's connections were served in the window: Jain's index over each connection's answered messages (1 = all alike, 1/n = one got all); below 0.9 the latency percentiles mostly count the favoured connections' messages",
    ),
    entry(
        "least_served",
        Better::Higher,
        Kind::Descriptive,
        "the least-served connection's answered messages as a share of the mean (0: one got no answer in the window)",
    ),
    entry(
        "window_s",
        Better::Neither,
        Kind::Descriptive,
        "a closed-loop point's measured window (s): --duration, or longer where the lab lengthened it so each connection completed enough round trips",
    ),
    entry(
        "offered_per_s",
        Better::Neither,
        Kind::Descriptive,
        "a fixed-rate point's offered load (messages per second, the same for every server)",
    ),
    entry(
        "load_on_schedule",
        Better::Higher,
        Kind::Descriptive,
        "a fixed-rate point's share of the window's messages the load generator sent on schedule (within 2 ms): below 0.9 the load itself fell behind, and the server was not offered the rate the point claims",
    ),
    timing(
        "requests_per_s",
        Better::Higher,
        "HTTP requests answered per second",
    ),
    timing(
        "server_cpu_us_per_req",
        Better::Lower,
        "server CPU time per HTTP request (µs)",
    ),
    syscalls("syscalls_per_req", "server syscalls per HTTP request"),
    latency("p50_us", "median latency (µs)"),
    latency("p99_us", "99th percentile latency (µs)"),
    timing("wait_us", Better::Lower, "time per wait call (µs)"),
    timing(
        "round_us",
        Better::Lower,
        "time per round of writes and waits (µs)",
    ),
    timing(
        "server_cpu_share",
        Better::Lower,
        "share of a core the server used",
    ),
    syscalls("syscalls_per_msg", "server syscalls per message"),
    count(
        "per_msg",
        Better::Lower,
        "a counting pass's count per message (syscalls or instructions)",
    ),
    count(
        "fds_passed_per_wait",
        Better::Lower,
        "descriptors handed to the kernel per wait",
    ),
    count("waits_per_round", Better::Lower, "wait calls per round"),
    entry(
        "total",
        Better::Neither,
        Kind::Descriptive,
        "a counting pass's count (instructions: the long run's less the short run's)",
    ),
    entry(
        "messages",
        Better::Neither,
        Kind::Descriptive,
        "messages in a counting pass (instructions: the long run's less the short run's)",
    ),
    entry(
        "base_total",
        Better::Neither,
        Kind::Descriptive,
        "the short run's whole count, in a pass that subtracts one",
    ),
    entry(
        "base_messages",
        Better::Neither,
        Kind::Descriptive,
        "the short run's messages, in a pass that subtracts one",
    ),
    entry(
        "turns",
        Better::Neither,
        Kind::Descriptive,
        "loop turns (waits) a traced point took",
    ),
    entry(
        "events_per_wait",
        Better::Neither,
        Kind::Descriptive,
        "events a traced wait returned, on average",
    ),
    entry(
        "syscalls_per_turn",
        Better::Neither,
        Kind::Descriptive,
        "syscalls (for a ring: completions) between two traced waits, on average",
    ),
    entry(
        "woke_for_fd_share",
        Better::Neither,
        Kind::Descriptive,
        "share of traced waits that woke for a ready descriptor",
    ),
    entry(
        "blocked_us_per_wait",
        Better::Neither,
        Kind::Descriptive,
        "time a traced wait blocked (µs)",
    ),
    entry(
        "t_s",
        Better::Neither,
        Kind::Descriptive,
        "when a soak sample was taken (s)",
    ),
    entry(
        "rss_kib",
        Better::Neither,
        Kind::Descriptive,
        "a soak sample's server RSS (KiB)",
    ),
    entry(
        "fds",
        Better::Neither,
        Kind::Descriptive,
        "a soak sample's open descriptors",
    ),
    entry(
        "queued_bytes",
        Better::Neither,
        Kind::Descriptive,
        "a soak sample's bytes queued in the server's sockets",
    ),
    entry(
        "rss_start_kib",
        Better::Neither,
        Kind::Descriptive,
        "server RSS before the soak (KiB)",
    ),
    count(
        "rss_peak_kib",
        Better::Lower,
        "server RSS at the soak's peak (KiB)",
    ),
    count(
        "rss_end_kib",
        Better::Lower,
        "server RSS after the soak (KiB)",
    ),
    entry(
        "fds_start",
        Better::Neither,
        Kind::Descriptive,
        "open descriptors before the soak",
    ),
    entry(
        "fds_peak",
        Better::Neither,
        Kind::Descriptive,
        "open descriptors at the soak's peak",
    ),
    count("fds_end", Better::Lower, "open descriptors after the soak"),
    entry(
        "queued_peak_bytes",
        Better::Neither,
        Kind::Descriptive,
        "bytes queued in the server's sockets at the soak's peak",
    ),
    count(
        "queued_end_bytes",
        Better::Lower,
        "bytes still queued in the server's sockets after the soak",
    ),
    entry(
        "opened",
        Better::Neither,
        Kind::Descriptive,
        "connections a soak opened",
    ),
    timing(
        "compare_ms",
        Better::Lower,
        "time to compare two stored runs (ms)",
    ),
    timing(
        "import_points_per_s",
        Better::Higher,
        "points imported into the store per second",
    ),
    timing(
        "record_point_us",
        Better::Lower,
        "time to record one point while measuring (µs)",
    ),
    entry(
        "buffered_bytes",
        Better::Neither,
        Kind::Descriptive,
        "a soak sample's bytes owed to clients in the server's own buffers",
    ),
    entry(
        "buffered_peak_bytes",
        Better::Neither,
        Kind::Descriptive,
        "bytes owed in the server's own buffers at the soak's peak",
    ),
    count(
        "buffered_end_bytes",
        Better::Lower,
        "bytes still owed in the server's own buffers after the soak",
    ),
    failures("lost_bytes", "bytes sent and never echoed"),
    failures("errors", "connections that failed"),
    failures("mismatches", "echoed bytes that differed from those sent"),
];

/// The catalogue entry of a metric as measured at a point with parameters `params`
/// (`name=value,...`): a counting pass's `per_msg` is syscalls under strace and instructions
/// under callgrind, each with its own minimum effect.
pub fn info_at(name: &str, params: &str) -> MetricInfo {
    let info = info(name);
    if name != "per_msg" {
        return info;
    }
    if params.split(',').any(|p| p == "pass=callgrind") {
        MetricInfo {
            min_effect: INSTRUCTIONS_MIN_EFFECT,
            ..info
        }
    } else {
        MetricInfo {
            min_abs: SYSCALLS_MIN_ABS,
            ..info
        }
    }
}

/// The catalogue entry of a metric; unknown metrics get a neutral one.
pub fn info(name: &str) -> MetricInfo {
    METRICS
        .iter()
        .find(|m| m.name == name)
        .copied()
        .unwrap_or(UNKNOWN)
}

/// What a metric missing from the catalogue is judged as: a timing with no direction.
const UNKNOWN: MetricInfo = entry(
    "unknown",
    Better::Neither,
    Kind::Timing,
    "not in the catalogue",
);

/// Whether a metric is in the catalogue.
pub fn known(name: &str) -> bool {
    METRICS.iter().any(|m| m.name == name)
}

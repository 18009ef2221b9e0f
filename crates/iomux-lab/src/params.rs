//! What every experiment's parameters share: their defaults (an empty command line), the
//! limits of a `--quick` run, and the descriptors a point may use.
use std::io;

/// A `Params` type's defaults: its command line with no flags. The one source of them.
pub fn defaults<T: clap::Args + clap::FromArgMatches>() -> T {
    let command = T::augment_args(clap::Command::new("defaults").no_binary_name(true));
    let matches = command
        .try_get_matches_from(std::iter::empty::<String>())
        .expect("every parameter has a default");
    T::from_arg_matches(&matches).expect("defaults parse")
}

/// The descriptors this process may use, after raising the soft limit to the hard one.
pub fn fd_budget() -> io::Result<u64> {
    iomux_sys::process::raise_nofile_limit()
}

/// The limits of a `--quick` run.
pub mod quick {
    use std::time::Duration;
    /// Measured time per point.
    pub const DURATION: Duration = Duration::from_millis(40);
    /// Warm-up per point.
    pub const WARMUP: Duration = Duration::from_millis(20);
    /// At most this many descriptors per point.
    pub const MAX_FDS: usize = 300;
    /// At most this many connections per point.
    pub const MAX_CONNS: usize = 20;

    /// A quick run's connection counts: each at most [`MAX_CONNS`].
    pub fn conns(declared: &[usize]) -> Vec<usize> {
        declared.iter().map(|&c| c.min(MAX_CONNS)).collect()
    }
}

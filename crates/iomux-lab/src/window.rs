//! Whether a closed-loop window was long enough to measure a steady state.
//!
//! In a closed loop each connection has one round trip (of `pipeline` messages) outstanding
//! at a time, so a window holds about `window / p50` round trips of each connection. When that
//! is a handful (1,000 connections × 16 KiB × pipeline 16 answers in ~300 ms here), the window
//! measures the ramp after the warm-up, not the steady state, and the ratios between servers
//! move by tens of percent with the window's length (BENCHMARKS §17: 1.43 with 1 s windows,
//! 1.06 with 2 s). So the lab measures such a point again with a window that holds enough
//! (up to [`LONGEST`]), for every server of the point alike, records each window's length
//! (`window_s`), and says so under the point; past [`LONGEST`] it warns instead.
use std::time::Duration;

/// Round trips of each connection a window must hold to be trusted as a steady state.
pub const MIN_ROUND_TRIPS: f64 = 10.0;

/// The longest window the lab gives a point on its own (a longer `--duration` is kept).
pub const LONGEST: Duration = Duration::from_secs(8);

/// How much longer than just enough a lengthened window is: its first round decides it, and
/// the median latency of the later rounds comes out a quarter higher as often as not (at
/// 1,000 × 16 KiB × p16: 150 ms in the first 2 s window, 222 ms over three).
const HEADROOM: f64 = 1.5;

/// The window to measure a point with again, when a window of `window` was too short at a
/// slowest median latency of `p50_us`: one that holds 1.5 times (`HEADROOM`) the round trips
/// needed (whole seconds), at most [`LONGEST`]. `None` when the window did, or cannot be
/// lengthened.
pub fn lengthened(p50_us: f64, window: Duration) -> Option<Duration> {
    too_short(p50_us, window)?;
    let needed = (HEADROOM * MIN_ROUND_TRIPS * p50_us / 1e6).ceil();
    let longer = Duration::from_secs_f64(needed.max(1.0)).min(LONGEST.max(window));
    (longer > window).then_some(longer)
}

/// The line said under a point the lab measured with a window longer than `declared`.
pub fn lengthened_note(declared: Duration, window: Duration) -> Option<String> {
    (window > declared).then(|| {
        format!(
            "window lengthened to {:.1} s at this point (from {:.1} s) so that each connection completed at least {MIN_ROUND_TRIPS:.0} round trips",
            window.as_secs_f64(),
            declared.as_secs_f64()
        )
    })
}

/// When a window of `window` held fewer than [`MIN_ROUND_TRIPS`] round trips at a median
/// latency of `p50_us`: the round trips it held, and the window that would hold enough
/// (whole seconds, rounded up).
pub fn too_short(p50_us: f64, window: Duration) -> Option<(f64, Duration)> {
    if p50_us.is_nan() || p50_us <= 0.0 || window.is_zero() {
        return None;
    }
    let round_trips = window.as_secs_f64() * 1e6 / p50_us;
    (round_trips < MIN_ROUND_TRIPS).then(|| {
        let needed = (MIN_ROUND_TRIPS * p50_us / 1e6).ceil();
        (round_trips, Duration::from_secs_f64(needed.max(1.0)))
    })
}

/// The line said under a point whose slowest server's median latency was `p50_us`, if its
/// window of `window` was too short.
pub fn warning(p50_us: f64, window: Duration) -> Option<String> {
    let (round_trips, needed) = too_short(p50_us, window)?;
    Some(format!(
        "window too short: a connection completed about {round_trips:.1} round trips in the {:.1} s window (slowest p50 {:.0} ms), fewer than {MIN_ROUND_TRIPS:.0}; these figures may measure the ramp, not the steady state: measure this point with --duration {} or more",
        window.as_secs_f64(),
        p50_us / 1000.0,
        needed.as_secs()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_needs_ten_round_trips_of_the_slowest_connection() {
        let s = Duration::from_secs_f64;
        assert_eq!(too_short(1_000.0, s(0.3)), None, "300 round trips");
        assert_eq!(too_short(30_000.0, s(0.3)), None, "exactly 10");
        let (trips, needed) = too_short(300_000.0, s(0.3)).unwrap();
        assert!((trips - 1.0).abs() < 1e-9);
        assert_eq!(needed, s(3.0));
        assert_eq!(
            too_short(150_000.0, s(1.0)).unwrap().1,
            s(2.0),
            "rounded up"
        );
        assert_eq!(too_short(f64::NAN, s(1.0)), None, "no latency measured");
        assert_eq!(too_short(0.0, s(1.0)), None);
        let line = warning(311_689.0, s(0.3)).unwrap();
        assert!(
            line.contains("about 1.0 round trips in the 0.3 s window"),
            "{line}"
        );
        assert!(line.contains("slowest p50 312 ms"), "{line}");
        assert!(line.ends_with("--duration 4 or more"), "{line}");
    }

    #[test]
    fn a_short_window_is_lengthened_to_what_would_do_but_not_past_the_longest() {
        let s = Duration::from_secs_f64;
        assert_eq!(lengthened(1_000.0, s(1.0)), None, "long enough");
        assert_eq!(
            lengthened(300_000.0, s(1.0)),
            Some(s(5.0)),
            "4.5 s rounded up"
        );
        assert_eq!(lengthened(50_000.0, s(0.3)), Some(s(1.0)));
        assert_eq!(lengthened(2_000_000.0, s(1.0)), Some(LONGEST), "capped");
        assert_eq!(lengthened(2_000_000.0, LONGEST), None, "at the cap already");
        assert_eq!(
            lengthened(2_000_000.0, s(10.0)),
            None,
            "a --duration past the cap is never cut"
        );
        assert_eq!(lengthened_note(s(1.0), s(1.0)), None);
        let note = lengthened_note(s(1.0), s(3.0)).unwrap();
        assert!(
            note.contains("lengthened to 3.0 s at this point (from 1.0 s)"),
            "{note}"
        );
    }
}

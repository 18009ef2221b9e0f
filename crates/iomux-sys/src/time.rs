//! Timeout conversions shared by the wait syscalls.
use std::time::Duration;

/// Milliseconds for `epoll_wait`, rounded *up*, so a wait never ends before the caller's timeout
/// (a 0.3 ms timeout must not become a 0 ms poll). `None` (block) becomes `-1`; huge values clamp.
pub(crate) fn timeout_ms_round_up(timeout: Option<Duration>) -> libc::c_int {
    match timeout {
        None => -1,
        Some(t) => {
            let ms = t.as_nanos().div_ceil(1_000_000);
            ms.min(libc::c_int::MAX as u128) as libc::c_int
        }
    }
}

/// A `timespec` for `ppoll`; `None` means block.
pub(crate) fn timespec(timeout: Option<Duration>) -> Option<libc::timespec> {
    timeout.map(|t| libc::timespec {
        tv_sec: t.as_secs().min(libc::time_t::MAX as u64) as libc::time_t,
        tv_nsec: t.subsec_nanos() as libc::c_long,
    })
}

/// A `timeval` for `select`; `None` means block. Microseconds round up for the same reason as above.
pub(crate) fn timeval(timeout: Option<Duration>) -> Option<libc::timeval> {
    timeout.map(|t| {
        let mut secs = t.as_secs();
        let mut micros = t.subsec_nanos().div_ceil(1_000);
        if micros == 1_000_000 {
            secs += 1;
            micros = 0;
        }
        libc::timeval {
            tv_sec: secs.min(libc::time_t::MAX as u64) as libc::time_t,
            tv_usec: micros as libc::suseconds_t,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_up_never_down() {
        assert_eq!(timeout_ms_round_up(None), -1);
        assert_eq!(timeout_ms_round_up(Some(Duration::ZERO)), 0);
        assert_eq!(timeout_ms_round_up(Some(Duration::from_micros(300))), 1);
        assert_eq!(timeout_ms_round_up(Some(Duration::from_millis(7))), 7);
        let tv = timeval(Some(Duration::from_nanos(1_999_999_999))).unwrap();
        assert_eq!((tv.tv_sec, tv.tv_usec), (2, 0));
    }
}

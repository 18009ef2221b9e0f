//! The conformance suite: every test body here runs unchanged against every backend.
//!
//! Each body is a function taking the [`BackendKind`] under test. The `conformance!` macro below
//! instantiates each listed body once per backend, as `select::name`, `poll::name`,
//! `epoll::name`, `epoll_et::name`, `io_uring::name` and `io_uring_et::name` (CPython's `BaseSelectorTestCase` subclasses, as a macro).
//! Bodies listed under `exclusive` open many descriptors or depend on fd numbers, so they run
//! alone (a process-wide write lock), keeping the other bodies' fds small for select. The
//! shared bodies run a second time under a fault schedule that interrupts the test thread's
//! waits (`select::interrupted::name`, ...): `EINTR` must never reach a selector's caller.
//!
//! A backend this kernel cannot run (io_uring disabled by sysctl or seccomp, say) is skipped,
//! loudly: each of its tests prints why. With `IOMUX_REQUIRE_BACKENDS=1` (CI sets it) a skip is
//! a failure instead, so a backend that should run can never pass by not running.
#![allow(missing_docs)]

mod counters;
mod event_loop;
mod limits;
mod readiness;
mod register;
mod stale;
mod timeouts;
mod trace;
mod triggers;
mod util;
mod waker;

use counters::*;
use event_loop::*;
use limits::*;
use readiness::*;
use register::*;
use stale::*;
use timeouts::*;
use trace::*;
use triggers::*;
use waker::*;

macro_rules! conformance {
    (shared: [$($shared:ident),* $(,)?], exclusive: [$($exclusive:ident),* $(,)?] $(,)?) => {
        conformance!(@backend select, Select, [$($shared),*], [$($exclusive),*]);
        conformance!(@backend poll, Poll, [$($shared),*], [$($exclusive),*]);
        conformance!(@backend epoll, Epoll, [$($shared),*], [$($exclusive),*]);
        conformance!(@backend epoll_et, EpollEdge, [$($shared),*], [$($exclusive),*]);
        conformance!(@backend io_uring, IoUring, [$($shared),*], [$($exclusive),*]);
        conformance!(@backend io_uring_et, IoUringEdge, [$($shared),*], [$($exclusive),*]);
    };
    (@backend $module:ident, $kind:ident, [$($shared:ident),*], [$($exclusive:ident),*]) => {
        mod $module {
            use iomux::BackendKind;
            $(
                #[test]
                fn $shared() {
                    if crate::util::available(BackendKind::$kind) {
                        let _guard = crate::util::shared_fds();
                        super::$shared(BackendKind::$kind);
                    }
                }
            )*
            $(
                #[test]
                fn $exclusive() {
                    if crate::util::available(BackendKind::$kind) {
                        let _guard = crate::util::exclusive_fds();
                        super::$exclusive(BackendKind::$kind);
                    }
                }
            )*
            /// The same bodies with this thread's waits interrupted (`EINTR`) at random: the
            /// selector retries each with the time left, so no body may notice.
            mod interrupted {
                use iomux::BackendKind;
                $(
                    #[test]
                    fn $shared() {
                        if crate::util::available(BackendKind::$kind) {
                            let _guard = crate::util::shared_fds();
                            crate::util::with_interrupted_waits(stringify!($shared), || {
                                super::super::$shared(BackendKind::$kind)
                            });
                        }
                    }
                )*
            }
        }
    };
}

conformance! {
    shared: [
        // register.rs
        register_returns_key_and_lookup_finds_it,
        register_twice_is_refused_and_changes_nothing,
        empty_interest_is_refused,
        negative_fd_is_refused,
        modify_changes_interest_and_data,
        modify_or_unregister_unknown_fd_is_refused,
        keys_iterate_in_fd_order,
        drop_releases_everything,
        modified_while_woken_then_closed_really_closes,
        kernel_fd_names_the_backends_kernel_object,
        // readiness.rs
        socket_becomes_readable_when_data_arrives,
        fresh_socket_is_writable,
        pipe_readiness_both_ends,
        interest_masks_readiness,
        peer_close_is_readable_as_end_of_stream,
        a_wait_reports_an_fd_once_with_everything_since_the_last,
        peer_reset_reaches_write_only_registration,
        peer_hangup_reaches_write_only_registration,
        many_ready_at_once_are_all_reported,
        // timeouts.rs
        zero_timeout_returns_at_once,
        bounded_timeout_waits_at_least_that_long,
        blocking_select_returns_on_event,
        eintr_is_retried_with_remaining_time,
        // waker.rs
        waker_interrupts_blocked_select_from_another_thread,
        wake_before_select_returns_at_once_and_only_once,
        waker_is_not_a_registered_key,
        // stale.rs
        unregistered_earlier_in_round_is_not_delivered,
        readiness_masked_by_interest_changed_in_round,
        // trace.rs
        trace_records_each_turn_with_its_wake_reason_and_syscalls,
        // triggers.rs
        level_or_edge_after_partial_read,
        edge_reports_once_per_new_data,
        edge_registration_reports_once_per_new_data,
        edge_registration_after_partial_read_reports_nothing_new,
        edge_registration_wakes_a_blocked_wait_for_a_drained_socket,
        edge_registration_reports_writable_again_after_the_buffer_drains,
        oneshot_registration_reports_once_until_modified,
        still_ready_reports_an_undrained_socket_once_more,
        still_ready_on_an_edge_registration_reports_once_more,
        still_ready_for_an_unregistered_fd_is_not_delivered,
        still_ready_said_twice_hands_back_every_condition,
        // counters.rs
        counters_move_as_they_should,
        wait_time_is_counted,
        // event_loop.rs
        loop_serves_accept_and_read_callbacks,
        loop_timers_run_in_order_and_cancel,
        loop_stop_handle_from_another_thread,
        loop_unregister_in_callback_closes_source,
        loop_round_inside_a_callback_skips_the_running_source,
        loop_notifier_runs_callback_from_another_thread,
        loop_channel_carries_values_from_threads_in_order,
        loop_parked_source_is_silent_until_watched_again,
        loop_still_ready_serves_a_source_again_next_round,
    ],
    exclusive: [
        // register.rs
        closed_fd_is_refused,
        unregister_after_close_succeeds,
        // limits.rs
        thousands_of_fds,
        one_select_reports_thousands_of_ready_fds,
        fd_at_or_above_fd_setsize,
    ],
}

//! Level-triggered re-reports while ready; edge-triggered reports each new readiness once.
use std::io::Read;
use std::time::Duration;

use iomux::{BackendKind, Interest, Selector};

use crate::util::*;

pub fn level_or_edge_after_partial_read(kind: BackendKind) {
    let (a, b) = unix_pair();
    let mut sel = Selector::with_backend(kind).unwrap();
    sel.register(&a, Interest::READ, ()).unwrap();
    send(&b, &[7u8; 100]);
    assert!(expect_event_for(&mut sel, &a).is_readable());
    let mut part = [0u8; 10];
    (&a).read_exact(&mut part).unwrap();
    let again = select_ready(&mut sel, Some(Duration::from_millis(20)));
    if kind.is_edge_triggered() {
        assert!(
            again.is_empty(),
            "edge-triggered: no new data, no new report"
        );
    } else {
        assert_eq!(
            again.len(),
            1,
            "level-triggered: 90 bytes still wait, so it is reported again"
        );
    }
}

pub fn edge_reports_once_per_new_data(kind: BackendKind) {
    let (a, b) = unix_pair();
    let mut sel = Selector::with_backend(kind).unwrap();
    sel.register(&a, Interest::READ, ()).unwrap();
    let mut reports = 0;
    for round in 0..3 {
        send(&b, &[round as u8]);
        for _ in 0..2 {
            reports += select_ready(&mut sel, Some(Duration::from_millis(10))).len();
        }
    }
    if kind.is_edge_triggered() {
        assert_eq!(
            reports, 3,
            "one report per write, none for the unread remainder"
        );
    } else {
        assert_eq!(reports, 6, "every wait reports the unread data");
    }
}

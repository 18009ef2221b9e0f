//! `fd_set` bounds (`iomux_sys::select::FdSet`), driven by any sequence of inserts, removes and
//! lookups of any descriptor number, against a set that cannot be wrong. Out-of-range numbers
//! (negative, or at or past FD_SETSIZE, where `FD_SET` would write past the set) must be
//! refused and change nothing.
#![no_main]

use std::collections::BTreeSet;

use iomux_sys::select::{FdSet, FD_SETSIZE};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut set = FdSet::new();
    let mut model = BTreeSet::new();
    for op in data.chunks_exact(5) {
        let fd = i32::from_le_bytes([op[1], op[2], op[3], op[4]]);
        // Mostly numbers near the edges, where the bugs would be.
        let fd = match op[0] >> 2 {
            0..=20 => fd.rem_euclid(FD_SETSIZE as i32 + 8) - 4,
            _ => fd,
        };
        let in_range = fd >= 0 && (fd as usize) < FD_SETSIZE;
        match op[0] & 3 {
            0 | 1 => {
                let inserted = set.insert(fd);
                assert_eq!(inserted.is_ok(), in_range, "fd {fd}");
                if in_range {
                    model.insert(fd);
                }
            }
            2 => {
                set.remove(fd);
                model.remove(&fd);
            }
            _ => assert_eq!(set.contains(fd), model.contains(&fd), "fd {fd}"),
        }
    }
    for fd in -4..(FD_SETSIZE as i32 + 4) {
        assert_eq!(set.contains(fd), model.contains(&fd), "fd {fd}");
    }
});

//! The byte stream each load connection sends, so every echoed byte can be checked cheaply.
//!
//! Stream byte `k` of a connection is `TABLE[(start + k) % PERIOD]`: a fixed random table with a
//! prime period, entered at a different offset per connection. Sending is a slice of the table
//! (no generation cost); checking an echoed chunk is one `memcmp` against the same slice. A
//! server that corrupts, drops, duplicates, reorders or mixes up connections' bytes is caught,
//! except for the vanishing case of an error that is a whole multiple of the period (and even
//! that shows up as a short stream in the byte count).
use std::sync::OnceLock;

/// The pattern's period: prime, so drops of "round" sizes do not line up with it.
pub const PERIOD: usize = 65_521;

/// Twice the period, so any window of up to `PERIOD` bytes is one contiguous slice.
fn table() -> &'static [u8] {
    static TABLE: OnceLock<Vec<u8>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut x: u64 = 0x243F_6A88_85A3_08D3;
        let once: Vec<u8> = (0..PERIOD)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        once.iter().chain(once.iter()).copied().collect()
    })
}

/// Where connection number `id` enters the table.
pub fn start_for(id: usize) -> u64 {
    (id as u64).wrapping_mul(7_919) % PERIOD as u64
}

/// The stream bytes at `[offset, offset + len)` of a connection entering at `start`; `len` must
/// not exceed [`PERIOD`].
pub fn window(start: u64, offset: u64, len: usize) -> &'static [u8] {
    debug_assert!(len <= PERIOD);
    let at = ((start + offset) % PERIOD as u64) as usize;
    &table()[at..at + len]
}

/// Whether `chunk` is what the stream holds at `offset`.
pub fn matches(start: u64, offset: u64, chunk: &[u8]) -> bool {
    let mut checked = 0;
    while checked < chunk.len() {
        let len = (chunk.len() - checked).min(PERIOD);
        if chunk[checked..checked + len] != *window(start, offset + checked as u64, len) {
            return false;
        }
        checked += len;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn windows_concatenate_into_the_stream(start in 0u64..PERIOD as u64, cuts in prop::collection::vec(1usize..3000, 1..20)) {
            let mut offset = 0u64;
            let mut stream = Vec::new();
            for len in &cuts {
                stream.extend_from_slice(window(start, offset, *len));
                offset += *len as u64;
            }
            prop_assert!(matches(start, 0, &stream));
            // Any single flipped byte is caught.
            let i = (start as usize * 31) % stream.len();
            stream[i] ^= 0x40;
            prop_assert!(!matches(start, 0, &stream));
        }
    }

    #[test]
    fn connections_differ() {
        assert_ne!(window(start_for(0), 0, 64), window(start_for(1), 0, 64));
        assert!(!matches(start_for(1), 0, window(start_for(2), 0, 4096)));
    }
}

//! The load generator's check of an echo (`iomux_pattern::EchoCheck`), fed the stream it sent
//! split at any points, whole, with one byte flipped, or with bytes it never sent appended.
//! Whole, every chunk is taken and each message completes exactly once; a flipped byte is
//! caught in the chunk that holds it and nothing of that chunk is counted; extra bytes are
//! caught as too much. Nothing may panic.
#![no_main]

use iomux_pattern::{EchoCheck, Mismatch};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [a, b, c, d, e, mode, f, g, cuts @ ..] = data else {
        return;
    };
    let id = usize::from(u16::from_le_bytes([*a, *b]));
    let size = usize::from(u16::from_le_bytes([*c, *d]) % 2048) + 1;
    let messages = usize::from(*e % 64) + 1;
    let at = usize::from(u16::from_le_bytes([*f, *g]));
    let mut check = EchoCheck::new(id, size);
    let mut sent = Vec::new();
    while sent.len() < size * messages {
        sent.extend_from_slice(check.send(size * messages - sent.len()));
    }
    let mut echo = sent.clone();
    let flipped = match mode % 3 {
        1 => {
            let i = at % echo.len();
            echo[i] ^= 1 << (at % 8);
            Some(i)
        }
        2 => {
            echo.extend_from_slice(&cuts[..cuts.len().min(16)]);
            echo.push(0);
            None
        }
        _ => None,
    };
    let mut taken = 0usize;
    let mut completed = 0u64;
    let mut sizes = cuts.iter().map(|&n| usize::from(n) * 7 + 1).cycle();
    while taken < echo.len() {
        let len = sizes.next().unwrap_or(echo.len()).min(echo.len() - taken);
        let chunk = &echo[taken..taken + len];
        let result = check.take(chunk);
        let holds_flip = flipped.is_some_and(|i| (taken..taken + len).contains(&i));
        let overflows = taken + len > sent.len();
        match result {
            Ok(n) => {
                assert!(!holds_flip && !overflows, "a bad chunk was taken");
                completed += n;
                taken += len;
                assert_eq!(completed, (taken / size) as u64);
                assert_eq!(check.received(), taken as u64);
            }
            Err(Mismatch::Wrong { offset }) => {
                assert!(holds_flip, "good bytes refused at {offset}");
                assert_eq!(offset, taken as u64);
                assert_eq!(check.received(), taken as u64, "nothing of it counted");
                return;
            }
            Err(Mismatch::TooMuch { sent: s, received }) => {
                assert!(overflows, "too much before anything extra");
                assert_eq!(s, sent.len() as u64);
                assert_eq!(received, (taken + len) as u64);
                return;
            }
        }
    }
    assert!(flipped.is_none(), "a flipped byte went through");
    assert!(check.is_answered());
    assert_eq!(completed, messages as u64);
});

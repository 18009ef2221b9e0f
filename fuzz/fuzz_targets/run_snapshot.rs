//! The results store's run snapshot (`iomux_run_figures.body`), fed any text as a damaged
//! database could hold it: decoding must not panic, and whatever decodes must encode to a text
//! that decodes to the same points.
#![no_main]

use iomux_store::snapshot::{decode, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(Some(lines)) = decode(text) else {
        return;
    };
    if let Some(again) = encode(lines.iter().copied()) {
        assert_eq!(decode(&again).unwrap(), Some(lines));
    }
});

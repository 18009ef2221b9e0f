//! The protocols every server model speaks: what to answer to each chunk read.
//!
//! A "chunk" is whatever one `read` returned, so for `upper` and `reply` the number of answers
//! depends on how TCP split the stream, exactly as in the course notes' servers.

/// What a server answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// Every byte read is written back unchanged, in order.
    Echo,
    /// Each chunk is answered with its ASCII upper-case followed by `_SB` (the notes' selectors server).
    Upper,
    /// Each chunk is answered with a fixed text (the notes' first server: `byebye`).
    Reply(Vec<u8>),
}

impl Protocol {
    /// The answer to one chunk. `scratch` is a reusable buffer for answers that must be built;
    /// `echo` returns the chunk itself, with no copy.
    pub fn answer<'a>(&'a self, chunk: &'a [u8], scratch: &'a mut Vec<u8>) -> &'a [u8] {
        match self {
            Protocol::Echo => chunk,
            Protocol::Upper => {
                scratch.clear();
                scratch.extend(chunk.iter().map(u8::to_ascii_uppercase));
                scratch.extend_from_slice(b"_SB");
                scratch
            }
            Protocol::Reply(text) => text,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn answers() {
        let mut s = Vec::new();
        assert_eq!(Protocol::Echo.answer(b"a\0b", &mut s), b"a\0b");
        assert_eq!(Protocol::Upper.answer(b"hello", &mut s), b"HELLO_SB");
        assert_eq!(
            Protocol::Reply(b"byebye".to_vec()).answer(b"x", &mut s),
            b"byebye"
        );
    }

    proptest! {
        #[test]
        fn upper_is_uppercase_plus_marker(chunk in prop::collection::vec(any::<u8>(), 0..500)) {
            let mut s = Vec::new();
            let out = Protocol::Upper.answer(&chunk, &mut s).to_vec();
            prop_assert_eq!(out.len(), chunk.len() + 3);
            let upper = chunk.to_ascii_uppercase();
            prop_assert_eq!(&out[..chunk.len()], upper.as_slice());
            prop_assert!(out.ends_with(b"_SB"));
        }
    }
}

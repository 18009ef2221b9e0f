//! The protocols every server model speaks, as [`iomux::conn::Protocol`]s.
//!
//! A "chunk" is whatever one read returned, so for `upper` and `reply` the number of answers
//! depends on how TCP split the stream, exactly as in the course notes' servers.
use std::sync::Arc;

use iomux::conn::Protocol;
use iomux::OutBuffer;

/// What a server answers. Cheap to clone: each connection gets its own copy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Every byte read is written back unchanged, in order.
    Echo,
    /// Each chunk is answered with its ASCII upper-case followed by `_SB` (the notes' selectors server).
    Upper,
    /// Each chunk is answered with a fixed text (the notes' first server: `byebye`).
    Reply(Arc<[u8]>),
}

impl Protocol for Answer {
    /// Inline, echo only: the default protocol's answer is one copy into the buffer, and the
    /// others' byte loops stay out of the readiness path (callgrind: a call less per message).
    #[inline]
    fn on_bytes(&mut self, chunk: &[u8], out: &mut OutBuffer) {
        match self {
            Answer::Echo => out.push(chunk),
            other => other.answer_chunk(chunk, out),
        }
    }

    fn answer_is_input(&self) -> bool {
        matches!(self, Answer::Echo)
    }
}

impl Answer {
    /// [`Protocol::on_bytes`] for `upper` and `reply`.
    #[inline(never)]
    fn answer_chunk(&self, chunk: &[u8], out: &mut OutBuffer) {
        match self {
            Answer::Echo => out.push(chunk),
            Answer::Upper => {
                out.extend(chunk.iter().map(u8::to_ascii_uppercase));
                out.push(b"_SB");
            }
            Answer::Reply(text) => out.push(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn answer(proto: &mut Answer, chunk: &[u8]) -> Vec<u8> {
        let mut out = OutBuffer::with_limit(usize::MAX);
        proto.on_bytes(chunk, &mut out);
        out.as_slice().to_vec()
    }

    #[test]
    fn answers() {
        assert_eq!(answer(&mut Answer::Echo, b"a\0b"), b"a\0b");
        assert_eq!(answer(&mut Answer::Upper, b"hello"), b"HELLO_SB");
        assert_eq!(
            answer(&mut Answer::Reply(Arc::from(&b"byebye"[..])), b"x"),
            b"byebye"
        );
    }

    proptest! {
        #[test]
        fn upper_is_uppercase_plus_marker(chunk in prop::collection::vec(any::<u8>(), 0..500)) {
            let out = answer(&mut Answer::Upper, &chunk);
            prop_assert_eq!(out.len(), chunk.len() + 3);
            let upper = chunk.to_ascii_uppercase();
            prop_assert_eq!(&out[..chunk.len()], upper.as_slice());
            prop_assert!(out.ends_with(b"_SB"));
        }
    }
}

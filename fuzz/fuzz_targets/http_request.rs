//! The HTTP/1.1 request path (`iomux_http::protocol::Http` on the connection core), fed any
//! bytes, split into reads anywhere. It must not panic; everything it owes the client must be
//! a sequence of well-formed responses; and how the bytes were split must not change them.
#![no_main]

use std::rc::Rc;
use std::time::Instant;

use iomux::conn::Connection;
use iomux_http::protocol::Http;
use iomux_http::{Handler, Limits, Reply, Request, Response, Ticket};
use libfuzzer_sys::fuzz_target;

/// Answers every request at once with its method and target.
struct Answering;

impl Handler for Answering {
    fn handle(&self, request: Request, _ticket: Ticket) -> Reply {
        let body = format!("{:?} {} {}", request.method, request.target, request.body.len());
        Reply::Now(Response::new(200, "text/plain", body.into_bytes()))
    }
}

/// Small limits, so that the fuzzer reaches every one of them.
fn limits() -> Limits {
    Limits {
        request_line: 256,
        head: 1024,
        body: 4096,
        requests_per_conn: 50,
        pipelined: 8,
        ..Limits::default()
    }
}

/// What the connection owes after `pieces` and the end of stream, `Date` lines left out (they
/// follow the clock) and `100 Continue` interim answers too (one is owed only when a head
/// that expects it arrives without its body, which depends on the split).
fn owed(pieces: &[&[u8]]) -> Vec<u8> {
    let http = Http::new(Rc::new(Answering), 1, limits());
    let mut conn = Connection::new(http, 1 << 20, Instant::now());
    for piece in pieces {
        conn.receive(piece, Instant::now());
    }
    conn.receive_end();
    let text = conn.owed().to_vec();
    let interim = b"HTTP/1.1 100 Continue\r\n\r\n";
    let mut text = text.as_slice();
    let mut kept = Vec::with_capacity(text.len());
    while !text.is_empty() {
        if text.starts_with(interim) {
            text = &text[interim.len()..];
        } else {
            kept.push(text[0]);
            text = &text[1..];
        }
    }
    let mut out = Vec::with_capacity(kept.len());
    let text = kept;
    for line in text.split_inclusive(|&b| b == b'\n') {
        if !line.starts_with(b"Date: ") {
            out.extend_from_slice(line);
        }
    }
    out
}

/// Checks that `bytes` is a sequence of complete responses, each body as long as it says.
fn well_formed(mut bytes: &[u8]) {
    while !bytes.is_empty() {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        let head = match response.parse(bytes) {
            Ok(httparse::Status::Complete(n)) => n,
            other => panic!("not a complete response head: {other:?} in {:?}", String::from_utf8_lossy(bytes)),
        };
        let length: usize = response
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("content-length"))
            .map(|h| std::str::from_utf8(h.value).unwrap().parse().unwrap())
            .expect("every response has a Content-Length");
        assert!(bytes.len() >= head + length, "a body shorter than its Content-Length");
        bytes = &bytes[head + length..];
    }
}

fuzz_target!(|data: &[u8]| {
    // The first byte says where to cut the rest into reads.
    let Some((&cut, input)) = data.split_first() else {
        return;
    };
    let whole = owed(&[input]);
    well_formed(&whole);
    let step = usize::from(cut % 17) + 1;
    let pieces: Vec<&[u8]> = input.chunks(step).collect();
    assert_eq!(owed(&pieces), whole, "the answer depends on how the request was split");
});

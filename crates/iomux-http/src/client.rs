//! The client side iomux needs: one `GET` on a blocking stream, its answer read by its
//! `Content-Length` (the live page's watcher asking a server for its stats, the lab fetching
//! the file it will serve from nginx too).
use std::io::{self, Read, Write};
use std::net::TcpStream;

/// One answer.
#[derive(Debug)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The body, read by its `Content-Length`.
    pub body: Vec<u8>,
    /// The server closes the connection after this answer.
    pub close: bool,
}

/// Sends `GET path` on `stream` (kept alive) and reads the answer, refusing one whose body
/// is over `max` bytes.
pub fn get(stream: &mut TcpStream, path: &str, max: usize) -> io::Result<Answer> {
    write!(stream, "GET {path} HTTP/1.1\r\nHost: iomux\r\n\r\n")?;
    read_answer(stream, max)
}

fn read_answer(s: &mut TcpStream, max: usize) -> io::Result<Answer> {
    let bad = |why: &str| io::Error::new(io::ErrorKind::InvalidData, why.to_owned());
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection before answering",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > max + 16 * 1024 {
            return Err(bad("the answer is larger than expected"));
        }
        let mut fields = [httparse::EMPTY_HEADER; 32];
        let mut answer = httparse::Response::new(&mut fields);
        let head = match answer.parse(&buf) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) => continue,
            Err(_) => return Err(bad("the answer is not HTTP")),
        };
        let length = answer
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("content-length"))
            .and_then(|h| {
                std::str::from_utf8(h.value)
                    .ok()?
                    .trim()
                    .parse::<usize>()
                    .ok()
            })
            .ok_or_else(|| bad("the answer has no Content-Length"))?;
        if length > max {
            return Err(bad("the answer is larger than expected"));
        }
        let close = answer.headers.iter().any(|h| {
            h.name.eq_ignore_ascii_case("connection") && h.value.eq_ignore_ascii_case(b"close")
        });
        let status = answer.code.unwrap_or(0);
        while buf.len() < head + length {
            let n = s.read(&mut chunk)?;
            if n == 0 {
                return Err(bad("the answer ended early"));
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        return Ok(Answer {
            status,
            body: buf[head..head + length].to_vec(),
            close,
        });
    }
}

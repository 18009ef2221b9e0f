//! HTTP/1.1 for iomux's own event loop: a [`Protocol`](iomux::conn::Protocol) on the library's
//! connection core ([`protocol::Http`]) that frames requests across reads, answers pipelined
//! requests in order and holds every connection to [`Limits`]; and the small blocking
//! [`client`] iomux's tools need. The loop that serves it lives with the command (`iomux web`,
//! `iomux serve --stats-addr`), which brings its accept and shutdown rules.
//!
//! A [`Handler`] answers each [`Request`] with a [`Reply`]: a [`Response`] at once,
//! later (its work runs on another thread and comes back through the loop's channel, so a slow
//! database never stalls other clients), or an open event stream (Server-Sent Events).
use std::borrow::Cow;
use std::time::Duration;

use serde::Serialize;

pub mod client;
pub mod date;
pub mod protocol;

/// The bounds every connection is held to. Past one, the client gets the status named here
/// and the connection is closed, having cost at most the bounded buffers.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// The request line, in bytes (414 URI Too Long).
    pub request_line: usize,
    /// The whole request head, in bytes (431 Request Header Fields Too Large).
    pub head: usize,
    /// Request bodies, in bytes (413 Content Too Large).
    pub body: usize,
    /// Requests on one connection; the last one is answered with `Connection: close`.
    pub requests_per_conn: u64,
    /// Parsed requests waiting for their answers on one connection (pipelining); past it the
    /// connection reads no more until answers go out.
    pub pipelined: usize,
    /// From a request's first byte to its last (408 Request Timeout: slowloris).
    pub head_timeout: Duration,
    /// A keep-alive connection with no request in progress is closed after this long.
    pub idle_timeout: Duration,
    /// Bytes owed to one client before it stops being read (and event-stream messages to it are
    /// dropped): what a client that does not read can cost.
    pub buffer: usize,
}

/// At most this many header fields (431 past it): httparse parses into an array this long.
pub const MAX_HEADERS: usize = 64;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            request_line: 8 * 1024,
            head: 16 * 1024,
            body: 1024 * 1024,
            requests_per_conn: 10_000,
            pipelined: 32,
            head_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            buffer: 4 * 1024 * 1024,
        }
    }
}

/// The request methods a handler tells apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// `GET`.
    Get,
    /// `HEAD`: answered as `GET` would be, without the body.
    Head,
    /// `POST`.
    Post,
    /// Any other method (answered 405 by the routes that do not take it).
    Other,
}

/// One parsed request.
#[derive(Debug)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The request target as sent: path and query.
    pub target: String,
    /// Header fields, names in lower case, in order.
    pub headers: Vec<(String, String)>,
    /// The body (`Content-Length` bytes; chunked bodies are refused with 411).
    pub body: Vec<u8>,
}

impl Request {
    /// The target's path (before `?`).
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// A header's value (the first, if repeated); `name` in lower case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A query parameter, percent-decoded (`+` is a space). `None` when absent or not UTF-8.
    pub fn query(&self, name: &str) -> Option<String> {
        let query = self.target.split_once('?')?.1;
        query.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key)? == name).then(|| percent_decode(value))?
        })
    }

    /// Whether the client takes gzip bodies (`Accept-Encoding` names it with a non-zero q).
    pub fn accepts_gzip(&self) -> bool {
        self.header("accept-encoding").is_some_and(|v| {
            v.split(',').any(|item| {
                let mut parts = item.split(';').map(str::trim);
                let coding = parts.next().unwrap_or("");
                let refused = parts.any(|p| {
                    p.strip_prefix("q=")
                        .and_then(|q| q.parse::<f32>().ok())
                        .is_some_and(|q| q == 0.0)
                });
                coding.eq_ignore_ascii_case("gzip") && !refused
            })
        })
    }
}

/// Decodes `%XX` escapes and `+`; `None` for a bad escape or bytes that are not UTF-8.
pub fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// One response. The protocol adds `Content-Length`, `Date`, `Server` and `Connection`.
#[derive(Clone, Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header fields the handler sets (`Content-Type`, `ETag`, ...).
    pub headers: Vec<(&'static str, String)>,
    /// The body (static assets are borrowed, not copied).
    pub body: Cow<'static, [u8]>,
}

impl Response {
    /// A response with a body and its content type.
    pub fn new(status: u16, content_type: &str, body: impl Into<Cow<'static, [u8]>>) -> Self {
        Response {
            status,
            headers: vec![("Content-Type", content_type.to_owned())],
            body: body.into(),
        }
    }

    /// A JSON body.
    pub fn json(value: &impl Serialize) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Response::new(200, "application/json", body),
            Err(e) => Response::error(500, &format!("cannot encode the answer: {e}")),
        }
    }

    /// An error: a JSON object `{"error": message}` (the pages show the message).
    pub fn error(status: u16, message: &str) -> Self {
        let body = serde_json::to_vec(&serde_json::json!({ "error": message, "status": status }))
            .expect("a string map serializes");
        Response::new(status, "application/json", body)
    }

    /// Adds a header field.
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

/// The reason phrase of a status code.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        204 => "No Content",
        304 => "Not Modified",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// Names one request of one connection, so an answer computed elsewhere finds its way back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ticket {
    /// The connection (numbered by the server, never reused in one process).
    pub conn: u64,
    /// The request's place on its connection.
    pub seq: u64,
}

/// How a handler answers.
#[derive(Debug)]
pub enum Reply {
    /// This response, now.
    Now(Response),
    /// Later: the handler keeps the ticket and hands the response to the serving loop (the
    /// command's `Deliveries`) when it is ready.
    Later,
    /// An event stream: this head now (`text/event-stream`), then messages pushed through
    /// the serving loop (the command's `Delivery::Push`) until the client goes away.
    Stream(Response),
}

/// Answers requests. One per server, shared by its connections (on the loop's thread).
pub trait Handler {
    /// Answers `request`, the request named by `ticket`.
    fn handle(&self, request: Request, ticket: Ticket) -> Reply;

    /// Connection `conn` closed (an event-stream subscriber to forget).
    fn closed(&self, _conn: u64) {}
}

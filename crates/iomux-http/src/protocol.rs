//! HTTP/1.1 as a [`Protocol`] on the connection core: requests framed across reads, answered
//! in order, within [`Limits`].
//!
//! Quirks it keeps (RFC 9112):
//! - a request may arrive in any split, one byte at a time or many pipelined in one read; the
//!   answers go out in request order, even when a later one is ready first (an earlier answer
//!   computed on another thread holds back the ones behind it);
//! - empty lines before a request line are skipped;
//! - HTTP/1.1 needs `Host`; HTTP/1.0 is kept alive only when it asks (`Connection: keep-alive`);
//! - bodies come by `Content-Length` only: `Transfer-Encoding` (chunked) is answered 411,
//!   conflicting lengths 400;
//! - `HEAD` gets the head `GET` would, with its `Content-Length`, and no body;
//! - a framing error (400, 411, 413, 414, 431) closes the connection after its answer: the
//!   rest of the stream cannot be trusted to start at a request.
use std::collections::VecDeque;
use std::io::Write as _;
use std::rc::Rc;

use iomux::conn::Protocol;
use iomux::OutBuffer;

use super::{date, reason, Handler, Limits, Method, Reply, Request, Response, Ticket, MAX_HEADERS};

/// One request's place in the answer queue.
struct Slot {
    seq: u64,
    head_only: bool,
    close: bool,
    /// An HTTP/1.0 client asked to keep the connection: the answer must say it does.
    announce_keep_alive: bool,
    stream: bool,
    /// `None` while its answer is computed elsewhere.
    response: Option<Response>,
}

/// A request head parsed, waiting for its body.
struct WantsBody {
    request: Request,
    keep_alive: bool,
    http10: bool,
    length: usize,
}

/// One connection's HTTP state. See the [module docs](self).
pub struct Http<H> {
    handler: Rc<H>,
    conn: u64,
    limits: Limits,
    /// Received bytes not yet parsed (a request's start, or requests behind a full queue).
    input: Vec<u8>,
    body: Option<WantsBody>,
    queue: VecDeque<Slot>,
    /// Slots in the queue whose answer is still to come.
    pending: usize,
    next_seq: u64,
    served: u64,
    /// No more requests: the last answer closes the connection.
    closing: bool,
    /// An event stream is open: the connection carries its messages until the client leaves.
    streaming: bool,
    /// Event-stream messages dropped because the client did not read them.
    dropped: u64,
    /// Requests wait in `input` because the answers owed passed the buffer limit: one read
    /// of small pipelined requests must not turn into unbounded answers.
    held: bool,
    /// Empty-line bytes seen since the last request began.
    blank_bytes: usize,
}

/// Empty-line bytes tolerated before a request.
const MAX_BLANK_BYTES: usize = 64;

impl<H: Handler> Http<H> {
    /// Connection number `conn`'s protocol.
    pub fn new(handler: Rc<H>, conn: u64, limits: Limits) -> Self {
        Http {
            handler,
            conn,
            limits,
            input: Vec::new(),
            body: None,
            queue: VecDeque::new(),
            pending: 0,
            next_seq: 0,
            served: 0,
            closing: false,
            streaming: false,
            dropped: 0,
            held: false,
            blank_bytes: 0,
        }
    }

    /// Whether a request has begun and not yet fully arrived (the head timeout runs).
    pub fn is_partial(&self) -> bool {
        // Not while the server is the one behind: requests waiting for an answer computed
        // elsewhere (the connection reads nothing meanwhile) or for the client to read.
        !self.closing
            && !self.streaming
            && !self.held
            && self.pending == 0
            && (!self.input.is_empty() || self.body.is_some())
    }

    /// Whether requests wait unparsed because the client has not read the answers owed;
    /// [`resume`](Self::resume) them once it has.
    pub fn is_held(&self) -> bool {
        self.held
    }

    /// Parses and answers the requests that were held back.
    pub fn resume(&mut self, out: &mut OutBuffer) {
        self.held = false;
        self.parse_buffered(out);
    }

    /// Event-stream messages dropped because the client was not reading.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The answer to `ticket`'s request arrived: queue it, send what is in order, and go on
    /// with requests that waited behind the full queue.
    pub fn complete(&mut self, ticket: Ticket, response: Response, out: &mut OutBuffer) {
        let Some(slot) = self
            .queue
            .iter_mut()
            .find(|s| s.seq == ticket.seq && s.response.is_none())
        else {
            return;
        };
        slot.response = Some(response);
        self.pending -= 1;
        self.flush(out);
        self.parse_buffered(out);
    }

    /// Appends an event-stream message (already framed: `data: ...\n\n`); dropped, and
    /// counted, when the client is not reading what it was sent.
    pub fn push(&mut self, message: &[u8], out: &mut OutBuffer) {
        if !self.streaming || !self.queue.is_empty() {
            return;
        }
        if out.len() + message.len() > self.limits.buffer {
            self.dropped += 1;
        } else {
            out.push(message);
        }
    }

    /// The head timeout passed with a request still arriving: answer 408 and close.
    pub fn time_out(&mut self, out: &mut OutBuffer) {
        if self.is_partial() {
            self.input.clear();
            self.body = None;
            self.fail(408, "the request did not arrive in time", out);
        }
    }

    /// Parses what `input` holds, and answers.
    fn parse_buffered(&mut self, out: &mut OutBuffer) {
        if self.input.is_empty() {
            return;
        }
        let input = std::mem::take(&mut self.input);
        let used = self.parse(&input, out);
        self.keep_rest(&input, used);
    }

    /// Keeps `data[used..]` as the start of the next request (unless the connection is done
    /// with requests).
    fn keep_rest(&mut self, data: &[u8], used: usize) {
        if self.closing || self.streaming {
            self.input.clear();
        } else {
            self.input.clear();
            self.input.extend_from_slice(&data[used..]);
        }
    }

    /// Parses and answers the requests at the start of `data`; returns the bytes used.
    fn parse(&mut self, data: &[u8], out: &mut OutBuffer) -> usize {
        let mut pos = 0;
        while !self.closing && !self.streaming && self.queue.len() < self.limits.pipelined {
            if out.len() > self.limits.buffer {
                self.held = pos < data.len();
                break;
            }
            let rest = &data[pos..];
            if let Some(wanted) = self.body.take() {
                if rest.len() < wanted.length {
                    self.body = Some(wanted);
                    break;
                }
                let WantsBody {
                    mut request,
                    keep_alive,
                    http10,
                    length,
                } = wanted;
                request.body = rest[..length].to_vec();
                pos += length;
                self.dispatch(request, keep_alive, http10, out);
                continue;
            }
            match rest.first() {
                None => break,
                Some(b'\r' | b'\n') => {
                    // A few empty lines between requests are allowed (RFC 9112 §2.2); a
                    // stream of them is a client holding the connection for nothing.
                    self.blank_bytes += 1;
                    if self.blank_bytes > MAX_BLANK_BYTES {
                        self.fail(400, "too many empty lines before a request", out);
                        break;
                    }
                    pos += 1;
                    continue;
                }
                Some(_) => self.blank_bytes = 0,
            }
            match parse_head(rest, &self.limits) {
                Head::Partial => break,
                Head::Refused(status, why) => {
                    self.fail(status, why, out);
                    break;
                }
                Head::Complete {
                    request,
                    len,
                    keep_alive,
                    http10,
                    body,
                    expects_continue,
                } => {
                    pos += len;
                    if body == 0 {
                        self.dispatch(request, keep_alive, http10, out);
                    } else {
                        // The interim answer only where it is next in line (nothing earlier
                        // still owed) and only to HTTP/1.1 (RFC 9110 §15.2).
                        if expects_continue && rest.len() - len < body && self.queue.is_empty() {
                            out.push(b"HTTP/1.1 100 Continue\r\n\r\n");
                        }
                        self.body = Some(WantsBody {
                            request,
                            keep_alive,
                            http10,
                            length: body,
                        });
                    }
                }
            }
        }
        pos
    }

    /// Hands a complete request to the handler and queues its answer. (`http10`: an HTTP/1.0
    /// request, whose kept connection the answer must announce.)
    fn dispatch(&mut self, request: Request, keep_alive: bool, http10: bool, out: &mut OutBuffer) {
        self.served += 1;
        let close = !keep_alive || self.served >= self.limits.requests_per_conn;
        let head_only = request.method == Method::Head;
        let seq = self.next_seq;
        self.next_seq += 1;
        let ticket = Ticket {
            conn: self.conn,
            seq,
        };
        let (response, stream) = match self.handler.handle(request, ticket) {
            Reply::Now(r) => (Some(r), false),
            Reply::Later => (None, false),
            Reply::Stream(r) => (Some(r), true),
        };
        if response.is_none() {
            self.pending += 1;
        }
        self.closing |= close && !stream;
        self.streaming |= stream;
        self.queue.push_back(Slot {
            seq,
            head_only,
            close: close && !stream,
            announce_keep_alive: http10 && !close,
            stream,
            response,
        });
        self.flush(out);
    }

    /// Answers with an error status and closes after it (the stream is not trusted further).
    fn fail(&mut self, status: u16, why: &str, out: &mut OutBuffer) {
        self.closing = true;
        self.queue.push_back(Slot {
            seq: u64::MAX,
            head_only: false,
            close: true,
            announce_keep_alive: false,
            stream: false,
            response: Some(Response::error(status, why)),
        });
        self.flush(out);
    }

    /// Writes the answers at the front of the queue that are ready, in order.
    fn flush(&mut self, out: &mut OutBuffer) {
        while self.queue.front().is_some_and(|s| s.response.is_some()) {
            let mut slot = self.queue.pop_front().expect("checked");
            let response = slot.response.take().expect("checked");
            write_response(out, &response, &slot);
        }
    }
}

impl<H: Handler> Protocol for Http<H> {
    fn on_bytes(&mut self, input: &[u8], out: &mut OutBuffer) {
        if self.closing || self.streaming {
            return; // nothing more is read as requests
        }
        if self.input.is_empty() {
            // The common case: whole requests in one read, parsed where they lie.
            let used = self.parse(input, out);
            if used < input.len() {
                self.keep_rest(input, used);
            }
        } else {
            self.input.extend_from_slice(input);
            self.parse_buffered(out);
        }
        // A head (or body) that cannot fit is refused once it has grown past its bound, so
        // the buffer stays bounded however slowly it arrives.
        if self.input.len() > self.limits.head + self.limits.body {
            self.input.clear();
            self.fail(413, "the request is too large", out);
        }
    }

    fn wants_read(&self) -> bool {
        !self.closing && !self.held
    }

    fn awaiting(&self) -> bool {
        self.pending > 0
    }
}

enum Head {
    Partial,
    Refused(u16, &'static str),
    Complete {
        request: Request,
        len: usize,
        keep_alive: bool,
        /// HTTP/1.0: keep-alive only when asked, and then said in the answer.
        http10: bool,
        body: usize,
        expects_continue: bool,
    },
}

/// Parses one request head at the start of `data`, within the limits.
fn parse_head(data: &[u8], limits: &Limits) -> Head {
    let line_end = data
        .iter()
        .take(limits.request_line + 1)
        .position(|&b| b == b'\n');
    // Only the bytes within the limits are parsed, so that where the client's writes happened
    // to be cut cannot change the answer (found by fuzzing): a malformed byte past a limit is
    // never reached, the limit is, however the bytes arrive.
    let limit = match line_end {
        None => limits.request_line,
        Some(_) => limits.head,
    };
    let window = &data[..data.len().min(limit + 1)];
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut fields);
    let len = match parsed.parse(window) {
        Ok(httparse::Status::Complete(len)) if len > limits.head => {
            return Head::Refused(431, "the request head is too large")
        }
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if line_end.is_none() && data.len() > limits.request_line => {
            return Head::Refused(414, "the request line is too long")
        }
        Ok(httparse::Status::Partial) if data.len() > limits.head => {
            return Head::Refused(431, "the request head is too large")
        }
        Ok(httparse::Status::Partial) => return Head::Partial,
        Err(httparse::Error::TooManyHeaders) => {
            return Head::Refused(431, "too many header fields")
        }
        Err(httparse::Error::Version) => {
            return Head::Refused(505, "only HTTP/1.0 and HTTP/1.1 are served")
        }
        Err(_) => return Head::Refused(400, "the request is malformed"),
    };
    let version = parsed.version.unwrap_or(1);
    let method = match parsed.method.unwrap_or("") {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        _ => Method::Other,
    };
    let target = parsed.path.unwrap_or("").to_owned();
    let mut headers = Vec::with_capacity(parsed.headers.len());
    let mut length: Option<usize> = None;
    let mut connection_close = false;
    let mut connection_keep_alive = false;
    let mut has_host = false;
    let mut expects_continue = false;
    for field in parsed.headers.iter() {
        let name = field.name.to_ascii_lowercase();
        let value = String::from_utf8_lossy(field.value).trim().to_owned();
        match name.as_str() {
            "content-length" => {
                let digits = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
                let Some(n) = value.parse::<usize>().ok().filter(|_| digits) else {
                    return Head::Refused(400, "Content-Length is not a number");
                };
                if length.is_some_and(|m| m != n) {
                    return Head::Refused(400, "conflicting Content-Length fields");
                }
                length = Some(n);
            }
            "transfer-encoding" => {
                return Head::Refused(
                    411,
                    "chunked request bodies are not taken: send Content-Length",
                )
            }
            "connection" => {
                for token in value.split(',').map(str::trim) {
                    connection_close |= token.eq_ignore_ascii_case("close");
                    connection_keep_alive |= token.eq_ignore_ascii_case("keep-alive");
                }
            }
            "host" => has_host = true,
            "expect" => {
                expects_continue = version == 1 && value.eq_ignore_ascii_case("100-continue")
            }
            _ => {}
        }
        headers.push((name, value));
    }
    if version == 1 && !has_host {
        return Head::Refused(400, "HTTP/1.1 requests need a Host field");
    }
    let body = length.unwrap_or(0);
    if body > limits.body {
        return Head::Refused(413, "the request body is too large");
    }
    let keep_alive = if version == 1 {
        !connection_close
    } else {
        connection_keep_alive && !connection_close
    };
    Head::Complete {
        request: Request {
            method,
            target,
            headers,
            body: Vec::new(),
        },
        len,
        keep_alive,
        http10: version == 0,
        body,
        expects_continue,
    }
}

/// Writes a response: status line, fields, body.
fn write_response(out: &mut OutBuffer, response: &Response, slot: &Slot) {
    let mut head = Vec::with_capacity(256);
    let status = response.status;
    // Writing into a Vec cannot fail.
    let _ = write!(
        head,
        "HTTP/1.1 {status} {}\r\nServer: iomux\r\n",
        reason(status)
    );
    date::with_now(|now| {
        head.extend_from_slice(b"Date: ");
        head.extend_from_slice(now.as_bytes());
        head.extend_from_slice(b"\r\n");
    });
    for (name, value) in &response.headers {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    let has_body = status >= 200 && status != 204 && status != 304;
    if slot.stream {
        head.extend_from_slice(b"Cache-Control: no-cache\r\n");
    } else if has_body {
        let _ = write!(head, "Content-Length: {}\r\n", response.body.len());
    }
    if slot.close {
        head.extend_from_slice(b"Connection: close\r\n");
    } else if slot.announce_keep_alive {
        head.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    head.extend_from_slice(b"\r\n");
    out.push(&head);
    if has_body && !slot.head_only {
        out.push(&response.body);
    }
}

#[cfg(test)]
mod tests;

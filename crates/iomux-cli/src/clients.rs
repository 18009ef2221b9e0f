//! The course notes' clients: the interactive client and the threaded "hello" client.
use std::io::{self, BufRead, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// How long the interactive client keeps collecting a reply after its first bytes: an answer
/// may arrive in several TCP segments, and the protocols have no framing to say it is complete.
const REPLY_SETTLE: Duration = Duration::from_millis(30);
/// How long any reply may take to start.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// `iomux client`: prompt `>>: `, skip empty lines, send each line, print the reply. Works with
/// a terminal or a pipe on stdin; returns at end of input.
pub fn interactive(addr: SocketAddr) -> io::Result<()> {
    let mut conn =
        TcpStream::connect(addr).map_err(|e| context(e, &format!("cannot connect to {addr}")))?;
    conn.set_nodelay(true)?;
    let stdin = io::stdin();
    let mut stdout = io::stdout();
    let mut line = String::new();
    loop {
        write!(stdout, ">>: ")?;
        stdout.flush()?;
        line.clear();
        if stdin.lock().read_line(&mut line)? == 0 {
            writeln!(stdout)?;
            return Ok(());
        }
        let msg = line.trim_end_matches(['\n', '\r']);
        if msg.is_empty() {
            continue;
        }
        conn.write_all(msg.as_bytes())?;
        let reply = read_reply(&mut conn)?;
        if reply.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ));
        }
        writeln!(stdout, "{}", String::from_utf8_lossy(&reply))?;
    }
}

/// Reads the first bytes of a reply (waiting up to [`REPLY_TIMEOUT`]), then whatever follows
/// within [`REPLY_SETTLE`]. Empty means the server closed the connection.
fn read_reply(conn: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut reply = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    conn.set_read_timeout(Some(REPLY_TIMEOUT))?;
    loop {
        match conn.read(&mut buf) {
            Ok(0) => return Ok(reply),
            Ok(n) => {
                reply.extend_from_slice(&buf[..n]);
                conn.set_read_timeout(Some(REPLY_SETTLE))?;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if reply.is_empty() {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("no reply within {REPLY_TIMEOUT:?}"),
                    ));
                }
                return Ok(reply);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// `iomux hello`: `clients` threads connect at once, each sends `message`, waits `wait`, and
/// prints the reply it got (up to 1024 bytes, like the notes' `recv(1024)`). Returns the number
/// of clients that failed; each failure is printed with its reason.
pub fn hello(addr: SocketAddr, clients: usize, message: &str, wait: Duration) -> usize {
    let threads: Vec<_> = (0..clients)
        .map(|i| {
            let message = message.to_owned();
            std::thread::spawn(move || (i, one_hello(addr, &message, wait)))
        })
        .collect();
    let mut failed = 0;
    for thread in threads {
        match thread.join() {
            Ok((i, Ok(reply))) => println!("client {i}: {}", String::from_utf8_lossy(&reply)),
            Ok((i, Err(e))) => {
                failed += 1;
                eprintln!("client {i}: failed: {e}");
            }
            Err(_) => {
                failed += 1;
                eprintln!("a client thread panicked");
            }
        }
    }
    failed
}

fn one_hello(addr: SocketAddr, message: &str, wait: Duration) -> io::Result<Vec<u8>> {
    let mut conn =
        TcpStream::connect(addr).map_err(|e| context(e, &format!("cannot connect to {addr}")))?;
    conn.write_all(message.as_bytes())?;
    std::thread::sleep(wait);
    conn.set_read_timeout(Some(REPLY_TIMEOUT))?;
    let mut buf = [0u8; 1024];
    let n = conn.read(&mut buf).map_err(|e| context(e, "no reply"))?;
    if n == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the server closed the connection without a reply",
        ));
    }
    Ok(buf[..n].to_vec())
}

fn context(e: io::Error, what: &str) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

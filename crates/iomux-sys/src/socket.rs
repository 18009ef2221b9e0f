//! Socket calls the standard library does not offer in the form we need.
use std::io;
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr;

use crate::cvt::cvt;
use crate::trace::{self, Op};

/// `accept4(SOCK_NONBLOCK | SOCK_CLOEXEC)`: one syscall where `accept` + `set_nonblocking` take
/// two. The peer address is not asked for (call `peer_addr` when it is needed).
///
/// `EMFILE`/`ENFILE` come back as errors like any other; see the servers for how not to spin.
pub fn accept_nonblocking(listener: &TcpListener) -> io::Result<TcpStream> {
    #[cfg(feature = "fault-injection")]
    let reuse = crate::fault::accept_fault()?;
    let fd = listener.as_raw_fd();
    let raw = if trace::enabled() {
        trace::timed(Op::Accept, fd, || accept4(fd))?
    } else {
        accept4(fd)?
    };
    // SAFETY: raw is a new connected socket returned by accept4, owned by nothing else.
    let socket = unsafe { OwnedFd::from_raw_fd(raw as RawFd) };
    // A fault may move the connection to another number; trace mode's record of this accept
    // then shows the number the kernel gave, which the connection no longer uses.
    #[cfg(feature = "fault-injection")]
    let socket = crate::fault::accepted(socket, reuse);
    Ok(TcpStream::from(socket))
}

#[inline(always)]
fn accept4(listener: RawFd) -> io::Result<usize> {
    // SAFETY: listener is a live socket (the caller borrows it); null address pointers ask the
    // kernel not to store the peer address, which accept4 allows.
    let raw = cvt(unsafe {
        libc::accept4(
            listener,
            ptr::null_mut(),
            ptr::null_mut(),
            libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
        )
    })?;
    Ok(raw as usize)
}

/// Whether an `accept` error means the process or system ran out of descriptors (or memory for
/// one): the listener stays readable, so a readiness loop must back off instead of retrying.
pub fn is_fd_exhaustion(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// Whether an `accept` error concerns only the connection being accepted (it was reset or
/// aborted before we took it), so the next accept may well succeed.
pub fn is_transient_accept_error(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(
            libc::ECONNABORTED
                | libc::EPROTO
                | libc::EPERM
                | libc::ENETDOWN
                | libc::ENOPROTOOPT
                | libc::EHOSTDOWN
                | libc::ENONET
                | libc::EHOSTUNREACH
                | libc::EOPNOTSUPP
                | libc::ENETUNREACH
        )
    )
}

/// How many bytes a read on `fd` would find now (`ioctl(FIONREAD)`: a socket's or pipe's
/// queue). The selector's emulated edge triggering asks it to tell new data from old.
pub fn bytes_readable(fd: RawFd) -> io::Result<usize> {
    let mut queued: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int through the pointer, which points to `queued`, alive for
    // the call; a bad or unsuitable fd is reported by the kernel as an error.
    cvt(unsafe { libc::ioctl(fd, libc::FIONREAD, &mut queued as *mut libc::c_int) })?;
    Ok(queued.max(0) as usize)
}

/// A connected stream socket whose reads and writes are the bare syscalls (`recvfrom`,
/// `sendto` with `MSG_NOSIGNAL`), made by the `syscall` instruction itself (`raw.rs`) rather
/// than through libc's `recv`/`send` or its `syscall(2)` wrapper.
///
/// Why: in a multi-threaded process (a server with a signal thread is one), every libc socket
/// call is a cancellation point that brackets the syscall with
/// `__pthread_enable_asynccancel`/`__pthread_disable_asynccancel`: measured by callgrind at
/// about 60 user-space instructions per echoed message, an eighth of the epoll model's total.
/// iomux never cancels threads, so it needs none of that. `MSG_NOSIGNAL` also makes a write to
/// a reset peer an `EPIPE` error rather than a `SIGPIPE`.
#[derive(Debug)]
pub struct DirectStream(TcpStream);

impl DirectStream {
    /// Wraps a connected (non-blocking, for the readiness models) stream.
    pub fn new(stream: TcpStream) -> Self {
        DirectStream(stream)
    }

    /// The standard library's view of the same socket.
    pub fn stream(&self) -> &TcpStream {
        &self.0
    }
}

impl AsRawFd for DirectStream {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.0.as_raw_fd()
    }
}

impl io::Read for &DirectStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        #[cfg(feature = "fault-injection")]
        let buf = {
            let allowed = crate::fault::allowed(crate::fault::Call::Read, buf.len())?;
            &mut buf[..allowed]
        };
        recv(self.0.as_raw_fd(), buf)
    }
}

impl io::Write for &DirectStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        #[cfg(feature = "fault-injection")]
        let buf = &buf[..crate::fault::allowed(crate::fault::Call::Write, buf.len())?];
        send(self.0.as_raw_fd(), buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A [`DirectStream`] whose reads and writes are timed and recorded for trace mode
/// ([`crate::trace`]). A server that traces uses this type, and one that does not uses
/// `DirectStream`, whose calls then carry no test of a switch at all.
#[derive(Debug)]
pub struct TracedStream(DirectStream);

impl From<TcpStream> for TracedStream {
    fn from(stream: TcpStream) -> Self {
        TracedStream(DirectStream::new(stream))
    }
}

impl From<TcpStream> for DirectStream {
    fn from(stream: TcpStream) -> Self {
        DirectStream::new(stream)
    }
}

impl AsRawFd for TracedStream {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

impl io::Read for &TracedStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let stream = &self.0;
        trace::timed(Op::Read, stream.as_raw_fd(), || (&mut &*stream).read(buf))
    }
}

impl io::Write for &TracedStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let stream = &self.0;
        trace::timed(Op::Write, stream.as_raw_fd(), || (&mut &*stream).write(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `recvfrom` on a connected socket, by the `syscall` instruction (see [`DirectStream`] and
/// `raw.rs`).
#[inline(always)]
fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: the caller borrows the socket open for the call; buf is a valid, exclusively
    // borrowed buffer of buf.len() bytes for the kernel to write; null address pointers (0) ask
    // for no source address, which recvfrom allows on a connected socket.
    unsafe {
        crate::raw::syscall6(
            libc::SYS_recvfrom,
            fd as usize,
            buf.as_mut_ptr() as usize,
            buf.len(),
            0,
            0,
            0,
        )
    }
}

/// `sendto` with `MSG_NOSIGNAL` on a connected socket, by the `syscall` instruction.
#[inline(always)]
fn send(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: the caller borrows the socket open for the call; buf is a valid buffer of
    // buf.len() bytes that the kernel only reads; a null address (0) of length 0 is right for a
    // connected socket.
    unsafe {
        crate::raw::syscall6(
            libc::SYS_sendto,
            fd as usize,
            buf.as_ptr() as usize,
            buf.len(),
            libc::MSG_NOSIGNAL as usize,
            0,
            0,
        )
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::DirectStream;

    #[test]
    fn reads_and_writes_like_the_stream_and_a_reset_peer_is_an_error_not_a_signal() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let server = DirectStream::new(listener.accept().unwrap().0);
        client.write_all(b"ping").unwrap();
        let mut got = [0u8; 4];
        (&server).read_exact(&mut got).unwrap();
        assert_eq!(&got, b"ping");
        (&server).write_all(b"pong").unwrap();
        client.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"pong");
        drop(client);
        server.stream().set_nonblocking(true).unwrap();
        let err = (0..100)
            .find_map(|_| {
                std::thread::sleep(std::time::Duration::from_millis(1));
                (&server).write(&[0u8; 1024]).err()
            })
            .expect("writes to a closed peer fail");
        assert!(
            matches!(err.raw_os_error(), Some(libc::EPIPE | libc::ECONNRESET)),
            "{err}"
        );
    }
}

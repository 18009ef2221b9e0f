//! The reference for `iomux load`'s own cost: a plain, well-written verifying echo client
//! straight on epoll. N connections, one message of SIZE bytes in flight on each; every echoed
//! byte is compared with what was sent; no latency histogram, no selector, no open loop. Prints
//! one JSON line: messages completed, messages per second, and this process's CPU seconds.
//!
//! `peer-load-epoll --addr A --conns N --size BYTES --duration SECS`
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use iomux_sys::epoll::{Epoll, EpollEvent, EPOLLIN};

/// The plain verifying echo client that `iomux load` is compared with.
#[derive(clap::Parser)]
#[command(name = "peer-load-epoll")]
struct Args {
    /// The echo server's address.
    #[arg(long, default_value = iomux_metadata::DEFAULT_ADDR)]
    addr: SocketAddr,
    /// Connections, each with one message in flight.
    #[arg(long, default_value_t = 100)]
    conns: usize,
    /// Message size in bytes.
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Seconds to run.
    #[arg(long, default_value_t = 2.0)]
    duration: f64,
}

struct Conn {
    stream: TcpStream,
    message: Vec<u8>,
    received: usize,
}

fn main() -> std::io::Result<()> {
    let Args {
        addr,
        conns,
        size,
        duration,
    } = clap::Parser::parse();
    let duration = Duration::try_from_secs_f64(duration).map_err(std::io::Error::other)?;
    let epoll = Epoll::new()?;
    let mut all = Vec::with_capacity(conns);
    for i in 0..conns {
        let mut stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        // A distinct message per connection, so crossed streams are caught too.
        let message: Vec<u8> = (0..size).map(|k| (k * 31 + i * 7 + 1) as u8).collect();
        stream.write_all(&message)?;
        stream.set_nonblocking(true)?;
        epoll.add(stream.as_raw_fd(), EPOLLIN as u32, i as u64)?;
        all.push(Conn {
            stream,
            message,
            received: 0,
        });
    }
    let cpu_before = iomux_sys::process::process_cpu_time()?;
    let started = Instant::now();
    let mut events = vec![EpollEvent::zeroed(); 1024];
    let mut buf = vec![0u8; 64 * 1024];
    let (mut messages, mut mismatches) = (0u64, 0u64);
    while started.elapsed() < duration {
        let n = match epoll.wait(&mut events, Some(Duration::from_millis(100))) {
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        for ev in &events[..n] {
            let conn = &mut all[ev.data() as usize];
            let got = match conn.stream.read(&mut buf) {
                Ok(0) => return Err(std::io::Error::other("the server closed a connection")),
                Ok(got) => got,
                Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            };
            if conn.received + got > size
                || buf[..got] != conn.message[conn.received..conn.received + got]
            {
                mismatches += 1;
            }
            conn.received += got;
            if conn.received >= size {
                conn.received = 0;
                messages += 1;
                conn.stream.write_all(&conn.message)?;
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_after = iomux_sys::process::process_cpu_time()?;
    let cpu = (cpu_after.0 + cpu_after.1)
        .saturating_sub(cpu_before.0 + cpu_before.1)
        .as_secs_f64();
    println!(
        "{{\"messages\":{messages},\"msgs_per_s\":{:.1},\"cpu_s\":{cpu:.4},\"cpu_us_per_msg\":{:.3},\"mismatches\":{mismatches}}}",
        messages as f64 / elapsed,
        cpu * 1e6 / messages.max(1) as f64
    );
    Ok(())
}

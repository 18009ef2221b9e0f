//! The course notes' `selectors` server, on iomux's callback event loop: an accept callback on
//! the listener, a read callback per connection, and each message answered with its upper-case
//! followed by `_SB`. `IOMUX_BACKEND` picks the backend. Run:
//! `cargo run -p iomux --example selectors_server -- 127.0.0.1:8088`
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};

use iomux::{EventLoop, Interest, Readiness};

fn accept(lp: &mut EventLoop, server: &mut TcpListener, _: Readiness) {
    while let Ok((conn, addr)) = server.accept() {
        println!("accepted {addr}");
        if conn.set_nonblocking(true).is_ok() {
            let _ = lp.register(conn, Interest::READ, read);
        }
    }
}

fn read(lp: &mut EventLoop, conn: &mut TcpStream, _: Readiness) {
    let mut data = [0u8; 1024];
    match conn.read(&mut data) {
        Ok(n) if n > 0 => {
            let mut reply = data[..n].to_ascii_uppercase();
            reply.extend_from_slice(b"_SB");
            if conn.write_all(&reply).is_err() {
                lp.unregister_current();
            }
        }
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        _ => {
            println!("closing {:?}", conn.peer_addr());
            lp.unregister_current(); // drops, and so closes, the connection
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8088".into());
    let server = TcpListener::bind(&addr)?;
    server.set_nonblocking(true)?;
    println!(
        "listening on {} ({} backend)",
        server.local_addr()?,
        iomux::BackendKind::default_choice()?
    );
    let mut lp = EventLoop::new()?;
    lp.register(server, Interest::READ, accept)?;
    lp.run()?;
    Ok(())
}

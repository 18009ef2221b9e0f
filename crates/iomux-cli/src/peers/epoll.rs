//! The floor: an echo loop written straight on epoll_wait / epoll_ctl / accept4 / read / write,
//! level-triggered, with no abstraction in between: no selector, no key map, no generations, no
//! counters. The gap between this and `iomux serve --model epoll` is what iomux's layers cost.
//! (The syscalls go through iomux-sys, whose wrappers are a direct call each, so that unsafe
//! code stays in one crate.)

#[path = "common.rs"]
mod common;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;

use iomux_sys::epoll::{Epoll, EpollEvent, EPOLLIN, EPOLLOUT};

fn main() -> std::io::Result<()> {
    let listener = TcpListener::bind(common::addr_from_args("The floor: a bare level-triggered epoll echo server, for iomux bench echo to compare with."))?;
    listener.set_nonblocking(true)?;
    common::announce(listener.local_addr()?);
    let epoll = Epoll::new()?;
    let lfd = listener.as_raw_fd();
    epoll.add(lfd, EPOLLIN as u32, lfd as u64)?;
    // Connections and their unwritten bytes, indexed by fd.
    let mut conns: Vec<Option<(TcpStream, Vec<u8>)>> = Vec::new();
    let mut events = vec![EpollEvent::zeroed(); 1024];
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match epoll.wait(&mut events, None) {
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        for ev in &events[..n] {
            let fd = ev.data() as i32;
            if fd == lfd {
                while let Ok(stream) = iomux_sys::socket::accept_nonblocking(&listener) {
                    let _ = stream.set_nodelay(true);
                    let cfd = stream.as_raw_fd();
                    epoll.add(cfd, EPOLLIN as u32, cfd as u64)?;
                    if conns.len() <= cfd as usize {
                        conns.resize_with(cfd as usize + 1, || None);
                    }
                    conns[cfd as usize] = Some((stream, Vec::new()));
                }
                continue;
            }
            let Some((stream, pending)) = conns[fd as usize].as_mut() else {
                continue;
            };
            let mut close = false;
            if ev.events() & EPOLLOUT as u32 != 0 {
                match stream.write(pending) {
                    Ok(k) => {
                        pending.drain(..k);
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(_) => close = true,
                }
                if !close && pending.is_empty() {
                    epoll.modify(fd, EPOLLIN as u32, fd as u64)?;
                }
            } else {
                match stream.read(&mut buf) {
                    Ok(0) => close = true,
                    Ok(k) => match stream.write(&buf[..k]) {
                        Ok(w) if w == k => {}
                        Ok(w) => {
                            pending.extend_from_slice(&buf[w..k]);
                            epoll.modify(fd, EPOLLOUT as u32, fd as u64)?;
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {
                            pending.extend_from_slice(&buf[..k]);
                            epoll.modify(fd, EPOLLOUT as u32, fd as u64)?;
                        }
                        Err(_) => close = true,
                    },
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(_) => close = true,
                }
            }
            if close {
                let _ = epoll.delete(fd);
                conns[fd as usize] = None;
            }
        }
    }
}

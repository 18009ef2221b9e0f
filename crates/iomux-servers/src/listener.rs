//! A listening socket on a callback [`EventLoop`], watched while accepting and unwatched while
//! the accept rules ([`crate::accept`]) pause it: the one listener of the callbacks model and
//! of the HTTP serving loop (`iomux web`, `--stats-addr`).
//!
//! The loop owns every source, so pausing unregisters the listener (an `Rc` of it), and a
//! timer ([`ACCEPT_RETRY`]) or the next close registers it again. On shutdown the last `Rc`
//! is dropped and the socket closes.
use std::cell::{Cell, RefCell};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::Instant;

use iomux::{EventLoop, Interest};
use tracing::warn;

use crate::accept::{Accepted, Acceptor, ACCEPT_RETRY};
use crate::shutdown::ConnLimit;

/// What owns a [`LoopListener`]: it is told when the socket has connections to accept.
pub trait ListenerOwner: 'static {
    /// The owner's listener.
    fn listener(&self) -> &LoopListener;
    /// The listening socket is readable: accept what waits (with [`LoopListener::accept`]).
    fn accept_ready(self: &Rc<Self>, lp: &mut EventLoop, socket: &TcpListener);
}

/// A listening socket on a callback loop, and the accept rules' state for it.
pub struct LoopListener {
    socket: RefCell<Option<Rc<TcpListener>>>,
    /// Registered with the loop now.
    listening: Cell<bool>,
    acceptor: RefCell<Acceptor>,
}

impl LoopListener {
    /// A listener for `socket`, not yet watched ([`LoopListener::listen`] starts).
    pub fn new(socket: TcpListener) -> LoopListener {
        LoopListener {
            socket: RefCell::new(Some(Rc::new(socket))),
            listening: Cell::new(false),
            acceptor: RefCell::default(),
        }
    }

    /// Watches the socket for connections (unless it is watched already, or closed).
    pub fn listen<O: ListenerOwner>(owner: &Rc<O>, lp: &mut EventLoop) -> iomux::Result<()> {
        let this = owner.listener();
        let Some(socket) = this.socket.borrow().clone() else {
            return Ok(());
        };
        if this.listening.get() {
            return Ok(());
        }
        let owner = owner.clone();
        lp.register(
            socket,
            Interest::READ,
            move |lp, socket: &mut Rc<TcpListener>, _| owner.accept_ready(lp, socket),
        )?;
        this.listening.set(true);
        Ok(())
    }

    /// The next connection by the accept rules; a pause stops watching the socket until the
    /// retry timer or a close resumes it.
    pub fn accept<O: ListenerOwner>(
        owner: &Rc<O>,
        lp: &mut EventLoop,
        socket: &TcpListener,
        limit: &ConnLimit,
    ) -> Option<TcpStream> {
        let this = owner.listener();
        let accepted = this
            .acceptor
            .borrow_mut()
            .accept(socket, limit, Instant::now());
        match accepted {
            Accepted::Conn(stream) => Some(stream),
            Accepted::Drained => None,
            Accepted::Paused => {
                this.stop_listening(lp);
                Self::schedule_resume(owner, lp);
                None
            }
        }
    }

    /// A connection closed: a descriptor is free, so a pause for want of one may end.
    pub fn on_close<O: ListenerOwner>(owner: &Rc<O>, lp: &mut EventLoop) {
        owner
            .listener()
            .acceptor
            .borrow_mut()
            .on_close(Instant::now());
        Self::resume_if_due(owner, lp);
    }

    /// Stops accepting for good and closes the socket (shutdown).
    pub fn close(&self, lp: &mut EventLoop) {
        self.acceptor.borrow_mut().stop();
        self.stop_listening(lp);
        // The last reference: the listening socket closes.
        self.socket.borrow_mut().take();
    }

    fn stop_listening(&self, lp: &mut EventLoop) {
        if self.listening.replace(false) {
            if let Some(socket) = self.socket.borrow().as_ref() {
                let _ = lp.unregister(socket.as_raw_fd());
            }
        }
    }

    /// Watches the socket again if a pause is over.
    fn resume_if_due<O: ListenerOwner>(owner: &Rc<O>, lp: &mut EventLoop) {
        let this = owner.listener();
        if this.acceptor.borrow_mut().resume_due(Instant::now()) {
            if let Err(e) = Self::listen(owner, lp) {
                warn!("cannot resume accepting: {e}");
                this.acceptor.borrow_mut().on_close(Instant::now());
                Self::schedule_resume(owner, lp);
            }
        }
    }

    fn schedule_resume<O: ListenerOwner>(owner: &Rc<O>, lp: &mut EventLoop) {
        let owner = owner.clone();
        lp.call_later(ACCEPT_RETRY, move |lp| Self::resume_if_due(&owner, lp));
    }
}

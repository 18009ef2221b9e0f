//! Live counters across threads: each server thread keeps its [`Counters`] to itself and copies
//! them to its slot of a shared [`Board`] at most every [`PUBLISH_EVERY`] (one clock comparison a
//! loop turn when on; nothing when `--stats-addr` is off). The stats server ([`crate::stats`])
//! adds the slots up.
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::counters::Counters;

/// How often a server thread copies its counters to the board.
pub const PUBLISH_EVERY: Duration = Duration::from_millis(200);

/// The latest counters of each server thread.
#[derive(Default)]
pub struct Board {
    slots: Vec<Mutex<Counters>>,
}

impl Board {
    /// A board for `threads` server threads.
    pub fn new(threads: usize) -> Board {
        Board {
            slots: (0..threads).map(|_| Mutex::default()).collect(),
        }
    }

    /// Every thread's latest counters, added up.
    pub fn total(&self) -> Counters {
        let mut total = Counters::default();
        for slot in &self.slots {
            total.add(&slot.lock().unwrap_or_else(|e| e.into_inner()));
        }
        total
    }
}

/// One server thread's way to the board (a no-op without `--stats-addr`).
pub struct Publisher {
    board: Option<Arc<Board>>,
    index: usize,
    next: Instant,
    /// Counters changed since the last copy (a turn came before its time).
    behind: bool,
}

impl Publisher {
    /// Server thread `index`'s publisher to `board` (none without `--stats-addr`).
    pub fn new(board: Option<Arc<Board>>, index: usize) -> Publisher {
        Publisher {
            board,
            index,
            next: Instant::now(),
            behind: false,
        }
    }

    /// At the end of a loop turn: copies the counters `current` gives to the board if it is
    /// time, else remembers that the board is behind.
    #[inline]
    pub fn tick(&mut self, now: Instant, current: impl FnOnce() -> Counters) {
        if let Some(board) = &self.board {
            if now >= self.next {
                self.next = now + PUBLISH_EVERY;
                self.behind = false;
                if let Some(slot) = board.slots.get(self.index) {
                    *slot.lock().unwrap_or_else(|e| e.into_inner()) = current();
                }
            } else {
                self.behind = true;
            }
        }
    }

    /// When the loop must wake to bring the board up to date (`None`: it is).
    pub fn deadline(&self) -> Option<Instant> {
        self.behind.then_some(self.next)
    }
}

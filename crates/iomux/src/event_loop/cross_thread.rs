//! Other threads talking to a loop: a [`Notifier`] (run this callback on the loop) and a
//! [`Sender`] (hand this value to the loop). Both are an eventfd registered in the loop:
//! another thread signals it, and the loop's callback for it runs on the loop's thread.
use std::sync::mpsc;
use std::sync::Arc;

use iomux_sys::eventfd::EventFd;

use super::EventLoop;
use crate::error::Result;
use crate::interest::Interest;

/// Runs a callback on an [`EventLoop`]'s thread when another thread asks: the loop's
/// `call_soon_threadsafe`. Made by [`EventLoop::notifier`]; cheap to clone, `Send` and `Sync`.
/// Several notifications before the loop runs collapse into one callback run.
#[derive(Clone, Debug)]
pub struct Notifier {
    eventfd: Arc<EventFd>,
}

impl Notifier {
    /// Schedules the notifier's callback on the loop.
    pub fn notify(&self) -> std::io::Result<()> {
        self.eventfd.signal()
    }
}

/// Sends values into an [`EventLoop`] from any thread; made by [`EventLoop::channel`]. Each
/// value is handed to the channel's callback on the loop's thread, in the order sent.
/// Cheap to clone, `Send` and `Sync` when `T` is `Send`.
#[derive(Debug)]
pub struct Sender<T> {
    queue: mpsc::Sender<T>,
    eventfd: Arc<EventFd>,
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Sender {
            queue: self.queue.clone(),
            eventfd: self.eventfd.clone(),
        }
    }
}

impl<T> Sender<T> {
    /// Queues `value` for the loop and wakes it. Gives the value back when the loop has ended
    /// the channel (it was unregistered, or the loop was dropped).
    pub fn send(&self, value: T) -> std::result::Result<(), T> {
        self.queue.send(value).map_err(|e| e.0)?;
        // A failed signal leaves the value queued; the next successful send delivers both.
        let _ = self.eventfd.signal();
        Ok(())
    }
}

impl EventLoop {
    /// A [`Notifier`] that runs `callback` on this loop whenever another thread calls
    /// [`Notifier::notify`]. It is a registered source (an eventfd): unregistering its fd ends it.
    pub fn notifier(
        &mut self,
        mut callback: impl FnMut(&mut EventLoop) + 'static,
    ) -> Result<Notifier> {
        let eventfd = Arc::new(EventFd::new()?);
        let notifier = Notifier {
            eventfd: eventfd.clone(),
        };
        self.register(eventfd, Interest::READ, move |lp, eventfd, _| {
            // Reset first: a notify that lands after this runs the callback again.
            let _ = eventfd.drain();
            callback(lp);
        })?;
        Ok(notifier)
    }

    /// A channel into this loop: every value another thread [`send`](Sender::send)s is passed
    /// to `on_value` on the loop's thread, in order. It is a registered source (an eventfd):
    /// unregistering its fd ends the channel, and later sends give their value back.
    ///
    /// ```
    /// use iomux::EventLoop;
    /// let mut lp = EventLoop::new()?;
    /// let sender = lp.channel(|lp, answer: u64| {
    ///     assert_eq!(answer, 42);
    ///     lp.stop();
    /// })?;
    /// let worker = std::thread::spawn(move || sender.send(6 * 7).unwrap());
    /// lp.run()?; // returns once the value has arrived and the callback stopped the loop
    /// worker.join().unwrap();
    /// # Ok::<(), iomux::Error>(())
    /// ```
    pub fn channel<T: 'static>(
        &mut self,
        mut on_value: impl FnMut(&mut EventLoop, T) + 'static,
    ) -> Result<Sender<T>> {
        let eventfd = Arc::new(EventFd::new()?);
        let (queue, values) = mpsc::channel();
        let sender = Sender {
            queue,
            eventfd: eventfd.clone(),
        };
        self.register(eventfd, Interest::READ, move |lp, eventfd, _| {
            // Reset before taking values: a value sent after the reset signals again, so none
            // is left waiting without a wake-up.
            let _ = eventfd.drain();
            while let Ok(value) = values.try_recv() {
                on_value(lp, value);
            }
        })?;
        Ok(sender)
    }
}

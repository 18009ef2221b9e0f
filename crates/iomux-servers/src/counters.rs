//! [`Counters`]: what a server thread counts, added up over threads for the summary and the
//! live board.
use iomux::conn::Transfer;

/// What a server did, summed over its threads.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counters {
    /// Connections accepted.
    pub accepted: u64,
    /// Connections accepted and then closed unserved (refused by the selector, or no thread).
    pub refused: u64,
    /// Bytes read from clients.
    pub bytes_in: u64,
    /// Bytes written to clients.
    pub bytes_out: u64,
    /// Reads (or receive completions) that brought data.
    pub reads: u64,
    /// Loop turns (the blocking and callbacks models count none).
    pub loop_iterations: u64,
    /// Multishot receives ended because the provided-buffer ring ran dry (completion model).
    pub out_of_buffers: u64,
    /// Waits that found the completion queue overflowed (completion model).
    pub cq_overflows: u64,
    /// Echoes sent straight from the receive buffer the bytes landed in, no copy (completion
    /// model).
    pub sent_in_place: u64,
    /// The selector's counters (readiness models), or the ring's (completion model).
    pub selector: iomux::Stats,
    /// A gauge, not a count: the bytes owed to clients and buffered in the server's own
    /// buffers (`Connection::owed_len`) when the counters were published (`None` where a
    /// model does not add them up: the blocking model's threads, and the callbacks model
    /// without a `--stats-addr` board).
    pub buffered: Option<u64>,
}

impl Counters {
    /// Adds another thread's counters to these (the `buffered` gauges too).
    pub fn add(&mut self, other: &Counters) {
        self.accepted += other.accepted;
        self.refused += other.refused;
        self.bytes_in += other.bytes_in;
        self.bytes_out += other.bytes_out;
        self.reads += other.reads;
        self.loop_iterations += other.loop_iterations;
        self.out_of_buffers += other.out_of_buffers;
        self.cq_overflows += other.cq_overflows;
        self.sent_in_place += other.sent_in_place;
        self.selector += other.selector;
        self.buffered = match (self.buffered, other.buffered) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
    }

    /// Counts the bytes a connection moved.
    pub fn record(&mut self, transfer: &Transfer) {
        crate::plant::per_message(transfer.reads);
        self.bytes_in += transfer.bytes_in;
        self.bytes_out += transfer.bytes_out;
        self.reads += transfer.reads;
    }
}

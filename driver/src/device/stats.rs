//! Counters: the driver's own bookkeeping of what it did, and the NIC's
//! statistics registers. Both are counts, not measurements of cost.

use zcnic_ring::RxDrop;

/// Counters of the transmit path, kept by the driver.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TxStats {
    /// Frames handed to the NIC.
    pub frames: u64,
    /// Bytes handed to the NIC (after padding, without FCS).
    pub bytes: u64,
    /// Tail (doorbell) writes.
    pub doorbells: u64,
    /// Frames the NIC reported done and the driver reclaimed.
    pub completed: u64,
    /// Bytes the CPU wrote into TX buffers: whole frames it built, or just the
    /// headers of frames whose payload is DMA memory.
    pub cpu_bytes_written: u64,
    /// Payload bytes posted as DMA spans for the NIC to read directly.
    pub zero_copy_bytes: u64,
}

/// Counters of the receive path, kept by the driver.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RxStats {
    /// Frames delivered to the caller.
    pub frames: u64,
    /// Bytes delivered (without FCS).
    pub bytes: u64,
    /// Tail (doorbell) writes.
    pub doorbells: u64,
    /// Dropped: length zero, under 14 bytes or over the buffer.
    pub dropped_bad_length: u64,
    /// Dropped: the NIC flagged a frame error (CRC, symbol, sequence...).
    pub dropped_frame_error: u64,
    /// Dropped: part of a frame spread over several descriptors.
    pub dropped_multi_descriptor: u64,
    /// Frames whose receive-side-scaling verdict (hash, type, queue) the
    /// driver recomputed and found as the NIC reported it (igb with RSS).
    pub rss_agreed: u64,
    /// Frames whose RSS verdict the driver found different from the NIC's.
    pub rss_disagreed: u64,
}

impl RxStats {
    /// Count a dropped descriptor under its reason.
    pub(crate) fn record_drop(&mut self, reason: RxDrop) {
        match reason {
            RxDrop::BadLength => self.dropped_bad_length += 1,
            RxDrop::FrameError => self.dropped_frame_error += 1,
            RxDrop::MultiDescriptor => self.dropped_multi_descriptor += 1,
        }
    }

    /// All drops together.
    pub fn dropped(&self) -> u64 {
        self.dropped_bad_length + self.dropped_frame_error + self.dropped_multi_descriptor
    }
}

/// Every counter the driver keeps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Transmit path.
    pub tx: TxStats,
    /// Receive path.
    pub rx: RxStats,
    /// Interrupts taken (eventfd signals).
    pub interrupts: u64,
    /// Link status changes seen.
    pub link_changes: u64,
}

impl Counters {
    /// The sum of two handles' counters (queues of one NIC).
    pub fn plus(&self, o: &Counters) -> Counters {
        let (t, u) = (&self.tx, &o.tx);
        let (r, v) = (&self.rx, &o.rx);
        Counters {
            tx: TxStats {
                frames: t.frames + u.frames,
                bytes: t.bytes + u.bytes,
                doorbells: t.doorbells + u.doorbells,
                completed: t.completed + u.completed,
                cpu_bytes_written: t.cpu_bytes_written + u.cpu_bytes_written,
                zero_copy_bytes: t.zero_copy_bytes + u.zero_copy_bytes,
            },
            rx: RxStats {
                frames: r.frames + v.frames,
                bytes: r.bytes + v.bytes,
                doorbells: r.doorbells + v.doorbells,
                dropped_bad_length: r.dropped_bad_length + v.dropped_bad_length,
                dropped_frame_error: r.dropped_frame_error + v.dropped_frame_error,
                dropped_multi_descriptor: r.dropped_multi_descriptor + v.dropped_multi_descriptor,
                rss_agreed: r.rss_agreed + v.rss_agreed,
                rss_disagreed: r.rss_disagreed + v.rss_disagreed,
            },
            interrupts: self.interrupts + o.interrupts,
            link_changes: self.link_changes + o.link_changes,
        }
    }
}

/// Counts kept by the NIC itself since bring-up (its statistics registers).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HwStats {
    /// Good packets received.
    pub good_packets_rx: u64,
    /// Broadcast packets received.
    pub broadcast_rx: u64,
    /// Multicast packets received.
    pub multicast_rx: u64,
    /// Good octets received.
    pub good_octets_rx: u64,
    /// Total packets received.
    pub total_packets_rx: u64,
    /// Good packets transmitted.
    pub good_packets_tx: u64,
    /// Good octets transmitted.
    pub good_octets_tx: u64,
    /// Total packets transmitted.
    pub total_packets_tx: u64,
    /// Missed packets (no room in the RX FIFO).
    pub missed: u64,
    /// Frames that found no free RX descriptor.
    pub no_buffer: u64,
    /// CRC errors.
    pub crc_errors: u64,
    /// Undersized frames.
    pub undersize: u64,
    /// Oversized frames.
    pub oversize: u64,
}

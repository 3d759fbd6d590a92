//! The NIC's own statistics registers, accumulated (they clear on read).

use super::regs::stats;
use crate::mmio::Mmio;

/// Counts kept by the NIC itself since bring-up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HwStats {
    /// GPRC: good packets received.
    pub good_packets_rx: u64,
    /// BPRC: broadcast packets received.
    pub broadcast_rx: u64,
    /// MPRC: multicast packets received.
    pub multicast_rx: u64,
    /// GORC: good octets received.
    pub good_octets_rx: u64,
    /// TPR: total packets received.
    pub total_packets_rx: u64,
    /// GPTC: good packets transmitted.
    pub good_packets_tx: u64,
    /// GOTC: good octets transmitted.
    pub good_octets_tx: u64,
    /// TPT: total packets transmitted.
    pub total_packets_tx: u64,
    /// MPC: missed packets (no room in the RX FIFO).
    pub missed: u64,
    /// RNBC: frames that found no free RX descriptor.
    pub no_buffer: u64,
    /// CRCERRS: CRC errors.
    pub crc_errors: u64,
    /// RUC: undersized frames.
    pub undersize: u64,
    /// ROC: oversized frames.
    pub oversize: u64,
}

impl HwStats {
    /// Add what the NIC counted since the last read.
    pub(crate) fn accumulate(&mut self, regs: &Mmio) {
        let r = |off| u64::from(regs.read32(off));
        // Octet counters: low half first, then high (reading high clears both).
        let pair = |lo, hi| {
            let l = r(lo);
            l | (r(hi) << 32)
        };
        self.good_packets_rx += r(stats::GPRC);
        self.broadcast_rx += r(stats::BPRC);
        self.multicast_rx += r(stats::MPRC);
        self.good_octets_rx += pair(stats::GORCL, stats::GORCH);
        self.total_packets_rx += r(stats::TPR);
        self.good_packets_tx += r(stats::GPTC);
        self.good_octets_tx += pair(stats::GOTCL, stats::GOTCH);
        self.total_packets_tx += r(stats::TPT);
        self.missed += r(stats::MPC);
        self.no_buffer += r(stats::RNBC);
        self.crc_errors += r(stats::CRCERRS);
        self.undersize += r(stats::RUC);
        self.oversize += r(stats::ROC);
    }
}

//! Reading the e1000's statistics registers into [`HwStats`] (they clear on
//! read, so each read adds what the NIC counted since the last one).

use super::regs::stats;
use crate::device::register::{RegisterIo, Registers};
use crate::device::HwStats;

/// Add what the NIC counted since the last read to `acc`.
pub(crate) fn accumulate<R: RegisterIo + ?Sized>(acc: &mut HwStats, regs: &R) {
    let r = |reg| u64::from(regs.take(reg));
    // Octet counters: low half first, then high (reading high clears both).
    let pair = |lo, hi| {
        let l = r(lo);
        l | (r(hi) << 32)
    };
    acc.good_packets_rx += r(stats::GPRC);
    acc.broadcast_rx += r(stats::BPRC);
    acc.multicast_rx += r(stats::MPRC);
    acc.good_octets_rx += pair(stats::GORCL, stats::GORCH);
    acc.total_packets_rx += r(stats::TPR);
    acc.good_packets_tx += r(stats::GPTC);
    acc.good_octets_tx += pair(stats::GOTCL, stats::GOTCH);
    acc.total_packets_tx += r(stats::TPT);
    acc.missed += r(stats::MPC);
    acc.no_buffer += r(stats::RNBC);
    acc.crc_errors += r(stats::CRCERRS);
    acc.undersize += r(stats::RUC);
    acc.oversize += r(stats::ROC);
}

//! Bring-up steps of the 82576 that differ from the e1000 family's: the
//! reset's aftermath, per-queue ring setup with queue enables, and how
//! interrupt causes are routed (IVAR, GPIE). Link, PHY, NVM, address filter,
//! flow control and statistics are the e1000 family's own (`e1000::*`).

use std::thread;
use std::time::Duration;

use super::regs::{self as igb, ivar_entry, Gpie, Rxcsum, Rxdctl, Srrctl, Txdctl, EEMNGCTL_CFG_DONE_PORT0, IVAR_VALID};
use crate::device::e1000::bringup::{disable_master, poll_until, quiesce};
use crate::device::e1000::regs::{self, Ctrl, Eecd, Interrupts};
use crate::device::register::{RegisterIo, Registers};
use crate::error::Error;

/// How long CTRL.RST may take to clear.
const RESET_TIMEOUT: Duration = Duration::from_millis(100);
/// Linux waits 10 ms before the reset "to allow any pending transactions to complete".
const BEFORE_RESET: Duration = Duration::from_millis(10);
/// The NVM auto-read after a reset (Linux: 10 ms, and goes on without it).
const AUTO_READ_TIMEOUT: Duration = Duration::from_millis(10);
/// The configuration load after a reset (Linux: 100 ms, and goes on without it).
const CFG_DONE_TIMEOUT: Duration = Duration::from_millis(100);
/// How long a queue may take to show its enable bit.
const QUEUE_ENABLE_TIMEOUT: Duration = Duration::from_millis(10);

/// Everything masked and off, the extended causes included.
pub(crate) fn quiesce_igb<R: RegisterIo + ?Sized>(regs: &R) {
    regs.write(igb::EIMC, u32::MAX);
    quiesce(regs);
}

/// Software reset as the 82576 datasheet and Linux order it: everything
/// masked and off, master disable and drain, 10 ms for transactions in
/// flight, CTRL.RST, then the NVM auto-read (EECD.AUTO_RD) and the
/// configuration load (EEMNGCTL.CFG_DONE). The last two are waited for but
/// not required, as Linux does: an NVM-less board never sets them (nor does
/// QEMU's model). Interrupts masked and causes cleared again afterwards.
pub(crate) fn reset<R: RegisterIo + ?Sized>(regs: &R) -> Result<(), Error> {
    quiesce_igb(regs);
    disable_master(regs)?;
    thread::sleep(BEFORE_RESET);
    regs.modify(regs::CTRL, |c| c | Ctrl::RST);
    if !poll_until(RESET_TIMEOUT, Duration::from_micros(100), || !regs.read(regs::CTRL).contains(Ctrl::RST)) {
        return Err(Error::ResetTimeout { ms: RESET_TIMEOUT.as_millis() as u64 });
    }
    let auto_read =
        poll_until(AUTO_READ_TIMEOUT, Duration::from_micros(100), || regs.read(regs::EECD).contains(Eecd::AUTO_RD));
    let cfg_done = poll_until(CFG_DONE_TIMEOUT, Duration::from_millis(1), || {
        regs.read(igb::EEMNGCTL) & EEMNGCTL_CFG_DONE_PORT0 != 0
    });
    log::info!(
        "82576: reset done; NVM auto-read {}, configuration load {}",
        if auto_read { "done" } else { "not signalled (EECD.AUTO_RD)" },
        if cfg_done { "done" } else { "not signalled (EEMNGCTL.CFG_DONE)" }
    );
    quiesce_igb(regs);
    let _ = regs.take(regs::ICR);
    let _ = regs.take(igb::EICR);
    Ok(())
}

/// Clear receive addresses 16..23 (the e1000 family's code clears 1..15).
pub(crate) fn clear_high_receive_addresses<R: RegisterIo + ?Sized>(regs: &R) {
    for i in 0..igb::RAL_HIGH.len() {
        regs.write(igb::RAL_HIGH.at(i), 0);
        regs.write(igb::RAH_HIGH.at(i), 0);
    }
}

/// Program TX queue `q`'s ring and enable the queue (TCTL.EN stays off).
pub(crate) fn configure_tx_queue<R: RegisterIo + ?Sized>(regs: &R, q: u32, ring_iova: u64, ring_bytes: u32) {
    regs.write(igb::TXDCTL.at(q), Txdctl::empty());
    regs.write(igb::TDBAL.at(q), ring_iova as u32);
    regs.write(igb::TDBAH.at(q), (ring_iova >> 32) as u32);
    regs.write(igb::TDLEN.at(q), ring_bytes);
    regs.write(igb::TDH.at(q), 0);
    regs.write(igb::TDT.at(q), 0);
    // DD write-back in the descriptors, not head write-back.
    regs.write(igb::TDWBAL.at(q), 0);
    regs.write(igb::TDWBAH.at(q), 0);
    regs.write(igb::TXDCTL.at(q), Txdctl::THRESHOLDS | Txdctl::ENABLE);
}

/// Program RX queue `q`'s ring (2 KiB buffers, advanced one-buffer
/// descriptors, frames dropped rather than queued when the ring is full),
/// enable the queue and wait until the NIC shows it enabled: only then may
/// the tail be written. RCTL.EN stays off.
pub(crate) fn configure_rx_queue<R: RegisterIo + ?Sized>(
    regs: &R,
    q: u32,
    ring_iova: u64,
    ring_bytes: u32,
) -> Result<(), Error> {
    regs.write(igb::RXDCTL.at(q), Rxdctl::empty());
    regs.write(igb::RDBAL.at(q), ring_iova as u32);
    regs.write(igb::RDBAH.at(q), (ring_iova >> 32) as u32);
    regs.write(igb::RDLEN.at(q), ring_bytes);
    regs.write(igb::SRRCTL.at(q), Srrctl::BSIZEPKT_2K | Srrctl::DESCTYPE_ADV_ONEBUF | Srrctl::DROP_EN);
    regs.write(igb::RDH.at(q), 0);
    regs.write(igb::RDT.at(q), 0);
    regs.write(igb::RXDCTL.at(q), Rxdctl::THRESHOLDS | Rxdctl::ENABLE);
    if !poll_until(QUEUE_ENABLE_TIMEOUT, Duration::from_micros(100), || {
        regs.read(igb::RXDCTL.at(q)).contains(Rxdctl::ENABLE)
    }) {
        return Err(Error::QueueEnableTimeout { queue: q, ms: QUEUE_ENABLE_TIMEOUT.as_millis() as u64 });
    }
    Ok(())
}

/// Receive checksums checked (verdicts only: zcnic checks what it uses) and
/// the RSS hash, not the fragment checksum, in each write-back; one queue,
/// no RSS (MRQC 0).
pub(crate) fn configure_receive_offloads<R: RegisterIo + ?Sized>(regs: &R) {
    regs.write(igb::RXCSUM, Rxcsum::IPOFLD | Rxcsum::TUOFLD | Rxcsum::PCSD);
    regs.write(igb::MRQC, 0);
}

/// How the NIC's causes reach us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Routing {
    /// One interrupt (INTx or MSI): every cause is an ICR bit.
    Single,
    /// MSI-X: queue q's RX and TX causes raise vector q, the other causes
    /// (link changes) vector `queues`.
    MsiX { queues: u32 },
}

/// Route the causes: in MSI-X mode (GPIE.MULTIPLE_MSIX) queue q's RX and
/// TX entries of IVAR point at vector q and IVAR_MISC at the last vector, ICR
/// clears on read (NSICR), only the link change is an ICR cause (queue causes
/// are EICR bits) and every vector's cause clears itself when it fires
/// (EIAC, which the NIC takes only once in MSI-X mode): a queue's thread
/// never reads EICR, which would clear the other queues' causes too. With
/// one interrupt, GPIE is 0 and queue 0's TX entry is still marked valid: the
/// NIC (and QEMU's model) raise TXDW only for a queue whose TX entry is. No
/// throttling (EITR 0): the driver unmasks only when it goes to sleep, which
/// bounds the rate already.
pub(crate) fn route_interrupts<R: RegisterIo + ?Sized>(regs: &R, routing: Routing) {
    for i in 0..igb::IVAR.len() {
        regs.write(igb::IVAR.at(i), 0);
    }
    for i in 0..igb::EITR.len() {
        regs.write(igb::EITR.at(i), 0);
    }
    let set_entry = |queue: u32, vector: u32| {
        let (reg, rx_shift) = ivar_entry(queue, false);
        let (_, tx_shift) = ivar_entry(queue, true);
        regs.modify(igb::IVAR.at(reg), |v| v | (vector | IVAR_VALID) << rx_shift | (vector | IVAR_VALID) << tx_shift);
    };
    match routing {
        Routing::Single => {
            regs.write(igb::GPIE, Gpie::empty());
            regs.write(igb::IVAR_MISC, 0);
            set_entry(0, 0);
        }
        Routing::MsiX { queues } => {
            regs.write(igb::GPIE, Gpie::MULTIPLE_MSIX | Gpie::NSICR | Gpie::PBA_SUPPORT);
            regs.write(igb::IVAR_MISC, (queues | IVAR_VALID) << 8);
            for q in 0..queues {
                set_entry(q, q);
            }
            regs.write(igb::EIAC, (1u32 << (queues + 1)) - 1);
            regs.write(igb::EIAM, 0);
        }
    }
}

/// The ICR causes to enable for a single interrupt: the e1000's set.
pub(crate) fn single_causes(tx: bool, rx: bool) -> Interrupts {
    let mut causes = Interrupts::LSC;
    if tx {
        causes |= Interrupts::TXDW;
    }
    if rx {
        causes |= Interrupts::RXT0 | Interrupts::RXO | Interrupts::RXDMT0;
    }
    causes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::register::fake::FakeRegisters;

    /// The reset as silicon needs it, on the register fake (QEMU's model
    /// forgives every order): everything masked, master disabled, then RST;
    /// a NIC that never lets RST go is an error, not a hang.
    #[test]
    fn reset_masks_then_disables_mastering_then_resets_and_a_stuck_reset_is_an_error() {
        use crate::device::register::fake::Access;
        let ctrl = regs::CTRL.offset();
        let regs = FakeRegisters::default();
        regs.on_write(ctrl, |v| v & !Ctrl::RST.bits());
        reset(&regs).unwrap();
        let writes: Vec<(u32, u32)> = regs
            .log()
            .into_iter()
            .filter_map(|a| match a {
                Access::Write(o, v) => Some((o, v)),
                Access::Read(..) => None,
            })
            .collect();
        let at = |pred: &dyn Fn(&(u32, u32)) -> bool| writes.iter().position(pred).expect("the write happened");
        let masked = at(&|w| w.0 == igb::EIMC.offset() && w.1 == u32::MAX);
        let master_off = at(&|w| w.0 == ctrl && w.1 & Ctrl::GIO_MASTER_DISABLE.bits() != 0);
        let rst = at(&|w| w.0 == ctrl && w.1 & Ctrl::RST.bits() != 0);
        assert!(masked < master_off && master_off < rst, "order: {writes:x?}");
        let remasked = writes.iter().rposition(|w| w.0 == igb::EIMC.offset()).unwrap();
        assert!(remasked > rst, "masked again after the reset");

        let stuck = FakeRegisters::default();
        let e = reset(&stuck).unwrap_err();
        assert!(matches!(e, Error::ResetTimeout { .. }), "{e}");
    }

    #[test]
    fn msix_routing_points_queue_0_and_the_link_at_their_vectors() {
        let regs = FakeRegisters::default();
        route_interrupts(&regs, Routing::MsiX { queues: 1 });
        assert_eq!(regs.get(igb::GPIE.offset()), 0x8000_0011, "MULTIPLE_MSIX | NSICR | PBA_SUPPORT");
        assert_eq!(regs.get(igb::IVAR.at(0).offset()), 0x8080, "RX and TX of queue 0 -> vector 0, valid");
        assert_eq!(regs.get(igb::IVAR_MISC.offset()), 0x8100, "other causes -> vector 1, valid");
        assert_eq!(regs.get(igb::EIAC.offset()), 0b11, "both vectors clear their causes as they fire");
        assert!((0..25).all(|i| regs.get(igb::EITR.at(i).offset()) == 0));
    }

    #[test]
    fn each_of_ten_queues_gets_its_own_vector_and_the_link_the_next() {
        let regs = FakeRegisters::default();
        route_interrupts(&regs, Routing::MsiX { queues: 10 });
        assert_eq!(regs.get(igb::IVAR.at(0).offset()), 0x8888_8080, "queue 0 below, queue 8 in the upper half");
        assert_eq!(regs.get(igb::IVAR.at(1).offset()), 0x8989_8181, "queue 1 below, queue 9 above");
        assert_eq!(regs.get(igb::IVAR.at(7).offset()), 0x8787, "queue 7, and no queue 15");
        assert_eq!(regs.get(igb::IVAR_MISC.offset()), (10 | 0x80) << 8, "link -> vector 10");
        assert_eq!(regs.get(igb::EIAC.offset()), 0x7ff);
    }

    #[test]
    fn single_interrupt_routing_still_validates_the_tx_entry() {
        let regs = FakeRegisters::default();
        regs.set(igb::GPIE.offset(), 0x11);
        route_interrupts(&regs, Routing::Single);
        assert_eq!(regs.get(igb::GPIE.offset()), 0);
        assert_eq!(regs.get(igb::IVAR.at(0).offset()) & 0x8000, 0x8000, "TXDW needs a valid TX entry");
    }

    #[test]
    fn an_rx_queue_is_enabled_before_its_tail_and_a_stuck_enable_is_an_error() {
        let regs = FakeRegisters::default();
        // The fake keeps what is written, so the enable bit reads back.
        configure_rx_queue(&regs, 0, 0x1_2345_6000, 4096).unwrap();
        assert_eq!(regs.get(igb::RDBAL.at(0).offset()), 0x2345_6000);
        assert_eq!(regs.get(igb::RDBAH.at(0).offset()), 0x1);
        assert_eq!(regs.get(igb::SRRCTL.at(0).offset()), 0x8200_0002, "2 KiB, advanced one-buffer, drop when full");
        let stuck = FakeRegisters::default();
        stuck.on_write(igb::RXDCTL.at(0).offset(), |_| 0);
        let e = configure_rx_queue(&stuck, 0, 0x1000, 4096).unwrap_err();
        assert!(matches!(e, Error::QueueEnableTimeout { queue: 0, .. }), "{e}");
    }
}

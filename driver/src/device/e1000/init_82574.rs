//! The 82574L's initialization bits and errata workarounds, as Linux's
//! e1000e applies them (its 82571-family init code and probe flags). Each is
//! listed, with what it is for, in hw-notes/e1000-family.md.

use super::regs::{self, Ctrl, CtrlExt, Tarc, Txdctl};
use crate::device::register::{RegisterIo, Registers};

/// GCR bit 22: set at init (no reason given by Linux).
const GCR_BIT22: u32 = 1 << 22;
/// GCR bit 27: L1 entry without waiting for L0s on receive.
const GCR_L1_ACT_WITHOUT_L0S_RX: u32 = 1 << 27;
/// GCR2 bit 0: the errata fix for unreliable PCIe completions (with ASPM)
/// that otherwise cause TX timeouts.
const GCR2_COMPLETION_ERRATA: u32 = 1 << 0;
/// RXDCTL for both queues: DMA bursts (prefetch 32, host 4, write-back 4, granularity descriptors).
const RXDCTL_DMA_BURST: u32 = 0x0104_0420;

/// Apply every 82574L init bit and errata workaround (TX and RX off).
pub(crate) fn apply<R: RegisterIo + ?Sized>(regs: &R) {
    // Descriptor control: "count descriptors" (bit 22) and the burst
    // thresholds on both TX queues, the same on both (an erratum), and RX
    // DMA bursts on both RX queues.
    let txdctl = Txdctl::GRAN | Txdctl::BIT22_82574 | Txdctl::BURST_THRESHOLDS_82574;
    regs.write(regs::TXDCTL, txdctl);
    regs.write(regs::TXDCTL1, txdctl);
    regs.write(regs::RXDCTL0, RXDCTL_DMA_BURST);
    regs.write(regs::RXDCTL1, RXDCTL_DMA_BURST);
    // TARC0: bits 27-30 cleared and bit 26 set; bit 10 (queue enable) kept.
    regs.modify(regs::TARC0, |t| t.difference(Tarc::BITS27_30_82574) | Tarc::BIT26_82574 | Tarc::ENABLE);
    regs.modify(regs::CTRL, |c| c.difference(Ctrl::BIT29_82574));
    regs.modify(regs::CTRL_EXT, |c| c.difference(CtrlExt::BIT23_82574) | CtrlExt::BIT22_82574);
    regs.modify(regs::GCR, |g| g | GCR_BIT22 | GCR_L1_ACT_WITHOUT_L0S_RX);
    regs.modify(regs::GCR2, |g| g | GCR2_COMPLETION_ERRATA);
    log::info!(
        "82574L init bits and errata: TXDCTL0/1 {:#010x}, RXDCTL0/1 {RXDCTL_DMA_BURST:#010x}, TARC0 bit 26, \
         CTRL bit 29 off, CTRL_EXT bit 22 on and 23 off, GCR bits 22 and 27, GCR2 bit 0 (TX-timeout errata)",
        txdctl.bits()
    );
}

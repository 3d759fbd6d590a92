//! Bringing an e1000/e1000e up from whatever state it is in, and stopping it.
//!
//! QEMU's CTRL.RST resets almost nothing and neither model offers a working
//! VFIO device reset, and a previous process may have been killed mid-send.
//! So every register zcnic relies on is written here explicitly, every time.

use std::thread;
use std::time::{Duration, Instant};

use super::models::DeviceModel;
use super::regs::{self, ctrl, ctrl_ext, rah, rctl, stats, status, tctl, txdctl};
use crate::error::Error;
use crate::mac::MacAddress;
use crate::mmio::Mmio;

/// How long a reset may take before we give up (the manuals say ~1 us; Linux waits 5-25 ms).
const RESET_TIMEOUT: Duration = Duration::from_millis(100);

/// Make sure the NIC is doing nothing: interrupts masked, RX and TX off.
pub fn quiesce(regs: &Mmio) {
    regs.write32(regs::IMC, u32::MAX);
    regs.write32(regs::RCTL, 0);
    regs.write32(regs::TCTL, 0);
    // Reading a register flushes the posted writes before we go on.
    let _ = regs.read32(regs::STATUS);
}

/// Software reset (CTRL.RST), then mask and clear interrupts again: the
/// reset re-enables nothing on real parts, but RST may reload IMS on some.
pub fn reset(regs: &Mmio) -> Result<(), Error> {
    // Let any descriptor fetch or write-back in progress finish (Linux waits 10 ms).
    thread::sleep(Duration::from_millis(10));
    regs.write32(regs::CTRL, regs.read32(regs::CTRL) | ctrl::RST);
    let start = Instant::now();
    thread::sleep(Duration::from_millis(1));
    while regs.read32(regs::CTRL) & ctrl::RST != 0 {
        if start.elapsed() > RESET_TIMEOUT {
            return Err(Error::ResetTimeout { ms: RESET_TIMEOUT.as_millis() as u64 });
        }
        thread::sleep(Duration::from_millis(1));
    }
    regs.write32(regs::IMC, u32::MAX);
    let _ = regs.read32(regs::ICR);
    Ok(())
}

/// Link setup for copper with auto-negotiation: set link up, let the MAC
/// follow the PHY's speed, clear every force/reset/invert bit.
pub fn setup_link(regs: &Mmio, model: &DeviceModel) {
    let clear = ctrl::LRST
        | ctrl::PHY_RST
        | ctrl::ILOS
        | ctrl::FRCSPD
        | ctrl::FRCDPLX
        | ctrl::VME
        | ctrl::RST
        | ctrl::GIO_MASTER_DISABLE;
    let c = (regs.read32(regs::CTRL) & !clear) | ctrl::SLU | ctrl::ASDE;
    regs.write32(regs::CTRL, c);
    if model.is_82574 {
        regs.write32(regs::CTRL_EXT, regs.read32(regs::CTRL_EXT) | ctrl_ext::DRV_LOAD);
    }
}

fn mac_from_rar(ral: u32, rah: u32) -> MacAddress {
    let l = ral.to_le_bytes();
    let h = rah.to_le_bytes();
    MacAddress([l[0], l[1], l[2], l[3], h[0], h[1]])
}

fn read_eeprom_word(regs: &Mmio, model: &DeviceModel, word: u32) -> Option<u16> {
    let e = model.eerd;
    regs.write32(regs::EERD, (word << e.addr_shift) | e.start);
    let start = Instant::now();
    loop {
        let v = regs.read32(regs::EERD);
        if v & e.done != 0 {
            return Some((v >> 16) as u16);
        }
        if start.elapsed() > Duration::from_millis(50) {
            return None;
        }
        thread::sleep(Duration::from_micros(10));
    }
}

/// The NIC's own MAC: RAL0/RAH0 if the NIC loaded a valid one there, else
/// EEPROM words 0-2. Then RAR0 is written with it (and AV) and the other
/// receive-address entries cleared, so the receive filter is ours.
pub fn read_and_program_mac(regs: &Mmio, model: &DeviceModel) -> Result<MacAddress, Error> {
    let rah0 = regs.read32(regs::RAH0);
    let from_rar = mac_from_rar(regs.read32(regs::RAL0), rah0);
    let mac = if rah0 & rah::AV != 0 && from_rar.is_valid_unicast() {
        from_rar
    } else {
        let mut b = [0u8; 6];
        for (i, pair) in b.chunks_exact_mut(2).enumerate() {
            let w = read_eeprom_word(regs, model, i as u32).unwrap_or(0);
            pair.copy_from_slice(&w.to_le_bytes());
        }
        let m = MacAddress(b);
        if !m.is_valid_unicast() {
            return Err(Error::NoMacAddress(m));
        }
        m
    };
    let m = mac.0;
    regs.write32(regs::RAL0, u32::from_le_bytes([m[0], m[1], m[2], m[3]]));
    regs.write32(regs::RAH0, u32::from_le_bytes([m[4], m[5], 0, 0]) | rah::AV);
    for i in 1..regs::RAR_ENTRIES {
        regs.write32(regs::RAL0 + 8 * i, 0);
        regs.write32(regs::RAH0 + 8 * i, 0);
    }
    Ok(mac)
}

/// Clear the multicast table: no multicast group is joined.
pub fn clear_multicast_table(regs: &Mmio) {
    for i in 0..regs::MTA_LEN {
        regs.write32(regs::MTA + 4 * i, 0);
    }
}

/// Program the TX ring and the transmit unit, leaving TCTL.EN off.
pub fn configure_tx(regs: &Mmio, model: &DeviceModel, ring_iova: u64, ring_bytes: u32) {
    regs.write32(regs::TCTL, 0);
    regs.write32(regs::TDBAL, ring_iova as u32);
    regs.write32(regs::TDBAH, (ring_iova >> 32) as u32);
    regs.write32(regs::TDLEN, ring_bytes);
    regs.write32(regs::TDH, 0);
    regs.write32(regs::TDT, 0);
    // No interrupt delays: completions are reported as soon as they happen.
    regs.write32(regs::TIDV, 0);
    regs.write32(regs::TADV, 0);
    regs.write32(regs::TIPG, regs::TIPG_COPPER);
    // WTHRESH = 0: DD is written back at once for every descriptor with RS.
    let mut dctl = txdctl::GRAN;
    if model.is_82574 {
        dctl |= txdctl::COUNT_DESC_82574;
        // The queue only runs with TARC0 bit 10 set (its reset value); keep it.
        regs.write32(regs::TARC0, regs.read32(regs::TARC0) | regs::TARC0_ENABLE);
    }
    regs.write32(regs::TXDCTL, dctl);
}

/// Program the RX ring, leaving RCTL.EN off (the ring is filled and RDT
/// written before the receiver is enabled).
pub fn configure_rx(regs: &Mmio, ring_iova: u64, ring_bytes: u32) {
    regs.write32(regs::RCTL, 0);
    regs.write32(regs::RDBAL, ring_iova as u32);
    regs.write32(regs::RDBAH, (ring_iova >> 32) as u32);
    regs.write32(regs::RDLEN, ring_bytes);
    regs.write32(regs::RDH, 0);
    regs.write32(regs::RDT, 0);
    // No per-frame delay: moderation is ITR's job.
    regs.write32(regs::RDTR, 0);
    regs.write32(regs::RADV, 0);
}

/// Turn the receiver on: broadcast and our own unicast address (everything
/// with `promiscuous`), CRC stripped, 2 KiB buffers, long frames refused.
///
/// On QEMU's e1000 every RCTL write starts a one-second (virtual time) pause
/// of the receiver, so this is written exactly once per bring-up.
pub fn enable_rx(regs: &Mmio, promiscuous: bool) {
    let mut r = rctl::EN | rctl::BAM | rctl::SECRC;
    if promiscuous {
        r |= rctl::UPE | rctl::MPE;
    }
    regs.write32(regs::RCTL, r);
}

/// Interrupt moderation: at most one interrupt per ITR_DEFAULT * 256 ns.
pub fn set_interrupt_throttle(regs: &Mmio) {
    regs.write32(regs::ITR, regs::ITR_DEFAULT);
}

/// Read every statistics register once, so that counting starts from zero
/// (they clear on read).
pub fn clear_statistics(regs: &Mmio) {
    for r in [
        stats::CRCERRS,
        stats::MPC,
        stats::GPRC,
        stats::BPRC,
        stats::MPRC,
        stats::GPTC,
        stats::GORCL,
        stats::GORCH,
        stats::GOTCL,
        stats::GOTCH,
        stats::RNBC,
        stats::RUC,
        stats::ROC,
        stats::TPR,
        stats::TPT,
    ] {
        let _ = regs.read32(r);
    }
}

/// Turn the transmitter on.
pub fn enable_tx(regs: &Mmio) {
    let t = tctl::EN
        | tctl::PSP
        | tctl::RTLC
        | (tctl::CT_DEFAULT << tctl::CT_SHIFT)
        | (tctl::COLD_FULL_DUPLEX << tctl::COLD_SHIFT);
    regs.write32(regs::TCTL, t);
}

/// Whether the link is up.
pub fn link_up(regs: &Mmio) -> bool {
    regs.read32(regs::STATUS) & status::LU != 0
}

/// Wait for link up.
pub fn wait_for_link(regs: &Mmio, timeout: Duration) -> Result<(), Error> {
    let start = Instant::now();
    while !link_up(regs) {
        if start.elapsed() > timeout {
            return Err(Error::LinkDown { secs: timeout.as_secs() });
        }
        thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

/// Stop all DMA the NIC can start on its own: mask interrupts, disable RX and
/// TX, and on the 82574L hand control back to the firmware.
pub fn stop(regs: &Mmio, model: &DeviceModel) {
    quiesce(regs);
    if model.is_82574 {
        regs.write32(regs::CTRL_EXT, regs.read32(regs::CTRL_EXT) & !ctrl_ext::DRV_LOAD);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_comes_from_rar_low_byte_first() {
        let m = mac_from_rar(0x1200_5452, 0x8000_5634);
        assert_eq!(m.to_string(), "52:54:00:12:34:56");
    }

    #[test]
    fn tctl_value_matches_the_manuals_recommendation() {
        let t = tctl::EN
            | tctl::PSP
            | tctl::RTLC
            | (tctl::CT_DEFAULT << tctl::CT_SHIFT)
            | (tctl::COLD_FULL_DUPLEX << tctl::COLD_SHIFT);
        assert_eq!(t, 0x0103_f0fa);
        assert_eq!(regs::TIPG_COPPER, 0x0060_2008);
    }
}

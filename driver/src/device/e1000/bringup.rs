//! Bringing an e1000/e1000e up from whatever state it is in, and stopping it.
//!
//! QEMU's CTRL.RST resets almost nothing and neither model offers a working
//! VFIO device reset, and a previous process may have been killed mid-send.
//! So every register zcnic relies on is written here explicitly, every time.
//! Each function takes any [`RegisterIo`], so the tests below run them
//! against a register-level fake of the device.

use std::thread;
use std::time::{Duration, Instant};

use super::models::DeviceModel;
use super::regs::{self, stats, Ctrl, CtrlExt, Interrupts, Rah, Rctl, Status, Tarc, Tctl, Txdctl};
use crate::device::register::{RegisterIo, Registers};
use crate::error::Error;
use crate::mac::MacAddress;

/// How long a reset may take before we give up (the manuals say ~1 us; Linux waits 5-25 ms).
const RESET_TIMEOUT: Duration = Duration::from_millis(100);
/// How long one EEPROM word read may take.
const EEPROM_READ_TIMEOUT: Duration = Duration::from_millis(50);

/// Make sure the NIC is doing nothing: interrupts masked, RX and TX off.
pub(crate) fn quiesce<R: RegisterIo + ?Sized>(regs: &R) {
    regs.write(regs::IMC, Interrupts::from_bits_retain(u32::MAX));
    regs.write(regs::RCTL, Rctl::empty());
    regs.write(regs::TCTL, Tctl::empty());
    // Reading a register flushes the posted writes before we go on.
    let _ = regs.read(regs::STATUS);
}

/// Software reset (CTRL.RST), then mask and clear interrupts again: the reset
/// re-enables nothing on real parts, but RST may reload IMS on some.
pub(crate) fn reset<R: RegisterIo + ?Sized>(regs: &R) -> Result<(), Error> {
    quiesce(regs);
    // Let any descriptor fetch or write-back in progress finish (Linux waits 10 ms).
    thread::sleep(Duration::from_millis(10));
    regs.modify(regs::CTRL, |c| c | Ctrl::RST);
    let start = Instant::now();
    thread::sleep(Duration::from_millis(1));
    while regs.read(regs::CTRL).contains(Ctrl::RST) {
        if start.elapsed() > RESET_TIMEOUT {
            return Err(Error::ResetTimeout { ms: RESET_TIMEOUT.as_millis() as u64 });
        }
        thread::sleep(Duration::from_millis(1));
    }
    regs.write(regs::IMC, Interrupts::from_bits_retain(u32::MAX));
    let _ = regs.take(regs::ICR);
    Ok(())
}

/// Link setup for copper with auto-negotiation: set link up, let the MAC
/// follow the PHY's speed, clear every force/reset/invert bit.
pub(crate) fn setup_link<R: RegisterIo + ?Sized>(regs: &R, model: &DeviceModel) {
    let clear = Ctrl::LRST
        | Ctrl::PHY_RST
        | Ctrl::ILOS
        | Ctrl::FRCSPD
        | Ctrl::FRCDPLX
        | Ctrl::VME
        | Ctrl::RST
        | Ctrl::GIO_MASTER_DISABLE;
    regs.modify(regs::CTRL, |c| c.difference(clear) | Ctrl::SLU | Ctrl::ASDE);
    if model.is_82574 {
        regs.modify(regs::CTRL_EXT, |c| c | CtrlExt::DRV_LOAD);
    }
}

fn mac_from_rar(ral: u32, rah: u32) -> MacAddress {
    let l = ral.to_le_bytes();
    let h = rah.to_le_bytes();
    MacAddress([l[0], l[1], l[2], l[3], h[0], h[1]])
}

fn read_eeprom_word<R: RegisterIo + ?Sized>(regs: &R, model: &DeviceModel, word: u32) -> Option<u16> {
    let e = model.eerd;
    regs.write(regs::EERD, (word << e.addr_shift) | e.start);
    let start = Instant::now();
    loop {
        let v = regs.read(regs::EERD);
        if v & e.done != 0 {
            return Some((v >> 16) as u16);
        }
        if start.elapsed() > EEPROM_READ_TIMEOUT {
            return None;
        }
        thread::sleep(Duration::from_micros(10));
    }
}

/// The NIC's own MAC: RAL0/RAH0 if the NIC loaded a valid one there, else
/// EEPROM words 0-2. Then receive address 0 is written with it (and AV) and
/// the other entries cleared, so the receive filter is ours.
pub(crate) fn read_and_program_mac<R: RegisterIo + ?Sized>(regs: &R, model: &DeviceModel) -> Result<MacAddress, Error> {
    let rah0 = regs.read(regs::RAH.at(0));
    let from_rar = mac_from_rar(regs.read(regs::RAL.at(0)), rah0.bits());
    let mac = if rah0.contains(Rah::AV) && from_rar.is_valid_unicast() {
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
    regs.write(regs::RAL.at(0), u32::from_le_bytes([m[0], m[1], m[2], m[3]]));
    regs.write(regs::RAH.at(0), Rah::from_bits_retain(u32::from_le_bytes([m[4], m[5], 0, 0])) | Rah::AV);
    for i in 1..regs::RAL.len() {
        regs.write(regs::RAL.at(i), 0);
        regs.write(regs::RAH.at(i), Rah::empty());
    }
    Ok(mac)
}

/// Clear the multicast table: no multicast group is joined.
pub(crate) fn clear_multicast_table<R: RegisterIo + ?Sized>(regs: &R) {
    for i in 0..regs::MTA.len() {
        regs.write(regs::MTA.at(i), 0);
    }
}

/// Program the TX ring and the transmit unit, leaving TCTL.EN off.
pub(crate) fn configure_tx<R: RegisterIo + ?Sized>(regs: &R, model: &DeviceModel, ring_iova: u64, ring_bytes: u32) {
    regs.write(regs::TCTL, Tctl::empty());
    regs.write(regs::TDBAL, ring_iova as u32);
    regs.write(regs::TDBAH, (ring_iova >> 32) as u32);
    regs.write(regs::TDLEN, ring_bytes);
    regs.write(regs::TDH, 0);
    regs.write(regs::TDT, 0);
    // No interrupt delays: completions are reported as soon as they happen.
    regs.write(regs::TIDV, 0);
    regs.write(regs::TADV, 0);
    regs.write(regs::TIPG, regs::TIPG_COPPER);
    let mut dctl = Txdctl::GRAN;
    if model.is_82574 {
        dctl |= Txdctl::BIT22_82574;
        regs.modify(regs::TARC0, |t| t | Tarc::ENABLE);
    }
    regs.write(regs::TXDCTL, dctl);
}

/// Program the RX ring, leaving RCTL.EN off (the ring is filled and RDT
/// written before the receiver is enabled).
pub(crate) fn configure_rx<R: RegisterIo + ?Sized>(regs: &R, ring_iova: u64, ring_bytes: u32) {
    regs.write(regs::RCTL, Rctl::empty());
    regs.write(regs::RDBAL, ring_iova as u32);
    regs.write(regs::RDBAH, (ring_iova >> 32) as u32);
    regs.write(regs::RDLEN, ring_bytes);
    regs.write(regs::RDH, 0);
    regs.write(regs::RDT, 0);
    // No per-frame delay: moderation is ITR's job.
    regs.write(regs::RDTR, 0);
    regs.write(regs::RADV, 0);
}

/// Turn the receiver on: broadcast and our own unicast address (everything
/// with `promiscuous`), CRC stripped, 2 KiB buffers, long frames refused.
///
/// On QEMU's e1000 every RCTL write starts a one-second (virtual time) pause
/// of the receiver, so this is written exactly once per bring-up.
pub(crate) fn enable_rx<R: RegisterIo + ?Sized>(regs: &R, promiscuous: bool) {
    let mut r = Rctl::EN | Rctl::BAM | Rctl::SECRC;
    if promiscuous {
        r |= Rctl::UPE | Rctl::MPE;
    }
    regs.write(regs::RCTL, r);
}

/// Interrupt moderation: at most one interrupt per ITR_DEFAULT * 256 ns.
pub(crate) fn set_interrupt_throttle<R: RegisterIo + ?Sized>(regs: &R) {
    regs.write(regs::ITR, regs::ITR_DEFAULT);
}

/// Read every statistics register once, so that counting starts from zero.
pub(crate) fn clear_statistics<R: RegisterIo + ?Sized>(regs: &R) {
    for r in stats::ALL {
        let _ = regs.take(r);
    }
}

/// The transmit control value: enabled, short frames padded, the manuals'
/// collision settings for full duplex, retransmit on late collision.
pub(crate) fn tctl_enabled() -> Tctl {
    Tctl::EN | Tctl::PSP | Tctl::RTLC | Tctl::CT_RECOMMENDED | Tctl::COLD_FULL_DUPLEX
}

/// Turn the transmitter on.
pub(crate) fn enable_tx<R: RegisterIo + ?Sized>(regs: &R) {
    regs.write(regs::TCTL, tctl_enabled());
}

/// Whether the link is up.
pub(crate) fn link_up<R: RegisterIo + ?Sized>(regs: &R) -> bool {
    regs.read(regs::STATUS).contains(Status::LU)
}

/// Stop all DMA the NIC can start on its own: mask interrupts, disable RX and
/// TX, and on the 82574L hand control back to the firmware.
pub(crate) fn stop<R: RegisterIo + ?Sized>(regs: &R, model: &DeviceModel) {
    quiesce(regs);
    if model.is_82574 {
        regs.modify(regs::CTRL_EXT, |c| c.difference(CtrlExt::DRV_LOAD));
    }
}

#[cfg(test)]
mod tests {
    use super::super::models::SUPPORTED_DEVICES;
    use super::*;
    use crate::device::register::fake::{Access, FakeRegisters};

    const E1000: &DeviceModel = &SUPPORTED_DEVICES[0];
    const E1000E: &DeviceModel = &SUPPORTED_DEVICES[1];

    #[test]
    fn mac_comes_from_rar_low_byte_first() {
        let m = mac_from_rar(0x1200_5452, 0x8000_5634);
        assert_eq!(m.to_string(), "52:54:00:12:34:56");
    }

    #[test]
    fn tctl_value_matches_the_manuals_recommendation() {
        assert_eq!(tctl_enabled().bits(), 0x0103_f0fa);
        assert_eq!(regs::TIPG_COPPER, 0x0060_2008);
    }

    /// The fake clears CTRL.RST a few reads after it is set, as the part does.
    fn resetting_device() -> FakeRegisters {
        let fake = FakeRegisters::default();
        let reads_left = std::cell::Cell::new(0u32);
        fake.on(
            regs::CTRL.offset(),
            Box::new(move |values, offset, written| {
                match written {
                    Some(v) if v & Ctrl::RST.bits() != 0 => reads_left.set(3),
                    Some(_) => {}
                    None if reads_left.get() > 0 => {
                        reads_left.set(reads_left.get() - 1);
                        if reads_left.get() == 0 {
                            *values.get_mut(&offset).unwrap() &= !Ctrl::RST.bits();
                        }
                    }
                    None => {}
                }
                None
            }),
        );
        fake
    }

    #[test]
    fn reset_masks_interrupts_first_waits_for_rst_to_clear_and_reads_icr() {
        let fake = resetting_device();
        fake.set(regs::CTRL.offset(), Ctrl::SLU.bits());
        reset(&fake).unwrap();
        let log = fake.log();
        let first_ctrl_write = log.iter().position(|a| matches!(a, Access::Write(o, _) if *o == regs::CTRL.offset()));
        let first_imc = log.iter().position(|a| matches!(a, Access::Write(o, _) if *o == regs::IMC.offset()));
        assert!(first_imc < first_ctrl_write, "interrupts masked before the reset: {log:x?}");
        assert_eq!(fake.get(regs::CTRL.offset()) & Ctrl::RST.bits(), 0);
        assert!(matches!(log.last(), Some(Access::Read(o, _)) if *o == regs::ICR.offset()), "ICR cleared last");
    }

    #[test]
    fn a_reset_that_never_finishes_is_a_timeout_error() {
        let fake = FakeRegisters::default();
        // RST sticks: no hook clears it.
        let e = reset(&fake).unwrap_err();
        assert!(matches!(e, Error::ResetTimeout { .. }), "{e}");
    }

    #[test]
    fn mac_is_read_from_the_eeprom_when_rar0_is_not_valid() {
        for model in [E1000, E1000E] {
            let fake = FakeRegisters::default();
            let words = [0x5452u16, 0x1200, 0x7856];
            let layout = model.eerd;
            fake.on(
                regs::EERD.offset(),
                Box::new(move |values, offset, written| {
                    if let Some(v) = written {
                        let word = (v >> layout.addr_shift) as usize & 0xff;
                        values.insert(offset, (u32::from(words[word]) << 16) | layout.done);
                    }
                    None
                }),
            );
            let mac = read_and_program_mac(&fake, model).unwrap();
            assert_eq!(mac.to_string(), "52:54:00:12:56:78", "{}", model.name);
            assert_eq!(fake.get(regs::RAL.at(0).offset()), 0x1200_5452);
            assert_eq!(fake.get(regs::RAH.at(0).offset()), 0x8000_7856, "AV set");
        }
    }

    #[test]
    fn a_blank_eeprom_is_refused() {
        let fake = FakeRegisters::default();
        fake.on(regs::EERD.offset(), Box::new(|_, _, _| Some(E1000.eerd.done)));
        let e = read_and_program_mac(&fake, E1000).unwrap_err();
        assert!(matches!(e, Error::NoMacAddress(_)), "{e}");
    }

    #[test]
    fn stop_hands_the_82574_back_to_firmware_and_leaves_rx_tx_off() {
        let fake = FakeRegisters::default();
        fake.set(regs::CTRL_EXT.offset(), CtrlExt::DRV_LOAD.bits());
        fake.set(regs::RCTL.offset(), Rctl::EN.bits());
        stop(&fake, E1000E);
        assert_eq!(fake.get(regs::CTRL_EXT.offset()) & CtrlExt::DRV_LOAD.bits(), 0);
        assert_eq!(fake.get(regs::RCTL.offset()), 0);
        assert_eq!(fake.get(regs::TCTL.offset()), 0);
        assert_eq!(fake.writes_to(regs::IMC.offset()), vec![u32::MAX]);
    }
}

//! Bringing an e1000/e1000e up from whatever state it is in, and stopping it,
//! in the order the parts' datasheets and Linux's drivers do it.
//!
//! QEMU's CTRL.RST resets almost nothing and neither model offers a working
//! VFIO device reset, and a previous process may have been killed mid-send.
//! So every register zcnic relies on is written here explicitly, every time.
//! Each function takes any [`RegisterIo`], so the tests below run them
//! against a register-level fake of the device, for what QEMU does not model
//! (a PHY left powered down, a reset or an EEPROM read that never finishes).

use std::thread;
use std::time::{Duration, Instant};

use super::phy;
use super::regs::{self, stats, Ctrl, CtrlExt, Eecd, Interrupts, Rah, Rctl, Status, Tctl, Txdctl};
use crate::device::register::{RegisterIo, Registers};
use crate::device::LinkMode;
use crate::device::{DeviceModel, Part};
use crate::error::Error;
use crate::mac::MacAddress;

/// How long a reset may take before we give up (the manuals say ~1 us; Linux waits 5-25 ms).
const RESET_TIMEOUT: Duration = Duration::from_millis(100);

/// Make sure the NIC is doing nothing: interrupts masked, RX and TX off.
pub(crate) fn quiesce<R: RegisterIo + ?Sized>(regs: &R) {
    regs.write(regs::IMC, Interrupts::from_bits_retain(u32::MAX));
    regs.write(regs::RCTL, Rctl::empty());
    regs.write(regs::TCTL, Tctl::empty());
    // Reading a register flushes the posted writes before we go on.
    let _ = regs.read(regs::STATUS);
}

/// How long the 82574L may keep PCIe requests outstanding after master
/// disable (Linux polls 800 times 100 us).
const MASTER_DISABLE_TIMEOUT: Duration = Duration::from_millis(80);
/// How long the 82574L may take to reload its EEPROM after a reset.
const AUTO_READ_TIMEOUT: Duration = Duration::from_millis(100);

/// The 82574L's PHY configuration from the EEPROM after the auto-read.
const PHY_CONFIG_AFTER_AUTO_READ: Duration = Duration::from_millis(25);

/// Poll `done` every `every` until it holds or `timeout` passes.
pub(crate) fn poll_until(timeout: Duration, every: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if done() {
            return true;
        }
        if start.elapsed() > timeout {
            return false;
        }
        thread::sleep(every);
    }
}

/// 82574L and 82576: stop the NIC starting PCIe requests and wait until
/// those in flight have completed, so that the reset cannot cut a DMA in half.
pub(crate) fn disable_master<R: RegisterIo + ?Sized>(regs: &R) -> Result<(), Error> {
    regs.modify(regs::CTRL, |c| c | Ctrl::GIO_MASTER_DISABLE);
    let idle = poll_until(MASTER_DISABLE_TIMEOUT, Duration::from_micros(100), || {
        !regs.read(regs::STATUS).contains(Status::GIO_MASTER_ENABLE)
    });
    if !idle {
        return Err(Error::MasterDisableTimeout { ms: MASTER_DISABLE_TIMEOUT.as_millis() as u64 });
    }
    Ok(())
}

/// Software reset (CTRL.RST) as the datasheets order it:
///
/// 1. interrupts masked, RX and TX off (and bus mastering is already off in
///    the PCI command register: the caller turns it off before any reset);
/// 2. 82574L: master disable, and wait for outstanding requests;
/// 3. CTRL.RST: on the 82574L holding the MDIO semaphore (the firmware owns
///    MDIO again after the reset); on the 82540EM through the I/O BAR when
///    there is one (`io`), because that part cannot acknowledge the 64-bit
///    write the reset turns a memory write into; else through MMIO;
/// 4. wait for RST to clear, then 82574L: for the EEPROM auto-read to finish
///    (EECD.AUTO_RD). The 82540EM has no such bit: its EEPROM is read next,
///    through EERD, which completes only once the auto-read is over;
/// 5. interrupts masked again and causes cleared (the reset may reload IMS).
pub(crate) fn reset<R: RegisterIo + ?Sized>(
    regs: &R,
    model: &DeviceModel,
    io: Option<&dyn RegisterIo>,
) -> Result<(), Error> {
    quiesce(regs);
    if model.is_82574() {
        disable_master(regs)?;
    }
    let ctrl = regs.read(regs::CTRL) | Ctrl::RST;
    if model.is_82574() {
        phy::with_semaphore(regs, model, || {
            regs.write(regs::CTRL, ctrl);
            Ok(())
        })?;
        log::info!("{}: reset: master disabled and drained, CTRL.RST under the MDIO semaphore", model.name);
    } else if let Some(io) = io {
        io.write(regs::CTRL, ctrl);
        log::info!("{}: reset: CTRL.RST through the I/O BAR", model.name);
    } else {
        log::info!("no I/O BAR offered by VFIO: resetting the {} through MMIO", model.name);
        regs.write(regs::CTRL, ctrl);
    }
    if !poll_until(RESET_TIMEOUT, Duration::from_micros(100), || !regs.read(regs::CTRL).contains(Ctrl::RST)) {
        return Err(Error::ResetTimeout { ms: RESET_TIMEOUT.as_millis() as u64 });
    }
    if model.is_82574()
        && !poll_until(AUTO_READ_TIMEOUT, Duration::from_micros(100), || regs.read(regs::EECD).contains(Eecd::AUTO_RD))
    {
        return Err(Error::AutoReadTimeout { ms: AUTO_READ_TIMEOUT.as_millis() as u64 });
    }
    if model.is_82574() {
        log::info!("{}: reset done, EEPROM auto-read done (EECD.AUTO_RD)", model.name);
        // The part configures its PHY from the EEPROM only after AUTO_RD is
        // set and signals nothing when it is done; its datasheet (and Linux)
        // give it 25 ms before the PHY is touched.
        thread::sleep(PHY_CONFIG_AFTER_AUTO_READ);
    }
    regs.write(regs::IMC, Interrupts::from_bits_retain(u32::MAX));
    let _ = regs.take(regs::ICR);
    Ok(())
}

/// MAC-side link setup for copper: set link up; with autonegotiation let the
/// MAC follow the speed and duplex the PHY resolves (no force bits), else
/// force the MAC to the forced speed and duplex; clear every reset and invert
/// bit; flow control off (zcnic advertises no pause). 82574L: clear master
/// disable (left from the reset) and tell the firmware a driver owns the NIC.
pub(crate) fn setup_link<R: RegisterIo + ?Sized>(regs: &R, model: &DeviceModel, mode: LinkMode) {
    let clear = Ctrl::LRST
        | Ctrl::PHY_RST
        | Ctrl::ILOS
        | Ctrl::FRCSPD
        | Ctrl::FRCDPLX
        | Ctrl::SPEED_100
        | Ctrl::SPEED_1000
        | Ctrl::FD
        | Ctrl::VME
        | Ctrl::RST
        | Ctrl::RFCE
        | Ctrl::TFCE
        | Ctrl::GIO_MASTER_DISABLE;
    regs.modify(regs::CTRL, |c| {
        let c = c.difference(clear) | Ctrl::SLU;
        match mode {
            LinkMode::Autonegotiate => c | Ctrl::ASDE,
            LinkMode::Forced { speed_mbit, full_duplex } => {
                let mut c = c.difference(Ctrl::ASDE) | Ctrl::FRCSPD | Ctrl::FRCDPLX;
                if speed_mbit == 100 {
                    c |= Ctrl::SPEED_100;
                }
                if full_duplex {
                    c |= Ctrl::FD;
                }
                c
            }
        }
    });
    if model.part != Part::I82540EM {
        regs.modify(regs::CTRL_EXT, |c| c | CtrlExt::DRV_LOAD);
    }
}

/// Write the receive-address filter: entry 0 is `mac` (valid), the other
/// fifteen are cleared, so the receive filter is ours alone.
pub(crate) fn program_mac<R: RegisterIo + ?Sized>(regs: &R, mac: MacAddress) {
    let m = mac.0;
    regs.write(regs::RAL.at(0), u32::from_le_bytes([m[0], m[1], m[2], m[3]]));
    regs.write(regs::RAH.at(0), Rah::from_bits_retain(u32::from_le_bytes([m[4], m[5], 0, 0])) | Rah::AV);
    for i in 1..regs::RAL.len() {
        regs.write(regs::RAL.at(i), 0);
        regs.write(regs::RAH.at(i), Rah::empty());
    }
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
    // The 82574L's TXDCTL (and TARC0) are its init bits' business (init_82574.rs).
    if !model.is_82574() {
        regs.write(regs::TXDCTL, Txdctl::GRAN);
    }
}

/// Flow-control frames and thresholds as Linux programs them: pause frames go
/// to 01:80:c2:00:00:01 with type 0x8808; the pause time we ask for; XON/XOFF
/// thresholds below the receive packet buffer (48 KiB on the 82540EM, 32 KiB
/// on the 82574L) less a full frame. Whether pause is used at all is decided
/// by [`apply_pause`] once the link is up.
pub(crate) fn program_flow_control<R: RegisterIo + ?Sized>(regs: &R, model: &DeviceModel) {
    regs.write(regs::FCAL, 0x00c2_8001);
    regs.write(regs::FCAH, 0x0000_0100);
    regs.write(regs::FCT, 0x8808);
    regs.write(regs::FCTTV, if model.is_82574() { 0x0680 } else { 0xffff });
    regs.write(regs::FCRTL, 0);
    regs.write(regs::FCRTH, 0);
}

/// Turn pause on or off as negotiated: CTRL.RFCE honours received pause
/// frames, CTRL.TFCE sends them (with the XON/XOFF thresholds).
pub(crate) fn apply_pause<R: RegisterIo + ?Sized>(regs: &R, model: &DeviceModel, rx: bool, tx: bool) {
    // Below the receive packet buffer less room for frames in flight, as
    // Linux computes them: 48 KiB on the 82540EM, 32 KiB on the 82574L,
    // 64 KiB on the 82576.
    let (low, high) = match model.part {
        Part::I82540EM => (0xacc0, 0xacc8),
        Part::I82574L => (0x7328, 0x7330),
        Part::I82576 => (0xe650, 0xe660),
    };
    // Bit 31 of FCRTL: send XON when the buffer drains below the low mark.
    regs.write(regs::FCRTL, if tx { low | (1 << 31) } else { 0 });
    regs.write(regs::FCRTH, if tx { high } else { 0 });
    regs.modify(regs::CTRL, |c| {
        let mut c = c.difference(Ctrl::RFCE | Ctrl::TFCE);
        c.set(Ctrl::RFCE, rx);
        c.set(Ctrl::TFCE, tx);
        c
    });
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
/// TX, and on the 82574L and 82576 hand control back to the firmware.
pub(crate) fn stop<R: RegisterIo + ?Sized>(regs: &R, model: &DeviceModel) {
    quiesce(regs);
    if model.part != Part::I82540EM {
        regs.modify(regs::CTRL_EXT, |c| c.difference(CtrlExt::DRV_LOAD));
    }
}

#[cfg(test)]
mod tests {
    use super::super::fake::{Behaviour, FakeNic};
    use super::super::nvm;
    use super::super::phy::{self, PhyControl};
    use super::*;
    use crate::device::models::SUPPORTED_DEVICES;
    use crate::device::register::fake::{Access, FakeRegisters};

    const E1000: &DeviceModel = &SUPPORTED_DEVICES[0];
    const E1000E: &DeviceModel = &SUPPORTED_DEVICES[1];

    fn fake(model: &'static DeviceModel, change: impl FnOnce(&mut Behaviour)) -> FakeNic {
        let mut b = Behaviour::default();
        change(&mut b);
        FakeNic::new(model, b)
    }

    #[test]
    fn tctl_value_matches_the_manuals_recommendation() {
        assert_eq!(tctl_enabled().bits(), 0x0103_f0fa);
        assert_eq!(regs::TIPG_COPPER, 0x0060_2008);
    }

    #[test]
    fn reset_masks_interrupts_first_and_clears_causes_last() {
        for model in [E1000, E1000E] {
            let nic = fake(model, |_| {});
            reset(&nic, model, None).unwrap();
            let first_rst = nic.first_write(regs::CTRL.offset(), Ctrl::RST.bits()).expect("RST written");
            let first_imc = nic.first_write(regs::IMC.offset(), u32::MAX).unwrap();
            assert!(first_imc < first_rst, "{}: interrupts masked before the reset", model.name);
            let log = nic.log();
            assert!(matches!(log.last(), Some(Access::Read(o, _)) if *o == regs::ICR.offset()), "ICR read last");
        }
    }

    #[test]
    fn the_82574_disables_mastering_and_holds_the_semaphore_across_rst() {
        let nic = fake(E1000E, |_| {});
        reset(&nic, E1000E, None).unwrap();
        let disable = nic.first_write(regs::CTRL.offset(), Ctrl::GIO_MASTER_DISABLE.bits()).unwrap();
        let rst = nic.first_write(regs::CTRL.offset(), Ctrl::RST.bits()).unwrap();
        assert!(disable < rst, "master disable before the reset");
        assert_eq!(nic.semaphore_at_reset.get(), Some(true), "MDIO semaphore held when RST was written");
    }

    #[test]
    fn the_82540_resets_through_the_io_bar_when_there_is_one() {
        let nic = fake(E1000, |_| {});
        let io = FakeRegisters::default();
        reset(&nic, E1000, Some(&io)).unwrap();
        assert_eq!(io.writes_to(regs::CTRL.offset()).len(), 1, "CTRL.RST went through the I/O window");
        assert_eq!(io.writes_to(regs::CTRL.offset())[0] & Ctrl::RST.bits(), Ctrl::RST.bits());
        assert_eq!(nic.first_write(regs::CTRL.offset(), Ctrl::RST.bits()), None, "not through MMIO");
        let without = fake(E1000, |_| {});
        reset(&without, E1000, None).unwrap();
        assert!(without.first_write(regs::CTRL.offset(), Ctrl::RST.bits()).is_some(), "MMIO without an I/O BAR");
    }

    #[test]
    fn a_reset_that_never_finishes_is_a_timeout_error() {
        for model in [E1000, E1000E] {
            let nic = fake(model, |b| b.reset_completes = false);
            let e = reset(&nic, model, None).unwrap_err();
            assert!(matches!(e, Error::ResetTimeout { .. }), "{}: {e}", model.name);
        }
    }

    #[test]
    fn an_eeprom_auto_read_that_never_finishes_is_a_timeout_error() {
        let nic = fake(E1000E, |b| b.auto_read_completes = false);
        let e = reset(&nic, E1000E, None).unwrap_err();
        assert!(matches!(e, Error::AutoReadTimeout { .. }), "{e}");
        assert!(e.to_string().contains("EECD.AUTO_RD"), "{e}");
    }

    #[test]
    fn outstanding_master_requests_that_never_drain_are_a_timeout_error() {
        let nic = fake(E1000E, |b| b.master_goes_idle = false);
        let e = reset(&nic, E1000E, None).unwrap_err();
        assert!(matches!(e, Error::MasterDisableTimeout { .. }), "{e}");
        assert_eq!(nic.first_write(regs::CTRL.offset(), Ctrl::RST.bits()), None, "no reset while DMA may be in flight");
    }

    #[test]
    fn firmware_that_keeps_the_semaphore_is_a_timeout_error() {
        let nic = fake(E1000E, |b| b.firmware_holds_semaphore = true);
        let e = phy::state(&nic, E1000E).unwrap_err();
        assert!(matches!(e, Error::SemaphoreTimeout { .. }), "{e}");
        assert!(
            nic.log().iter().all(|a| !matches!(a, Access::Write(o, _) if *o == regs::MDIC.offset())),
            "no MDIO access without the semaphore"
        );
    }

    #[test]
    fn a_phy_that_starts_powered_down_is_powered_up_and_renegotiates() {
        for model in [E1000, E1000E] {
            let nic = fake(model, |b| b.phy_powered_down = true);
            assert!(!link_up(&nic), "no link while the PHY is down");
            let did = phy::bring_up(&nic, model, LinkMode::Autonegotiate).unwrap();
            let control = PhyControl::from_bits_retain(nic.phy.borrow()[phy::reg::CONTROL as usize]);
            assert!(!control.contains(PhyControl::POWER_DOWN), "{}: powered up", model.name);
            assert!(control.contains(PhyControl::AUTONEG_ENABLE));
            assert_eq!(nic.phy.borrow()[phy::reg::AUTONEG_ADVERTISE as usize], phy::ADVERTISE.bits());
            assert!(did.contains("powered the PHY up") && did.contains("restarted autonegotiation"), "{did}");
            assert!(link_up(&nic));
        }
    }

    #[test]
    fn a_link_already_negotiated_as_we_want_is_kept() {
        let nic = fake(E1000, |_| {});
        nic.phy.borrow_mut()[phy::reg::AUTONEG_ADVERTISE as usize] = phy::ADVERTISE.bits();
        nic.phy.borrow_mut()[phy::reg::GIG_CONTROL as usize] = phy::GigControl::ADV_1000_FULL.bits();
        let did = phy::bring_up(&nic, E1000, LinkMode::Autonegotiate).unwrap();
        assert!(did.contains("kept the link"), "{did}");
        let forced = phy::bring_up(&nic, E1000, LinkMode::Forced { speed_mbit: 100, full_duplex: true }).unwrap();
        let control = PhyControl::from_bits_retain(nic.phy.borrow()[phy::reg::CONTROL as usize]);
        assert!(!control.contains(PhyControl::AUTONEG_ENABLE) && control.contains(PhyControl::SPEED_LSB), "{forced}");
    }

    #[test]
    fn an_mdic_error_is_not_mistaken_for_data() {
        let nic = fake(E1000, |b| b.phy_answers = false);
        let e = phy::read(&nic, phy::reg::ID1).unwrap_err();
        assert!(matches!(e, Error::PhyAccess { .. }) && e.to_string().contains("error bit"), "{e}");
        let hung = fake(E1000, |b| b.mdic_completes = false);
        let e = phy::read(&hung, phy::reg::ID1).unwrap_err();
        assert!(e.to_string().contains("never became ready"), "{e}");
    }

    #[test]
    fn the_phy_id_is_read_through_mdic_at_address_1() {
        let nic = fake(E1000E, |_| {});
        let state = phy::state(&nic, E1000E).unwrap();
        assert_eq!(state.id, 0x0141_0cb1);
    }

    #[test]
    fn the_mac_comes_from_the_eeprom_not_from_rar0() {
        for model in [E1000, E1000E] {
            let nic = fake(model, |_| {});
            // RAL0/RAH0 hold another (valid) address: the EEPROM's wins.
            nic.set(regs::RAL.at(0).offset(), 0x1200_5452);
            nic.set(regs::RAH.at(0).offset(), 0x8000_5634);
            let mac = nvm::read_mac(&nic, model, false).unwrap();
            assert_eq!(mac.to_string(), "52:54:00:ab:cd:ef", "{}", model.name);
        }
    }

    #[test]
    fn a_bad_eeprom_checksum_is_refused_unless_accepted() {
        for model in [E1000, E1000E] {
            let nic = fake(model, |_| {});
            nic.eeprom.borrow_mut()[5] ^= 0x0100;
            let e = nvm::read_mac(&nic, model, false).unwrap_err();
            assert!(matches!(e, Error::EepromChecksum { .. }), "{e}");
            assert!(e.to_string().contains("0xbaba"), "{e}");
            assert_eq!(nvm::read_mac(&nic, model, true).unwrap().to_string(), "52:54:00:ab:cd:ef");
        }
    }

    #[test]
    fn a_blank_eeprom_is_refused() {
        let nic = fake(E1000, |_| {});
        *nic.eeprom.borrow_mut() = vec![0xffff; 64];
        // 64 * 0xffff = 0xffc0 (mod 2^16): the checksum already fails.
        assert!(matches!(nvm::read_mac(&nic, E1000, false).unwrap_err(), Error::EepromChecksum { .. }));
        let e = nvm::read_mac(&nic, E1000, true).unwrap_err();
        assert!(matches!(e, Error::NoMacAddress(_)), "broadcast is no station address: {e}");
    }

    #[test]
    fn the_82574_init_keeps_its_queue_enabled_and_sets_the_errata_bit() {
        let nic = fake(E1000E, |_| {});
        nic.set(regs::TARC0.offset(), 0x403);
        super::super::init_82574::apply(&nic);
        assert_ne!(nic.get(regs::TARC0.offset()) & (1 << 10), 0, "TARC0 bit 10 kept");
        assert_eq!(nic.get(regs::GCR2.offset()) & 1, 1, "GCR2 bit 0: the TX-timeout errata");
        assert_eq!(nic.get(regs::TXDCTL.offset()), nic.get(regs::TXDCTL1.offset()), "both queues alike");
    }

    #[test]
    fn stop_hands_the_82574_back_to_firmware_and_leaves_rx_tx_off() {
        let nic = fake(E1000E, |_| {});
        nic.set(regs::CTRL_EXT.offset(), CtrlExt::DRV_LOAD.bits());
        nic.set(regs::RCTL.offset(), Rctl::EN.bits());
        stop(&nic, E1000E);
        assert_eq!(nic.get(regs::CTRL_EXT.offset()) & CtrlExt::DRV_LOAD.bits(), 0);
        assert_eq!(nic.get(regs::RCTL.offset()), 0);
        assert_eq!(nic.get(regs::TCTL.offset()), 0);
    }
}

//! The semaphores a driver holds while it uses what the NIC's manageability
//! firmware also uses: the PHY (over MDIO) and the NVM.
//!
//! - 82540EM: no firmware, nothing to hold.
//! - 82574L: one bit, EXTCNF_CTRL.MDIO_SW_OWNERSHIP, for MDIO and NVM alike.
//! - 82576: SW_FW_SYNC has a software and a firmware bit per resource (NVM,
//!   PHY of port 0, PHY of port 1); it may only be read and changed while
//!   holding the hardware semaphore SWSM (SMBI, then SWESMBI). A resource is
//!   ours once its firmware bit is clear and we have set its software bit.

use std::thread;
use std::time::{Duration, Instant};

use super::regs::{self, ExtcnfCtrl, Status};
use crate::device::igb::regs::{Swsm, SWSM, SW_FW_SYNC};
use crate::device::register::{RegisterIo, Registers};
use crate::device::{DeviceModel, Part};
use crate::error::Error;

/// How long firmware may hold a semaphore (Linux tries for about 40 ms on
/// the 82574L and about a second on the 82576; the firmware's own accesses
/// take microseconds).
const TIMEOUT: Duration = Duration::from_millis(100);

/// What the driver is about to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shared {
    /// The PHY, over MDIC.
    Phy,
    /// The NVM, over EERD.
    Nvm,
}

/// Run `f` holding the semaphore for `what`.
pub(crate) fn with<R: RegisterIo + ?Sized, T>(
    regs: &R,
    model: &DeviceModel,
    what: Shared,
    f: impl FnOnce() -> Result<T, Error>,
) -> Result<T, Error> {
    match model.part {
        Part::I82540EM => f(),
        Part::I82574L => {
            acquire_extcnf(regs)?;
            let result = f();
            regs.modify(regs::EXTCNF_CTRL, |c| c.difference(ExtcnfCtrl::MDIO_SW_OWNERSHIP));
            result
        }
        Part::I82576 => {
            let mask = swfw_mask(regs, what);
            acquire_swfw(regs, mask)?;
            let result = f();
            release_swfw(regs, mask);
            result
        }
    }
}

fn acquire_extcnf<R: RegisterIo + ?Sized>(regs: &R) -> Result<(), Error> {
    let start = Instant::now();
    loop {
        regs.modify(regs::EXTCNF_CTRL, |c| c | ExtcnfCtrl::MDIO_SW_OWNERSHIP);
        if regs.read(regs::EXTCNF_CTRL).contains(ExtcnfCtrl::MDIO_SW_OWNERSHIP) {
            return Ok(());
        }
        if start.elapsed() > TIMEOUT {
            regs.modify(regs::EXTCNF_CTRL, |c| c.difference(ExtcnfCtrl::MDIO_SW_OWNERSHIP));
            return Err(timeout("MDIO/NVM (EXTCNF_CTRL)"));
        }
        thread::sleep(Duration::from_millis(2));
    }
}

fn timeout(which: &'static str) -> Error {
    Error::SemaphoreTimeout { which, ms: TIMEOUT.as_millis() as u64 }
}

/// The software bit of `what` in SW_FW_SYNC (the firmware's is 16 above):
/// NVM bit 0, PHY bit 1 on port 0 and bit 2 on port 1 (STATUS.FUNC_ID says
/// which port this PCI function is).
fn swfw_mask<R: RegisterIo + ?Sized>(regs: &R, what: Shared) -> u32 {
    match what {
        Shared::Nvm => 1 << 0,
        Shared::Phy if regs.read(regs::STATUS).contains(Status::FUNC_ID_1) => 1 << 2,
        Shared::Phy => 1 << 1,
    }
}

/// Take SWSM: first SMBI (the read that sees it clear has set it), then
/// SWESMBI (set it and read it back).
fn acquire_swsm<R: RegisterIo + ?Sized>(regs: &R, start: Instant) -> Result<(), Error> {
    while regs.read(SWSM).contains(Swsm::SMBI) {
        if start.elapsed() > TIMEOUT {
            return Err(timeout("hardware (SWSM.SMBI)"));
        }
        thread::sleep(Duration::from_micros(50));
    }
    loop {
        regs.modify(SWSM, |s| s | Swsm::SWESMBI);
        if regs.read(SWSM).contains(Swsm::SWESMBI) {
            return Ok(());
        }
        if start.elapsed() > TIMEOUT {
            release_swsm(regs);
            return Err(timeout("hardware (SWSM.SWESMBI)"));
        }
        thread::sleep(Duration::from_micros(50));
    }
}

fn release_swsm<R: RegisterIo + ?Sized>(regs: &R) {
    regs.modify(SWSM, |s| s.difference(Swsm::SMBI | Swsm::SWESMBI));
}

fn acquire_swfw<R: RegisterIo + ?Sized>(regs: &R, mask: u32) -> Result<(), Error> {
    let start = Instant::now();
    loop {
        acquire_swsm(regs, start)?;
        let sync = regs.read(SW_FW_SYNC);
        if sync & (mask | mask << 16) == 0 {
            regs.write(SW_FW_SYNC, sync | mask);
            release_swsm(regs);
            return Ok(());
        }
        // Firmware (or a driver that died holding it) has the resource.
        release_swsm(regs);
        if start.elapsed() > TIMEOUT {
            return Err(timeout(if mask == 1 { "NVM (SW_FW_SYNC)" } else { "PHY (SW_FW_SYNC)" }));
        }
        thread::sleep(Duration::from_millis(5));
    }
}

fn release_swfw<R: RegisterIo + ?Sized>(regs: &R, mask: u32) {
    // Clearing our own bit still needs SWSM; if even that cannot be had,
    // clearing it anyway beats leaving the resource locked for good.
    let held = acquire_swsm(regs, Instant::now()).is_ok();
    regs.modify(SW_FW_SYNC, |s| s & !mask);
    if held {
        release_swsm(regs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::models::SUPPORTED_DEVICES;
    use crate::device::register::fake::FakeRegisters;

    fn i82576() -> &'static DeviceModel {
        SUPPORTED_DEVICES.iter().find(|m| m.part == Part::I82576).unwrap()
    }

    #[test]
    fn the_82576_takes_swsm_then_its_sw_fw_sync_bit_and_gives_both_back() {
        let regs = FakeRegisters::default();
        let seen = with(&regs, i82576(), Shared::Phy, || Ok(regs.get(SW_FW_SYNC.offset()))).unwrap();
        assert_eq!(seen, 1 << 1, "PHY of port 0 held while f runs");
        assert_eq!(regs.get(SW_FW_SYNC.offset()), 0, "released after");
        assert_eq!(regs.get(SWSM.offset()), 0, "SWSM released after");
        let nvm = with(&regs, i82576(), Shared::Nvm, || Ok(regs.get(SW_FW_SYNC.offset()))).unwrap();
        assert_eq!(nvm, 1 << 0);
    }

    #[test]
    fn firmware_holding_the_phy_is_a_timeout_and_leaves_its_bit_alone() {
        let regs = FakeRegisters::default();
        regs.set(SW_FW_SYNC.offset(), (1 << 1) << 16);
        let e = with(&regs, i82576(), Shared::Phy, || Ok(())).unwrap_err();
        assert!(e.to_string().contains("PHY (SW_FW_SYNC)"), "{e}");
        assert_eq!(regs.get(SW_FW_SYNC.offset()), (1 << 1) << 16);
        assert_eq!(regs.get(SWSM.offset()), 0, "SWSM is not left held");
    }

    #[test]
    fn port_1_uses_the_second_phy_bit() {
        let regs = FakeRegisters::default();
        regs.set(regs::STATUS.offset(), Status::FUNC_ID_1.bits());
        let seen = with(&regs, i82576(), Shared::Phy, || Ok(regs.get(SW_FW_SYNC.offset()))).unwrap();
        assert_eq!(seen, 1 << 2);
    }
}

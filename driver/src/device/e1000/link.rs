//! What the MAC and the PHY say about the link, the same on every part of
//! the family (the 82576 included): STATUS for link, speed and duplex, CTRL
//! for the pause bits in force, the PHY for its identity and autonegotiation.

use super::phy;
use super::regs::{self, Ctrl, Status};
use crate::device::register::{RegisterIo, Registers};
use crate::device::{DeviceModel, LinkFacts, LinkInfo, LinkMode};

/// The link's speed, duplex, flow control and PHY, now.
pub(crate) fn info<R: RegisterIo + ?Sized>(regs: &R, model: &DeviceModel) -> LinkInfo {
    let status = regs.read(regs::STATUS);
    let ctrl = regs.read(regs::CTRL);
    let phy = phy::state(regs, model).ok();
    let up = status.contains(Status::LU);
    let speed_mbit = up.then(|| {
        if status.contains(Status::SPEED_1000) {
            1000
        } else if status.contains(Status::SPEED_100) {
            100
        } else {
            10
        }
    });
    LinkInfo {
        phy_id: phy.map(|p| p.id),
        up,
        speed_mbit,
        full_duplex: status.contains(Status::FD),
        autoneg_complete: phy.is_some_and(|p| p.status & phy::PhyStatus::AUTONEG_COMPLETE.bits() != 0),
        rx_pause: ctrl.contains(Ctrl::RFCE),
        tx_pause: ctrl.contains(Ctrl::TFCE),
    }
}

/// What the MAC and PHY show, for an error when the link stays down.
pub(crate) fn facts<R: RegisterIo + ?Sized>(regs: &R, model: &DeviceModel, tried: &str) -> LinkFacts {
    LinkFacts {
        mac_status: regs.read(regs::STATUS).bits(),
        phy: phy::state(regs, model).ok().map(|p| (p.id, p.control, p.status)),
        tried: tried.to_string(),
    }
}

/// Flow control as negotiated: (receive pause, transmit pause); none without
/// autonegotiation or link.
pub(crate) fn negotiated_pause<R: RegisterIo + ?Sized>(regs: &R, model: &DeviceModel, mode: LinkMode) -> (bool, bool) {
    let status = regs.read(regs::STATUS);
    if mode != LinkMode::Autonegotiate || !status.contains(Status::LU) {
        return (false, false);
    }
    match phy::state(regs, model) {
        Ok(p) => phy::resolve_pause(
            phy::Advertise::from_bits_retain(p.advertise),
            phy::Advertise::from_bits_retain(p.partner),
            status.contains(Status::FD),
        ),
        Err(e) => {
            log::warn!("cannot read the PHY to resolve flow control ({e}); pause off");
            (false, false)
        }
    }
}

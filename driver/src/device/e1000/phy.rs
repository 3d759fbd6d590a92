//! The PHY, reached through the MAC's MDI control register (MDIC), and the
//! IEEE 802.3 clause 22 registers zcnic uses.
//!
//! An MDIC access writes the operation, the PHY and register addresses (and
//! the data, for a write) in one register write, then polls the ready bit; the
//! error bit says the PHY did not answer (wrong address, no PHY), and the data
//! then means nothing. On the 82574L the MDIO interface is shared with the
//! manageability firmware: every PHY access is made holding the software
//! semaphore (EXTCNF_CTRL.MDIO_SW_OWNERSHIP).

use std::thread;
use std::time::{Duration, Instant};

use bitflags::bitflags;

use super::regs::{self, Mdic};
use crate::device::register::{RegisterIo, Registers};
use crate::device::DeviceModel;
use crate::device::LinkMode;
use crate::error::Error;

/// The PHY's address on the MDIO bus: 1 on both parts (their internal PHY).
pub(crate) const PHY_ADDR: u32 = 1;
/// How long one MDIC access may take (Linux allows about 100 ms).
const MDIC_TIMEOUT: Duration = Duration::from_millis(100);

/// PHY register numbers (IEEE 802.3 clause 22).
pub(crate) mod reg {
    /// Control.
    pub(crate) const CONTROL: u32 = 0;
    /// Status.
    pub(crate) const STATUS: u32 = 1;
    /// PHY identifier, high and low halves.
    pub(crate) const ID1: u32 = 2;
    pub(crate) const ID2: u32 = 3;
    /// Autonegotiation advertisement.
    pub(crate) const AUTONEG_ADVERTISE: u32 = 4;
    /// Link partner's abilities.
    pub(crate) const LINK_PARTNER: u32 = 5;
    /// 1000BASE-T control (what we advertise at gigabit).
    pub(crate) const GIG_CONTROL: u32 = 9;
}

bitflags! {
    /// PHY control register bits.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) struct PhyControl: u16 {
        /// Speed select, most significant bit (with SPEED_LSB clear: 1000 Mb/s).
        const SPEED_MSB = 1 << 6;
        /// Full duplex (when forced).
        const FULL_DUPLEX = 1 << 8;
        /// Restart autonegotiation (self-clearing).
        const RESTART_AUTONEG = 1 << 9;
        /// Isolate the PHY from the MII.
        const ISOLATE = 1 << 10;
        /// Power down: the PHY does nothing until this is cleared.
        const POWER_DOWN = 1 << 11;
        /// Autonegotiation enable.
        const AUTONEG_ENABLE = 1 << 12;
        /// Speed select, least significant bit (100 Mb/s with SPEED_MSB clear).
        const SPEED_LSB = 1 << 13;
        /// Loopback.
        const LOOPBACK = 1 << 14;
        /// PHY reset (self-clearing).
        const RESET = 1 << 15;
    }

    /// PHY status register bits.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) struct PhyStatus: u16 {
        /// Link up. Latched low: read twice for the current state.
        const LINK_UP = 1 << 2;
        /// The PHY can autonegotiate.
        const AUTONEG_ABLE = 1 << 3;
        /// Remote fault.
        const REMOTE_FAULT = 1 << 4;
        /// Autonegotiation complete.
        const AUTONEG_COMPLETE = 1 << 5;
    }

    /// Autonegotiation advertisement (and link partner ability) bits.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) struct Advertise: u16 {
        /// Selector field: IEEE 802.3.
        const SELECTOR_802_3 = 0x0001;
        /// 10BASE-T half and full duplex.
        const T10_HALF = 1 << 5;
        const T10_FULL = 1 << 6;
        /// 100BASE-TX half and full duplex.
        const TX100_HALF = 1 << 7;
        const TX100_FULL = 1 << 8;
        /// Symmetric pause (flow control).
        const PAUSE = 1 << 10;
        /// Asymmetric pause direction.
        const ASYM_PAUSE = 1 << 11;
    }

    /// 1000BASE-T control and status bits.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) struct GigControl: u16 {
        /// Advertise 1000BASE-T half duplex.
        const ADV_1000_HALF = 1 << 8;
        /// Advertise 1000BASE-T full duplex.
        const ADV_1000_FULL = 1 << 9;
    }
}

/// Hold the PHY's semaphore (see [`super::semaphore`]) for the duration of `f`.
pub(crate) fn with_semaphore<R: RegisterIo + ?Sized, T>(
    regs: &R,
    model: &DeviceModel,
    f: impl FnOnce() -> Result<T, Error>,
) -> Result<T, Error> {
    super::semaphore::with(regs, model, super::semaphore::Shared::Phy, f)
}

/// One MDIC operation, polled to completion; the data it returns.
fn mdic<R: RegisterIo + ?Sized>(regs: &R, command: Mdic, what: &'static str, reg: u32) -> Result<u16, Error> {
    regs.write(regs::MDIC, command);
    let start = Instant::now();
    loop {
        let m = regs.read(regs::MDIC);
        if m.contains(Mdic::ERROR) {
            return Err(Error::PhyAccess { op: what, reg, why: "the PHY did not answer (MDIC error bit)" });
        }
        if m.contains(Mdic::READY) {
            return Ok(m.data());
        }
        if start.elapsed() > MDIC_TIMEOUT {
            return Err(Error::PhyAccess { op: what, reg, why: "MDIC never became ready" });
        }
        thread::sleep(Duration::from_micros(50));
    }
}

/// Read PHY register `reg` (the caller holds the semaphore where needed).
pub(crate) fn read<R: RegisterIo + ?Sized>(regs: &R, reg: u32) -> Result<u16, Error> {
    mdic(regs, Mdic::read(PHY_ADDR, reg), "read", reg)
}

/// Write PHY register `reg` (the caller holds the semaphore where needed).
pub(crate) fn write<R: RegisterIo + ?Sized>(regs: &R, reg: u32, value: u16) -> Result<(), Error> {
    mdic(regs, Mdic::write(PHY_ADDR, reg, value), "write", reg).map(drop)
}

/// What the PHY says about itself and the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct PhyState {
    /// ID1 << 16 | ID2 (the low four bits are the revision).
    pub(crate) id: u32,
    pub(crate) control: u16,
    pub(crate) status: u16,
    pub(crate) advertise: u16,
    pub(crate) partner: u16,
}

/// Read the PHY's identity, control and status (status read twice: its link
/// bit latches low until read).
pub(crate) fn state<R: RegisterIo + ?Sized>(regs: &R, model: &DeviceModel) -> Result<PhyState, Error> {
    with_semaphore(regs, model, || {
        let id = (u32::from(read(regs, reg::ID1)?) << 16) | u32::from(read(regs, reg::ID2)?);
        let control = read(regs, reg::CONTROL)?;
        let _latched = read(regs, reg::STATUS)?;
        let status = read(regs, reg::STATUS)?;
        let advertise = read(regs, reg::AUTONEG_ADVERTISE)?;
        let partner = read(regs, reg::LINK_PARTNER)?;
        Ok(PhyState { id, control, status, advertise, partner })
    })
}

/// What zcnic advertises: every 10/100 speed and duplex, 1000 full duplex
/// (no part here does 1000 half), and symmetric and asymmetric pause, as
/// Linux does by default.
pub(crate) const ADVERTISE: Advertise = Advertise::SELECTOR_802_3
    .union(Advertise::T10_HALF)
    .union(Advertise::T10_FULL)
    .union(Advertise::TX100_HALF)
    .union(Advertise::TX100_FULL)
    .union(Advertise::PAUSE)
    .union(Advertise::ASYM_PAUSE);

/// Power the PHY up (Linux powers it down when its interface goes down, and
/// a MAC reset does not undo that), then advertise and restart
/// autonegotiation, or force speed and duplex. Autonegotiation is not
/// restarted when the PHY already has a link negotiated with exactly our
/// advertisement (a restart costs the link for a few seconds on a real
/// PHY). Returns what was done, for the log and for the error if no link
/// comes.
pub(crate) fn bring_up<R: RegisterIo + ?Sized>(regs: &R, model: &DeviceModel, mode: LinkMode) -> Result<String, Error> {
    with_semaphore(regs, model, || {
        let mut did = Vec::new();
        let control = PhyControl::from_bits_retain(read(regs, reg::CONTROL)?);
        if control.contains(PhyControl::POWER_DOWN) {
            did.push("powered the PHY up".to_string());
        }
        let base =
            control.difference(PhyControl::POWER_DOWN | PhyControl::ISOLATE | PhyControl::LOOPBACK | PhyControl::RESET);
        match mode {
            LinkMode::Autonegotiate => {
                let advertised = Advertise::from_bits_retain(read(regs, reg::AUTONEG_ADVERTISE)?);
                let gig = GigControl::from_bits_retain(read(regs, reg::GIG_CONTROL)?);
                let _latched = read(regs, reg::STATUS)?;
                let status = PhyStatus::from_bits_retain(read(regs, reg::STATUS)?);
                let want_gig = gig.difference(GigControl::ADV_1000_HALF) | GigControl::ADV_1000_FULL;
                let settled = !control.contains(PhyControl::POWER_DOWN)
                    && control.contains(PhyControl::AUTONEG_ENABLE)
                    && advertised == ADVERTISE
                    && gig == want_gig
                    && status.contains(PhyStatus::LINK_UP)
                    // The MAC must see it too: after a reset the 82576 shows
                    // no link until autonegotiation has run again.
                    && regs.read(regs::STATUS).contains(regs::Status::LU);
                if settled {
                    did.push("kept the link the PHY had negotiated with our advertisement".to_string());
                } else {
                    write(regs, reg::AUTONEG_ADVERTISE, ADVERTISE.bits())?;
                    write(regs, reg::GIG_CONTROL, want_gig.bits())?;
                    let c = base | PhyControl::AUTONEG_ENABLE | PhyControl::RESTART_AUTONEG;
                    write(regs, reg::CONTROL, c.bits())?;
                    did.push(
                        "advertised 10/100 half and full, 1000 full and pause, restarted autonegotiation".to_string(),
                    );
                }
            }
            LinkMode::Forced { speed_mbit, full_duplex } => {
                let mut c = base.difference(
                    PhyControl::AUTONEG_ENABLE
                        | PhyControl::SPEED_MSB
                        | PhyControl::SPEED_LSB
                        | PhyControl::FULL_DUPLEX,
                );
                if speed_mbit == 100 {
                    c |= PhyControl::SPEED_LSB;
                }
                if full_duplex {
                    c |= PhyControl::FULL_DUPLEX;
                }
                write(regs, reg::CONTROL, c.bits())?;
                did.push(format!(
                    "forced {speed_mbit} Mb/s {} duplex (autonegotiation off)",
                    if full_duplex { "full" } else { "half" }
                ));
            }
        }
        if did.is_empty() {
            did.push("nothing".to_string());
        }
        Ok(did.join(", "))
    })
}

/// Log what the PHY says about itself, then [`bring_up`] it and log what was
/// done; returns that, for the error if no link comes.
pub(crate) fn report_and_bring_up<R: RegisterIo + ?Sized>(
    regs: &R,
    model: &DeviceModel,
    mode: LinkMode,
) -> Result<String, Error> {
    match state(regs, model) {
        Ok(p) => log::info!(
            "PHY {:#010x}: control {:#06x}, status {:#06x}, advertising {:#06x}, partner {:#06x}",
            p.id,
            p.control,
            p.status,
            p.advertise,
            p.partner
        ),
        Err(e) => log::warn!("cannot read the PHY: {e}"),
    }
    let tried = bring_up(regs, model, mode)?;
    log::info!("PHY: {tried}");
    Ok(tried)
}

/// Flow control as IEEE 802.3 annex 28B resolves it from our advertisement
/// and the partner's: (receive pause, transmit pause). Half duplex: none.
pub(crate) fn resolve_pause(ours: Advertise, partner: Advertise, full_duplex: bool) -> (bool, bool) {
    if !full_duplex {
        return (false, false);
    }
    let (p, a) = (Advertise::PAUSE, Advertise::ASYM_PAUSE);
    match (ours.contains(p), ours.contains(a), partner.contains(p), partner.contains(a)) {
        (true, _, true, _) => (true, true),
        (false, true, true, true) => (false, true),
        (true, true, false, true) => (true, false),
        _ => (false, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pause_resolution_follows_the_ieee_table() {
        let (p, a) = (Advertise::PAUSE, Advertise::ASYM_PAUSE);
        let none = Advertise::empty();
        assert_eq!(resolve_pause(p | a, p, true), (true, true));
        assert_eq!(resolve_pause(a, p | a, true), (false, true));
        assert_eq!(resolve_pause(p | a, a, true), (true, false));
        assert_eq!(resolve_pause(p | a, none, true), (false, false));
        assert_eq!(resolve_pause(p | a, p | a, false), (false, false), "half duplex: no pause");
    }
}

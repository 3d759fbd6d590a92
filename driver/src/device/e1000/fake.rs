//! A register-level fake of an e1000-family NIC, for what QEMU does not
//! model: a PHY left powered down, an MDIO interface that errs or hangs, a
//! reset, master disable or EEPROM auto-read that never finishes, firmware
//! that keeps the MDIO semaphore, an EEPROM whose checksum is wrong.
//!
//! It stands in for the BAR behind the `RegisterIo` seam and logs every
//! access, so tests can assert the order of what the driver did.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use super::nvm::{checksum, CHECKSUM_SUM};
use super::phy::{self, PhyControl, PhyStatus};
use super::regs::{self, Ctrl, Eecd, ExtcnfCtrl, Mdic, Status};
use crate::device::register::fake::Access;
use crate::device::register::RegisterIo;
use crate::device::DeviceModel;

/// How the fake behaves; the defaults are a healthy NIC.
#[derive(Debug, Clone)]
pub(crate) struct Behaviour {
    pub(crate) reset_completes: bool,
    pub(crate) auto_read_completes: bool,
    pub(crate) master_goes_idle: bool,
    pub(crate) firmware_holds_semaphore: bool,
    pub(crate) phy_answers: bool,
    pub(crate) mdic_completes: bool,
    pub(crate) phy_powered_down: bool,
    pub(crate) link_comes_up: bool,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            reset_completes: true,
            auto_read_completes: true,
            master_goes_idle: true,
            firmware_holds_semaphore: false,
            phy_answers: true,
            mdic_completes: true,
            phy_powered_down: false,
            link_comes_up: true,
        }
    }
}

/// The fake NIC.
pub(crate) struct FakeNic {
    model: &'static DeviceModel,
    pub(crate) behaviour: Behaviour,
    values: RefCell<HashMap<u32, u32>>,
    log: RefCell<Vec<Access>>,
    pub(crate) phy: RefCell<[u16; 32]>,
    pub(crate) eeprom: RefCell<Vec<u16>>,
    /// Whether software held the MDIO semaphore when CTRL.RST was written.
    pub(crate) semaphore_at_reset: Cell<Option<bool>>,
    reset_pending_reads: Cell<u32>,
}

/// An EEPROM image with `mac` in words 0-2 and a valid checksum in word 0x3F.
pub(crate) fn eeprom_with(mac: [u8; 6]) -> Vec<u16> {
    let mut words = vec![0u16; 64];
    for (i, pair) in mac.chunks_exact(2).enumerate() {
        words[i] = u16::from_le_bytes([pair[0], pair[1]]);
    }
    words[0x3f] = CHECKSUM_SUM.wrapping_sub(checksum(&words[..0x3f]));
    words
}

impl FakeNic {
    pub(crate) fn new(model: &'static DeviceModel, behaviour: Behaviour) -> FakeNic {
        let mut phy = [0u16; 32];
        phy[phy::reg::CONTROL as usize] = (PhyControl::AUTONEG_ENABLE | PhyControl::FULL_DUPLEX).bits();
        if behaviour.phy_powered_down {
            phy[phy::reg::CONTROL as usize] |= PhyControl::POWER_DOWN.bits();
        }
        phy[phy::reg::ID1 as usize] = 0x0141;
        phy[phy::reg::ID2 as usize] = 0x0cb1;
        let fake = FakeNic {
            model,
            behaviour,
            values: RefCell::default(),
            log: RefCell::default(),
            phy: RefCell::new(phy),
            eeprom: RefCell::new(eeprom_with([0x52, 0x54, 0x00, 0xab, 0xcd, 0xef])),
            semaphore_at_reset: Cell::new(None),
            reset_pending_reads: Cell::new(0),
        };
        fake.set(regs::STATUS.offset(), Status::GIO_MASTER_ENABLE.bits());
        fake
    }

    pub(crate) fn get(&self, offset: u32) -> u32 {
        self.values.borrow().get(&offset).copied().unwrap_or(0)
    }

    pub(crate) fn set(&self, offset: u32, value: u32) {
        self.values.borrow_mut().insert(offset, value);
    }

    /// Every access so far, in order.
    pub(crate) fn log(&self) -> Vec<Access> {
        self.log.borrow().clone()
    }

    /// Position in the log of the first write to `offset` whose value has `bits`.
    pub(crate) fn first_write(&self, offset: u32, bits: u32) -> Option<usize> {
        self.log().iter().position(|a| matches!(a, Access::Write(o, v) if *o == offset && v & bits == bits))
    }

    fn phy_reg(&self, reg: u32) -> u16 {
        let p = self.phy.borrow();
        if reg == phy::reg::STATUS {
            let powered = p[phy::reg::CONTROL as usize] & PhyControl::POWER_DOWN.bits() == 0;
            let mut s = PhyStatus::AUTONEG_ABLE;
            if powered && self.behaviour.link_comes_up {
                s |= PhyStatus::LINK_UP | PhyStatus::AUTONEG_COMPLETE;
            }
            return s.bits();
        }
        p[reg as usize]
    }

    fn mdic_write(&self, v: u32) -> u32 {
        if !self.behaviour.mdic_completes {
            return v;
        }
        let phy_addr = (v >> 21) & 0x1f;
        if !self.behaviour.phy_answers || phy_addr != phy::PHY_ADDR {
            return v | (Mdic::ERROR | Mdic::READY).bits();
        }
        let reg = (v >> 16) & 0x1f;
        let m = Mdic::from_bits_retain(v);
        if m.contains(Mdic::OP_READ) {
            (v & !0xffff) | u32::from(self.phy_reg(reg)) | Mdic::READY.bits()
        } else {
            // Self-clearing bits do clear.
            let mut data = v as u16;
            if reg == phy::reg::CONTROL {
                data &= !(PhyControl::RESTART_AUTONEG | PhyControl::RESET).bits();
            }
            self.phy.borrow_mut()[reg as usize] = data;
            v | Mdic::READY.bits()
        }
    }
}

impl RegisterIo for FakeNic {
    fn read32(&self, offset: u32) -> u32 {
        let v = match offset {
            o if o == regs::CTRL.offset() => {
                let left = self.reset_pending_reads.get();
                if left > 0 && self.behaviour.reset_completes {
                    self.reset_pending_reads.set(left - 1);
                    if left == 1 {
                        let v = self.get(o) & !Ctrl::RST.bits();
                        self.set(o, v);
                        // The reset hands MDIO back to the firmware.
                        let x = self.get(regs::EXTCNF_CTRL.offset()) & !ExtcnfCtrl::MDIO_SW_OWNERSHIP.bits();
                        self.set(regs::EXTCNF_CTRL.offset(), x);
                    }
                }
                self.get(o)
            }
            o if o == regs::STATUS.offset() => {
                let mut s = self.get(o);
                let powered = self.phy.borrow()[phy::reg::CONTROL as usize] & PhyControl::POWER_DOWN.bits() == 0;
                if powered && self.behaviour.link_comes_up {
                    s |= (Status::LU | Status::FD | Status::SPEED_1000).bits();
                }
                s
            }
            o if o == regs::EECD.offset() => {
                let done = self.reset_pending_reads.get() == 0 && self.behaviour.auto_read_completes;
                (Eecd::PRESENT | if done { Eecd::AUTO_RD } else { Eecd::empty() }).bits()
            }
            o if o == regs::ICR.offset() => {
                let v = self.get(o);
                self.set(o, 0);
                v
            }
            o => self.get(o),
        };
        self.log.borrow_mut().push(Access::Read(offset, v));
        v
    }

    fn write32(&self, offset: u32, value: u32) {
        self.log.borrow_mut().push(Access::Write(offset, value));
        let stored = match offset {
            o if o == regs::CTRL.offset() => {
                if value & Ctrl::RST.bits() != 0 {
                    let held = self.get(regs::EXTCNF_CTRL.offset()) & ExtcnfCtrl::MDIO_SW_OWNERSHIP.bits() != 0;
                    self.semaphore_at_reset.set(Some(held));
                    self.reset_pending_reads.set(3);
                }
                if value & Ctrl::GIO_MASTER_DISABLE.bits() != 0 && self.behaviour.master_goes_idle {
                    let s = self.get(regs::STATUS.offset()) & !Status::GIO_MASTER_ENABLE.bits();
                    self.set(regs::STATUS.offset(), s);
                }
                value
            }
            o if o == regs::MDIC.offset() => self.mdic_write(value),
            o if o == regs::EERD.offset() => {
                let e = self.model.eerd;
                if value & e.start != 0 {
                    let word = ((value >> e.addr_shift) & 0xff) as usize;
                    let data = self.eeprom.borrow().get(word).copied().unwrap_or(0xffff);
                    (u32::from(data) << 16) | e.done
                } else {
                    value
                }
            }
            o if o == regs::EXTCNF_CTRL.offset() && self.behaviour.firmware_holds_semaphore => {
                value & !ExtcnfCtrl::MDIO_SW_OWNERSHIP.bits()
            }
            _ => value,
        };
        self.set(offset, stored);
    }
}

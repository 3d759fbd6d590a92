//! 82576 registers that the e1000 family does not have, or has elsewhere.
//! The MAC's common core (CTRL, STATUS, EERD, MDIC, ICR/IMS/IMC, RCTL, TCTL,
//! the address filter and the statistics) keeps the e1000 offsets and is
//! used from `e1000::regs`. Offsets and bits from the 82576 datasheet as
//! Linux's igb and QEMU's model use them (see hw-notes/igb.md).

use bitflags::bitflags;

use crate::device::register::access::{ReadClears, ReadWrite, WriteOnly};
use crate::device::register::{register_bits, Reg, RegArray};

/// Queues the 82576 has of each kind.
pub(crate) const QUEUES: u32 = 16;

/// RX queue `n`: descriptor ring base (low, high), length, buffer sizes and
/// descriptor type, head, tail, control. The 0xC000 block addresses all
/// sixteen queues (the 0x2800 aliases only the first four).
pub(crate) const RDBAL: RegArray<u32, ReadWrite> = RegArray::new(0xc000, 0x40, QUEUES);
pub(crate) const RDBAH: RegArray<u32, ReadWrite> = RegArray::new(0xc004, 0x40, QUEUES);
pub(crate) const RDLEN: RegArray<u32, ReadWrite> = RegArray::new(0xc008, 0x40, QUEUES);
pub(crate) const SRRCTL: RegArray<Srrctl, ReadWrite> = RegArray::new(0xc00c, 0x40, QUEUES);
pub(crate) const RDH: RegArray<u32, ReadWrite> = RegArray::new(0xc010, 0x40, QUEUES);
pub(crate) const RDT: RegArray<u32, ReadWrite> = RegArray::new(0xc018, 0x40, QUEUES);
pub(crate) const RXDCTL: RegArray<Rxdctl, ReadWrite> = RegArray::new(0xc028, 0x40, QUEUES);

/// TX queue `n`: ring base, length, head, tail, control.
pub(crate) const TDBAL: RegArray<u32, ReadWrite> = RegArray::new(0xe000, 0x40, QUEUES);
pub(crate) const TDBAH: RegArray<u32, ReadWrite> = RegArray::new(0xe004, 0x40, QUEUES);
pub(crate) const TDLEN: RegArray<u32, ReadWrite> = RegArray::new(0xe008, 0x40, QUEUES);
pub(crate) const TDH: RegArray<u32, ReadWrite> = RegArray::new(0xe010, 0x40, QUEUES);
pub(crate) const TDT: RegArray<u32, ReadWrite> = RegArray::new(0xe018, 0x40, QUEUES);
pub(crate) const TXDCTL: RegArray<Txdctl, ReadWrite> = RegArray::new(0xe028, 0x40, QUEUES);
/// TX head write-back address (low; bit 0 enables it). zcnic uses DD
/// write-back instead and keeps it 0.
pub(crate) const TDWBAL: RegArray<u32, ReadWrite> = RegArray::new(0xe038, 0x40, QUEUES);
pub(crate) const TDWBAH: RegArray<u32, ReadWrite> = RegArray::new(0xe03c, 0x40, QUEUES);

/// General purpose interrupt enable: MSI-X mode and how ICR behaves.
pub(crate) const GPIE: Reg<Gpie, ReadWrite> = Reg::at(0x1514);
/// Extended interrupt causes: one bit per MSI-X vector. Mask set, mask clear.
pub(crate) const EIMS: Reg<u32, WriteOnly> = Reg::at(0x1524);
pub(crate) const EIMC: Reg<u32, WriteOnly> = Reg::at(0x1528);
/// Auto-clear: a vector's cause bit clears itself when the vector fires, so
/// no thread has to read (and so clear for everyone) EICR.
pub(crate) const EIAC: Reg<u32, ReadWrite> = Reg::at(0x152c);
/// Auto-mask: causes masked when their vector fires (zcnic masks itself).
pub(crate) const EIAM: Reg<u32, ReadWrite> = Reg::at(0x1530);
/// Extended interrupt cause read (clears on read).
pub(crate) const EICR: Reg<u32, ReadClears> = Reg::at(0x1580);
/// Interrupt throttle per vector.
pub(crate) const EITR: RegArray<u32, ReadWrite> = RegArray::new(0x1680, 4, 25);
/// Which vector each queue's RX and TX causes raise (see [`ivar_entry`]).
pub(crate) const IVAR: RegArray<u32, ReadWrite> = RegArray::new(0x1700, 4, 8);
/// Which vector the "other" causes (link change...) raise: bits 8..15.
pub(crate) const IVAR_MISC: Reg<u32, ReadWrite> = Reg::at(0x1740);

/// Manageability control: CFG_DONE once the NIC has loaded its
/// configuration from the NVM after a reset.
pub(crate) const EEMNGCTL: Reg<u32, ReadWrite> = Reg::at(0x1010);
/// CFG_DONE for port 0 (bit 18) and port 1 (bit 19).
pub(crate) const EEMNGCTL_CFG_DONE_PORT0: u32 = 1 << 18;

/// Receive checksum control (also: the RSS hash goes into the descriptor).
pub(crate) const RXCSUM: Reg<Rxcsum, ReadWrite> = Reg::at(0x5000);
/// Multiple receive queues: RSS on or off, and which fields are hashed.
pub(crate) const MRQC: Reg<u32, ReadWrite> = Reg::at(0x5818);
/// RSS redirection table: 128 one-byte entries, four per register.
pub(crate) const RETA: RegArray<u32, ReadWrite> = RegArray::new(0x5c00, 4, 32);
/// RSS hash key: 40 bytes, four per register, little-endian.
pub(crate) const RSSRK: RegArray<u32, ReadWrite> = RegArray::new(0x5c80, 4, 10);
/// MRQC: RSS on, multiple queues, no VMDq (MRQE = 010).
pub(crate) const MRQC_RSS: u32 = 0b010;
/// MRQC: hash TCP/IPv4 (4-tuple), IPv4 (addresses) and UDP/IPv4 (4-tuple).
pub(crate) const MRQC_HASH_IPV4: u32 = (1 << 16) | (1 << 17) | (1 << 22);

/// Receive addresses 16..23 (the first sixteen are at the e1000's place).
pub(crate) const RAL_HIGH: RegArray<u32, ReadWrite> = RegArray::new(0x54e0, 8, 8);
pub(crate) const RAH_HIGH: RegArray<u32, ReadWrite> = RegArray::new(0x54e4, 8, 8);

/// Software semaphore: SMBI (set by the read that finds it clear) and
/// SWESMBI (software's claim on SW_FW_SYNC).
pub(crate) const SWSM: Reg<Swsm, ReadWrite> = Reg::at(0x5b50);
/// Which of software and firmware owns which shared resource.
pub(crate) const SW_FW_SYNC: Reg<u32, ReadWrite> = Reg::at(0x5b5c);

bitflags! {
    /// GPIE bits.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) struct Gpie: u32 {
        /// Reading ICR clears it even in MSI-X mode.
        const NSICR = 1 << 0;
        /// MSI-X mode: causes go to vectors through IVAR.
        const MULTIPLE_MSIX = 1 << 4;
        /// Extended interrupt auto-mask enable.
        const EIAME = 1 << 30;
        /// The MSI-X pending bit array is used.
        const PBA_SUPPORT = 1 << 31;
    }

    /// SRRCTL bits and fields.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) struct Srrctl: u32 {
        /// Packet buffer size, 1 KiB units (bits 0..6): 2 KiB.
        const BSIZEPKT_2K = 2;
        /// Descriptor type (bits 25..27) 001: advanced, one buffer.
        const DESCTYPE_ADV_ONEBUF = 1 << 25;
        /// Drop frames when this queue has no descriptors (instead of
        /// holding up the shared packet buffer for the other queues).
        const DROP_EN = 1 << 31;
    }

    /// RXDCTL bits and fields.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) struct Rxdctl: u32 {
        /// Prefetch 8, host 8, write-back 1 descriptor, as Linux's igb sets them.
        const THRESHOLDS = 8 | (8 << 8) | (1 << 16);
        /// The queue is enabled (reads back set once the NIC has done so).
        const ENABLE = 1 << 25;
    }

    /// TXDCTL bits and fields.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) struct Txdctl: u32 {
        /// Prefetch 8, host 1, write-back 1 descriptor: DD comes back at once
        /// for every descriptor with RS (Linux's choice with MSI-X).
        const THRESHOLDS = 8 | (1 << 8) | (1 << 16);
        /// The queue is enabled.
        const ENABLE = 1 << 25;
    }

    /// RXCSUM bits.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) struct Rxcsum: u32 {
        /// Check IPv4 header checksums.
        const IPOFLD = 1 << 8;
        /// Check TCP/UDP checksums.
        const TUOFLD = 1 << 9;
        /// Put the RSS hash, not the packet checksum, into the write-back
        /// (needed for RSS).
        const PCSD = 1 << 13;
    }

    /// SWSM bits.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) struct Swsm: u32 {
        /// Semaphore bit: the read that finds it clear sets it and owns it.
        const SMBI = 1 << 0;
        /// Software's claim on SW_FW_SYNC.
        const SWESMBI = 1 << 1;
    }
}

register_bits!(Gpie, Srrctl, Rxdctl, Txdctl, Rxcsum, Swsm);

/// An IVAR entry's valid bit: the cause raises the entry's vector.
pub(crate) const IVAR_VALID: u32 = 0x80;

/// Where queue `queue`'s RX (or TX) entry sits: the IVAR register and the
/// bit shift inside it. Queues 0..7 use IVAR[q] bytes 0 (RX) and 1 (TX),
/// queues 8..15 IVAR[q - 8] bytes 2 and 3.
pub(crate) fn ivar_entry(queue: u32, tx: bool) -> (u32, u32) {
    assert!(queue < QUEUES, "the 82576 has 16 queues");
    let shift = if queue < 8 { 0 } else { 16 } + if tx { 8 } else { 0 };
    (queue % 8, shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_registers_are_where_the_datasheet_puts_them() {
        assert_eq!(RDBAL.at(0).offset(), 0xc000);
        assert_eq!(RDT.at(1).offset(), 0xc058);
        assert_eq!(TDT.at(0).offset(), 0xe018);
        assert_eq!(TXDCTL.at(15).offset(), 0xe028 + 15 * 0x40);
        assert_eq!(EITR.at(9).offset(), 0x16a4);
        assert_eq!(IVAR.at(7).offset(), 0x171c);
    }

    #[test]
    fn ivar_entries_follow_the_82576_layout() {
        assert_eq!(ivar_entry(0, false), (0, 0));
        assert_eq!(ivar_entry(0, true), (0, 8));
        assert_eq!(ivar_entry(7, true), (7, 8));
        assert_eq!(ivar_entry(8, false), (0, 16));
        assert_eq!(ivar_entry(15, true), (7, 24));
    }
}

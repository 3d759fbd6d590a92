//! e1000-family registers zcnic uses, each named once with its offset, its
//! access and the type of its value. Offsets are the same on the 82540EM and
//! the 82574L unless marked. Values from the 8254x and 82574 manuals.

use bitflags::bitflags;

use crate::device::register::access::{ReadClears, ReadOnly, ReadWrite, WriteOnly};
use crate::device::register::{register_bits, Reg, RegArray};

/// Device control.
pub(crate) const CTRL: Reg<Ctrl, ReadWrite> = Reg::at(0x0000);
/// Device status.
pub(crate) const STATUS: Reg<Status, ReadOnly> = Reg::at(0x0008);
/// EEPROM/flash control: whether an EEPROM is present, whether its
/// auto-read after reset is done (82574L).
pub(crate) const EECD: Reg<Eecd, ReadOnly> = Reg::at(0x0010);
/// EEPROM read: start bit, done bit and address shift differ between parts
/// (see `EerdLayout`), so the value is a plain number.
pub(crate) const EERD: Reg<u32, ReadWrite> = Reg::at(0x0014);
/// Extended device control.
pub(crate) const CTRL_EXT: Reg<CtrlExt, ReadWrite> = Reg::at(0x0018);
/// MDI control: one PHY register access at a time.
pub(crate) const MDIC: Reg<Mdic, ReadWrite> = Reg::at(0x0020);
/// Interrupt cause read: reading returns the pending causes and clears them
/// (and deasserts INTx).
pub(crate) const ICR: Reg<Interrupts, ReadClears> = Reg::at(0x00c0);
/// Interrupt throttling: minimum gap between interrupts, in 256 ns units.
pub(crate) const ITR: Reg<u32, ReadWrite> = Reg::at(0x00c4);
/// Interrupt mask set: each 1 enables that cause.
pub(crate) const IMS: Reg<Interrupts, WriteOnly> = Reg::at(0x00d0);
/// Interrupt mask clear: each 1 disables that cause.
pub(crate) const IMC: Reg<Interrupts, WriteOnly> = Reg::at(0x00d8);
/// Receive control.
pub(crate) const RCTL: Reg<Rctl, ReadWrite> = Reg::at(0x0100);
/// Transmit control.
pub(crate) const TCTL: Reg<Tctl, ReadWrite> = Reg::at(0x0400);
/// Transmit inter-packet gap.
pub(crate) const TIPG: Reg<u32, ReadWrite> = Reg::at(0x0410);
/// RX descriptor ring base, low and high 32 bits.
pub(crate) const RDBAL: Reg<u32, ReadWrite> = Reg::at(0x2800);
pub(crate) const RDBAH: Reg<u32, ReadWrite> = Reg::at(0x2804);
/// RX ring length in bytes (multiple of 128).
pub(crate) const RDLEN: Reg<u32, ReadWrite> = Reg::at(0x2808);
/// RX head: the NIC's next descriptor to fill (untrusted when read).
pub(crate) const RDH: Reg<u32, ReadWrite> = Reg::at(0x2810);
/// RX tail: one past the last descriptor the NIC may fill (the RX doorbell).
pub(crate) const RDT: Reg<u32, ReadWrite> = Reg::at(0x2818);
/// RX interrupt delay timer and absolute delay.
pub(crate) const RDTR: Reg<u32, ReadWrite> = Reg::at(0x2820);
pub(crate) const RADV: Reg<u32, ReadWrite> = Reg::at(0x282c);
/// TX descriptor ring base, low and high 32 bits.
pub(crate) const TDBAL: Reg<u32, ReadWrite> = Reg::at(0x3800);
pub(crate) const TDBAH: Reg<u32, ReadWrite> = Reg::at(0x3804);
/// TX ring length in bytes (multiple of 128).
pub(crate) const TDLEN: Reg<u32, ReadWrite> = Reg::at(0x3808);
/// TX head: the NIC's next descriptor (untrusted when read).
pub(crate) const TDH: Reg<u32, ReadWrite> = Reg::at(0x3810);
/// TX tail: one past the last descriptor for the NIC (the TX doorbell).
pub(crate) const TDT: Reg<u32, ReadWrite> = Reg::at(0x3818);
/// TX interrupt delay and absolute delay.
pub(crate) const TIDV: Reg<u32, ReadWrite> = Reg::at(0x3820);
pub(crate) const TADV: Reg<u32, ReadWrite> = Reg::at(0x382c);
/// TX descriptor control.
pub(crate) const TXDCTL: Reg<Txdctl, ReadWrite> = Reg::at(0x3828);
/// TX arbitration counter 0 (82574L only).
pub(crate) const TARC0: Reg<Tarc, ReadWrite> = Reg::at(0x3840);
/// 82574L: extended configuration control (the software/firmware MDIO semaphore).
pub(crate) const EXTCNF_CTRL: Reg<ExtcnfCtrl, ReadWrite> = Reg::at(0x0f00);
/// Flow control: the pause frames' destination address (low, high), type,
/// and the pause time we send.
pub(crate) const FCAL: Reg<u32, ReadWrite> = Reg::at(0x0028);
pub(crate) const FCAH: Reg<u32, ReadWrite> = Reg::at(0x002c);
pub(crate) const FCT: Reg<u32, ReadWrite> = Reg::at(0x0030);
pub(crate) const FCTTV: Reg<u32, ReadWrite> = Reg::at(0x0170);
/// Flow control receive thresholds: XON below low, XOFF above high.
pub(crate) const FCRTL: Reg<u32, ReadWrite> = Reg::at(0x2160);
pub(crate) const FCRTH: Reg<u32, ReadWrite> = Reg::at(0x2168);
/// 82574L: RX descriptor control, queues 0 and 1.
pub(crate) const RXDCTL0: Reg<u32, ReadWrite> = Reg::at(0x2828);
pub(crate) const RXDCTL1: Reg<u32, ReadWrite> = Reg::at(0x2928);
/// 82574L: TX descriptor control, queue 1.
pub(crate) const TXDCTL1: Reg<Txdctl, ReadWrite> = Reg::at(0x3928);
/// 82574L: PCIe control and PCIe control 2.
pub(crate) const GCR: Reg<u32, ReadWrite> = Reg::at(0x5b00);
pub(crate) const GCR2: Reg<u32, ReadWrite> = Reg::at(0x5b64);
/// Multicast table array: 128 registers of 32 hash bits.
pub(crate) const MTA: RegArray<u32, WriteOnly> = RegArray::new(0x5200, 4, 128);
/// Receive address low (first four bytes of the MAC), 16 entries.
pub(crate) const RAL: RegArray<u32, ReadWrite> = RegArray::new(0x5400, 8, 16);
/// Receive address high (last two bytes of the MAC and the valid bit), 16 entries.
pub(crate) const RAH: RegArray<Rah, ReadWrite> = RegArray::new(0x5404, 8, 16);

/// Statistics registers: all clear on read; the 64-bit octet counters are
/// low/high pairs whose low half must be read first.
pub(crate) mod stats {
    use super::*;
    /// CRC errors.
    pub(crate) const CRCERRS: Reg<u32, ReadClears> = Reg::at(0x4000);
    /// Missed packets (RX FIFO overrun: no room).
    pub(crate) const MPC: Reg<u32, ReadClears> = Reg::at(0x4010);
    /// Good packets received.
    pub(crate) const GPRC: Reg<u32, ReadClears> = Reg::at(0x4074);
    /// Broadcast packets received.
    pub(crate) const BPRC: Reg<u32, ReadClears> = Reg::at(0x4078);
    /// Multicast packets received.
    pub(crate) const MPRC: Reg<u32, ReadClears> = Reg::at(0x407c);
    /// Good packets transmitted.
    pub(crate) const GPTC: Reg<u32, ReadClears> = Reg::at(0x4080);
    /// Good octets received, low and high halves.
    pub(crate) const GORCL: Reg<u32, ReadClears> = Reg::at(0x4088);
    pub(crate) const GORCH: Reg<u32, ReadClears> = Reg::at(0x408c);
    /// Good octets transmitted, low and high halves.
    pub(crate) const GOTCL: Reg<u32, ReadClears> = Reg::at(0x4090);
    pub(crate) const GOTCH: Reg<u32, ReadClears> = Reg::at(0x4094);
    /// Receive no buffers (the ring was empty when a frame came).
    pub(crate) const RNBC: Reg<u32, ReadClears> = Reg::at(0x40a0);
    /// Receive undersize.
    pub(crate) const RUC: Reg<u32, ReadClears> = Reg::at(0x40a4);
    /// Receive oversize.
    pub(crate) const ROC: Reg<u32, ReadClears> = Reg::at(0x40ac);
    /// Total packets received and transmitted.
    pub(crate) const TPR: Reg<u32, ReadClears> = Reg::at(0x40d0);
    pub(crate) const TPT: Reg<u32, ReadClears> = Reg::at(0x40d4);

    /// Every statistics register, for clearing them all at bring-up.
    pub(crate) const ALL: [Reg<u32, ReadClears>; 15] =
        [CRCERRS, MPC, GPRC, BPRC, MPRC, GPTC, GORCL, GORCH, GOTCL, GOTCH, RNBC, RUC, ROC, TPR, TPT];
}

bitflags! {
    /// CTRL bits.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) struct Ctrl: u32 {
        /// Full duplex.
        const FD = 1 << 0;
        /// 82574L: GIO master disable (stops the NIC's DMA); 82540EM: reserved.
        const GIO_MASTER_DISABLE = 1 << 2;
        /// Link reset.
        const LRST = 1 << 3;
        /// Auto-speed detection enable.
        const ASDE = 1 << 5;
        /// Set link up.
        const SLU = 1 << 6;
        /// Invert loss-of-signal.
        const ILOS = 1 << 7;
        /// Speed when forced (bits 8-9): 00 = 10, 01 = 100, 10 = 1000 Mb/s.
        const SPEED_100 = 1 << 8;
        const SPEED_1000 = 1 << 9;
        /// Force speed.
        const FRCSPD = 1 << 11;
        /// Force duplex.
        const FRCDPLX = 1 << 12;
        /// Device reset (self-clearing).
        const RST = 1 << 26;
        /// Honour received pause frames (flow control, receive side).
        const RFCE = 1 << 27;
        /// Send pause frames (flow control, transmit side).
        const TFCE = 1 << 28;
        /// 82574L: a bit Linux clears at init (bit 29; no reason given).
        const BIT29_82574 = 1 << 29;
        /// VLAN mode enable.
        const VME = 1 << 30;
        /// PHY reset.
        const PHY_RST = 1 << 31;
    }

    /// STATUS bits.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) struct Status: u32 {
        /// Full duplex.
        const FD = 1 << 0;
        /// Link up.
        const LU = 1 << 1;
        /// Function ID (bits 2-3) on dual-port parts: set for LAN port 1.
        const FUNC_ID_1 = 1 << 2;
        /// Speed field (bits 6-7): 00 = 10, 01 = 100, 1x = 1000 Mb/s.
        const SPEED_100 = 1 << 6;
        const SPEED_1000 = 1 << 7;
        /// 82574L: the NIC still has PCIe master requests outstanding.
        const GIO_MASTER_ENABLE = 1 << 19;
    }

    /// EECD bits.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) struct Eecd: u32 {
        /// An EEPROM is present.
        const PRESENT = 1 << 8;
        /// 82574L: the hardware has finished reading the EEPROM after reset.
        const AUTO_RD = 1 << 9;
    }

    /// MDIC bits and fields: data in bits 0-15, register in 16-20, PHY address in 21-25.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) struct Mdic: u32 {
        /// Operation: write.
        const OP_WRITE = 1 << 26;
        /// Operation: read.
        const OP_READ = 2 << 26;
        /// The operation is done.
        const READY = 1 << 28;
        /// Interrupt when done (unused).
        const INTERRUPT = 1 << 29;
        /// The PHY did not answer: the data is meaningless.
        const ERROR = 1 << 30;
    }

    /// EXTCNF_CTRL bits (82574L).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) struct ExtcnfCtrl: u32 {
        /// Software owns the MDIO interface (and NVM) until it clears this.
        const MDIO_SW_OWNERSHIP = 1 << 5;
    }

    /// CTRL_EXT bits.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) struct CtrlExt: u32 {
        /// 82574L: bits Linux sets (22) and clears (23) at init; no reason given.
        const BIT22_82574 = 1 << 22;
        const BIT23_82574 = 1 << 23;
        /// 82574L: tells the firmware a driver owns the NIC.
        const DRV_LOAD = 1 << 28;
    }

    /// Interrupt causes: the bits of ICR, IMS and IMC.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) struct Interrupts: u32 {
        /// Transmit descriptor written back.
        const TXDW = 1 << 0;
        /// Link status change.
        const LSC = 1 << 2;
        /// RX descriptors below the minimum threshold.
        const RXDMT0 = 1 << 4;
        /// Receiver overrun.
        const RXO = 1 << 6;
        /// Receiver timer: a frame has arrived.
        const RXT0 = 1 << 7;
    }

    /// RCTL bits. BSIZE = 00 with BSEX clear means 2048-byte buffers; LPE
    /// clear means frames over 1522 bytes are refused, so no frame needs two
    /// descriptors.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) struct Rctl: u32 {
        /// Receiver enable.
        const EN = 1 << 1;
        /// Unicast promiscuous.
        const UPE = 1 << 3;
        /// Multicast promiscuous.
        const MPE = 1 << 4;
        /// Accept broadcast.
        const BAM = 1 << 15;
        /// Strip the Ethernet CRC: lengths written back exclude the FCS.
        const SECRC = 1 << 26;
    }

    /// TCTL bits and fields.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) struct Tctl: u32 {
        /// Transmit enable.
        const EN = 1 << 1;
        /// Pad short packets (to 64 bytes with FCS) on real hardware.
        const PSP = 1 << 3;
        /// Collision threshold 0x0f (bits 4..11), as the manuals recommend.
        const CT_RECOMMENDED = 0x0f << 4;
        /// Collision distance 0x3f (bits 12..21): 64-byte slot time for full duplex, as Linux uses.
        const COLD_FULL_DUPLEX = 0x3f << 12;
        /// Re-transmit on late collision.
        const RTLC = 1 << 24;
    }

    /// TXDCTL bits and fields.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) struct Txdctl: u32 {
        /// 82574L DMA burst thresholds as Linux sets them: prefetch 31,
        /// host 1, write-back 1 descriptor ("to avoid Tx stalls").
        const BURST_THRESHOLDS_82574 = 0x1f | (1 << 8) | (1 << 16);
        /// 82574L: must be set (the manual's bit 22).
        const BIT22_82574 = 1 << 22;
        /// Thresholds count descriptors, not cache lines. WTHRESH stays 0, so
        /// DD is written back at once for every descriptor with RS.
        const GRAN = 1 << 24;
    }

    /// TARC bits.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) struct Tarc: u32 {
        /// Bit 10: must stay set (its reset value) for the 82574L's queue to run,
        /// in the manual and in QEMU's model.
        const ENABLE = 1 << 10;
        /// 82574L: bit 26 set and bits 27-30 cleared at init, as Linux does.
        const BIT26_82574 = 1 << 26;
        const BITS27_30_82574 = 0xf << 27;
    }

    /// RAH bits.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) struct Rah: u32 {
        /// Address valid: the NIC filters on this entry.
        const AV = 1 << 31;
    }
}

register_bits!(Ctrl, Status, Eecd, Mdic, ExtcnfCtrl, CtrlExt, Interrupts, Rctl, Tctl, Txdctl, Tarc, Rah);

/// TIPG for copper: IPGT 8, IPGR1 8, IPGR2 6 (the manuals' recommended values).
pub(crate) const TIPG_COPPER: u32 = 8 | (8 << 10) | (6 << 20);

/// ITR value: 500 * 256 ns = 128 us between interrupts at most (~7800/s).
pub(crate) const ITR_DEFAULT: u32 = 500;

impl Mdic {
    /// A read of PHY register `reg` at MDIO address `phy`.
    pub(crate) fn read(phy: u32, reg: u32) -> Mdic {
        Mdic::from_bits_retain(((phy & 0x1f) << 21) | ((reg & 0x1f) << 16)) | Mdic::OP_READ
    }

    /// A write of `data` to PHY register `reg` at MDIO address `phy`.
    pub(crate) fn write(phy: u32, reg: u32, data: u16) -> Mdic {
        Mdic::from_bits_retain(((phy & 0x1f) << 21) | ((reg & 0x1f) << 16) | u32::from(data)) | Mdic::OP_WRITE
    }

    /// The data field.
    pub(crate) fn data(self) -> u16 {
        self.bits() as u16
    }
}

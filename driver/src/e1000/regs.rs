//! e1000-family registers and bits zcnic uses, named once. Offsets are the
//! same on the 82540EM and the 82574L unless marked.

/// Device control.
pub const CTRL: u32 = 0x0000;
/// Device status.
pub const STATUS: u32 = 0x0008;
/// EEPROM read (layout differs between parts: see `EerdLayout`).
pub const EERD: u32 = 0x0014;
/// Extended device control.
pub const CTRL_EXT: u32 = 0x0018;
/// Interrupt cause read (clears on read).
pub const ICR: u32 = 0x00c0;
/// Interrupt throttling (minimum gap between interrupts, in 256 ns units).
pub const ITR: u32 = 0x00c4;
/// Interrupt mask set.
pub const IMS: u32 = 0x00d0;
/// Interrupt mask clear.
pub const IMC: u32 = 0x00d8;
/// Receive control.
pub const RCTL: u32 = 0x0100;
/// RX descriptor base, low 32 bits.
pub const RDBAL: u32 = 0x2800;
/// RX descriptor base, high 32 bits.
pub const RDBAH: u32 = 0x2804;
/// RX ring length in bytes (multiple of 128).
pub const RDLEN: u32 = 0x2808;
/// RX head (the NIC's next descriptor to fill).
pub const RDH: u32 = 0x2810;
/// RX tail (one past the last descriptor the NIC may fill).
pub const RDT: u32 = 0x2818;
/// RX interrupt delay timer.
pub const RDTR: u32 = 0x2820;
/// RX absolute interrupt delay.
pub const RADV: u32 = 0x282c;
/// Transmit control.
pub const TCTL: u32 = 0x0400;
/// Transmit inter-packet gap.
pub const TIPG: u32 = 0x0410;
/// TX descriptor base, low 32 bits.
pub const TDBAL: u32 = 0x3800;
/// TX descriptor base, high 32 bits.
pub const TDBAH: u32 = 0x3804;
/// TX ring length in bytes (multiple of 128).
pub const TDLEN: u32 = 0x3808;
/// TX head (the NIC's next descriptor).
pub const TDH: u32 = 0x3810;
/// TX tail (the doorbell: one past the last descriptor for the NIC).
pub const TDT: u32 = 0x3818;
/// TX interrupt delay.
pub const TIDV: u32 = 0x3820;
/// TX descriptor control.
pub const TXDCTL: u32 = 0x3828;
/// TX absolute interrupt delay.
pub const TADV: u32 = 0x382c;
/// TX arbitration counter 0 (82574L only).
pub const TARC0: u32 = 0x3840;
/// Multicast table array: 128 registers.
pub const MTA: u32 = 0x5200;
/// Number of MTA registers.
pub const MTA_LEN: u32 = 128;
/// Receive address low, entry 0.
pub const RAL0: u32 = 0x5400;
/// Receive address high, entry 0.
pub const RAH0: u32 = 0x5404;
/// Receive address entries (RAL/RAH pairs).
pub const RAR_ENTRIES: u32 = 16;
/// Statistics registers: all clear on read; the 64-bit octet counters are
/// low/high pairs whose low half must be read first.
pub mod stats {
    /// CRC errors.
    pub const CRCERRS: u32 = 0x4000;
    /// Missed packets (RX FIFO overrun: no room).
    pub const MPC: u32 = 0x4010;
    /// Good packets received.
    pub const GPRC: u32 = 0x4074;
    /// Broadcast packets received.
    pub const BPRC: u32 = 0x4078;
    /// Multicast packets received.
    pub const MPRC: u32 = 0x407c;
    /// Good packets transmitted.
    pub const GPTC: u32 = 0x4080;
    /// Good octets received, low half.
    pub const GORCL: u32 = 0x4088;
    /// Good octets received, high half.
    pub const GORCH: u32 = 0x408c;
    /// Good octets transmitted, low half.
    pub const GOTCL: u32 = 0x4090;
    /// Good octets transmitted, high half.
    pub const GOTCH: u32 = 0x4094;
    /// Receive no buffers (the ring was empty when a frame came).
    pub const RNBC: u32 = 0x40a0;
    /// Receive undersize.
    pub const RUC: u32 = 0x40a4;
    /// Receive oversize.
    pub const ROC: u32 = 0x40ac;
    /// Total packets received.
    pub const TPR: u32 = 0x40d0;
    /// Total packets transmitted.
    pub const TPT: u32 = 0x40d4;
}

/// CTRL bits.
pub mod ctrl {
    /// Full duplex.
    pub const FD: u32 = 1 << 0;
    /// 82574L: GIO master disable (stops the NIC's DMA); 82540EM: reserved.
    pub const GIO_MASTER_DISABLE: u32 = 1 << 2;
    /// Link reset.
    pub const LRST: u32 = 1 << 3;
    /// Auto-speed detection enable.
    pub const ASDE: u32 = 1 << 5;
    /// Set link up.
    pub const SLU: u32 = 1 << 6;
    /// Invert loss-of-signal.
    pub const ILOS: u32 = 1 << 7;
    /// Force speed.
    pub const FRCSPD: u32 = 1 << 11;
    /// Force duplex.
    pub const FRCDPLX: u32 = 1 << 12;
    /// Device reset (self-clearing).
    pub const RST: u32 = 1 << 26;
    /// VLAN mode enable.
    pub const VME: u32 = 1 << 30;
    /// PHY reset.
    pub const PHY_RST: u32 = 1 << 31;
}

/// Interrupt causes (ICR, IMS, IMC bits).
pub mod icr {
    /// Transmit descriptor written back.
    pub const TXDW: u32 = 1 << 0;
    /// Link status change.
    pub const LSC: u32 = 1 << 2;
    /// RX descriptors below the minimum threshold.
    pub const RXDMT0: u32 = 1 << 4;
    /// Receiver overrun.
    pub const RXO: u32 = 1 << 6;
    /// Receiver timer: a frame has arrived.
    pub const RXT0: u32 = 1 << 7;
}

/// RCTL bits and fields.
pub mod rctl {
    /// Receiver enable.
    pub const EN: u32 = 1 << 1;
    /// Unicast promiscuous.
    pub const UPE: u32 = 1 << 3;
    /// Multicast promiscuous.
    pub const MPE: u32 = 1 << 4;
    /// Accept broadcast.
    pub const BAM: u32 = 1 << 15;
    /// Strip the Ethernet CRC: lengths written back exclude the FCS.
    pub const SECRC: u32 = 1 << 26;
    // BSIZE = 00 with BSEX = 0 means 2048-byte buffers; LPE off means frames
    // over 1522 bytes are refused, so no frame needs two descriptors.
}

/// ITR value: 500 * 256 ns = 128 us between interrupts at most (~7800/s).
pub const ITR_DEFAULT: u32 = 500;

/// STATUS bits.
pub mod status {
    /// Link up.
    pub const LU: u32 = 1 << 1;
}

/// CTRL_EXT bits.
pub mod ctrl_ext {
    /// 82574L: tells the firmware a driver owns the NIC.
    pub const DRV_LOAD: u32 = 1 << 28;
}

/// TCTL bits and fields.
pub mod tctl {
    /// Transmit enable.
    pub const EN: u32 = 1 << 1;
    /// Pad short packets (to 64 bytes with FCS) on real hardware.
    pub const PSP: u32 = 1 << 3;
    /// Collision threshold field shift.
    pub const CT_SHIFT: u32 = 4;
    /// Collision distance field shift.
    pub const COLD_SHIFT: u32 = 12;
    /// Re-transmit on late collision.
    pub const RTLC: u32 = 1 << 24;
    /// Collision threshold the manuals recommend.
    pub const CT_DEFAULT: u32 = 0x0f;
    /// Collision distance for full duplex (64-byte slot time, as Linux uses).
    pub const COLD_FULL_DUPLEX: u32 = 0x3f;
}

/// TIPG for copper: IPGT 8, IPGR1 8, IPGR2 6 (the manuals' recommended values).
pub const TIPG_COPPER: u32 = 8 | (8 << 10) | (6 << 20);

/// TXDCTL fields.
pub mod txdctl {
    /// Thresholds count descriptors, not cache lines.
    pub const GRAN: u32 = 1 << 24;
    /// 82574L: must be set (the manual's "count descriptors" bit 22).
    pub const COUNT_DESC_82574: u32 = 1 << 22;
}

/// TARC0 bit that QEMU's 82574L model (and the reset value) needs for the queue to run.
pub const TARC0_ENABLE: u32 = 1 << 10;

/// RAH bits.
pub mod rah {
    /// Address valid.
    pub const AV: u32 = 1 << 31;
}

//! Descriptor layouts as the NIC reads and writes them in memory.
//!
//! Layouts follow the 8254x/8257x software developer's manuals (section
//! "Legacy Transmit Descriptor Format"); both the 82540EM and the 82574L use
//! the same 16-byte legacy layout.

/// Bits of the legacy TX descriptor's CMD byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxCmd;

impl TxCmd {
    /// End of packet: this descriptor holds the frame's last bytes.
    pub const EOP: u8 = 1 << 0;
    /// Insert FCS: the NIC appends the Ethernet CRC.
    pub const IFCS: u8 = 1 << 1;
    /// Insert checksum (legacy CSO/CSS); unused by zcnic.
    pub const IC: u8 = 1 << 2;
    /// Report status: the NIC writes DD back when it is done with this one.
    pub const RS: u8 = 1 << 3;
    /// Descriptor extension: set on context and extended data descriptors.
    pub const DEXT: u8 = 1 << 5;
    /// Interrupt delay enable (TIDV); unused by zcnic.
    pub const IDE: u8 = 1 << 7;
}

/// Bits of the legacy TX descriptor's STATUS field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxStatus;

impl TxStatus {
    /// Descriptor done: written back by the NIC for descriptors with RS.
    pub const DD: u8 = 1 << 0;
}

/// The legacy transmit descriptor, 16 bytes, little-endian as the NIC sees it.
///
/// `buffer_addr` is a bus address (an IOVA). This type is plain data; the
/// driver is what guarantees that only IOVAs of its own DMA mappings are ever
/// written into a ring the NIC can see.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LegacyTxDesc {
    /// IOVA of the data buffer.
    pub buffer_addr: u64,
    /// Number of bytes at `buffer_addr` that belong to the frame.
    pub length: u16,
    /// Checksum offset (legacy checksum insertion; zcnic leaves it 0).
    pub cso: u8,
    /// Command bits, see [`TxCmd`].
    pub cmd: u8,
    /// Status bits written back by the NIC, see [`TxStatus`].
    pub status: u8,
    /// Checksum start (legacy checksum insertion; zcnic leaves it 0).
    pub css: u8,
    /// VLAN tag when VLE is set; zcnic leaves it 0.
    pub special: u16,
}

const _: () = assert!(core::mem::size_of::<LegacyTxDesc>() == 16);

impl LegacyTxDesc {
    /// A descriptor for one whole frame in one buffer: EOP and IFCS set,
    /// status cleared so that a stale DD from an earlier lap cannot be
    /// mistaken for completion.
    pub fn single_buffer_frame(buffer_addr: u64, length: u16) -> Self {
        LegacyTxDesc {
            buffer_addr,
            length,
            cmd: TxCmd::EOP | TxCmd::IFCS,
            ..Default::default()
        }
    }

    /// Whether the NIC has written DD back.
    pub fn is_done(&self) -> bool {
        self.status & TxStatus::DD != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_offsets_match_the_manual() {
        assert_eq!(core::mem::offset_of!(LegacyTxDesc, buffer_addr), 0);
        assert_eq!(core::mem::offset_of!(LegacyTxDesc, length), 8);
        assert_eq!(core::mem::offset_of!(LegacyTxDesc, cso), 10);
        assert_eq!(core::mem::offset_of!(LegacyTxDesc, cmd), 11);
        assert_eq!(core::mem::offset_of!(LegacyTxDesc, status), 12);
        assert_eq!(core::mem::offset_of!(LegacyTxDesc, css), 13);
        assert_eq!(core::mem::offset_of!(LegacyTxDesc, special), 14);
    }

    #[test]
    fn single_buffer_frame_has_eop_ifcs_and_no_status() {
        let d = LegacyTxDesc::single_buffer_frame(0x2000, 60);
        assert_eq!(d.cmd, TxCmd::EOP | TxCmd::IFCS);
        assert_eq!(d.status, 0);
        assert!(!d.is_done());
    }
}

/// Bits of the legacy RX descriptor's STATUS field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxStatus;

impl RxStatus {
    /// Descriptor done: the NIC has written a frame (or part of one) here.
    pub const DD: u8 = 1 << 0;
    /// End of packet: this descriptor holds the frame's last bytes.
    pub const EOP: u8 = 1 << 1;
    /// Ignore checksum indication.
    pub const IXSM: u8 = 1 << 2;
}

/// Bits of the legacy RX descriptor's ERRORS field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxErrors;

impl RxErrors {
    /// CRC or alignment error.
    pub const CE: u8 = 1 << 0;
    /// Symbol error.
    pub const SE: u8 = 1 << 1;
    /// Sequence error.
    pub const SEQ: u8 = 1 << 2;
    /// Carrier extension error.
    pub const CXE: u8 = 1 << 4;
    /// RX data error.
    pub const RXE: u8 = 1 << 7;
    /// The errors that make a frame unusable (TCP/IP checksum errors are not
    /// among them: zcnic does not ask the NIC to check those).
    pub const FRAME_ERRORS: u8 = Self::CE | Self::SE | Self::SEQ | Self::CXE | Self::RXE;
}

/// The legacy receive descriptor, 16 bytes. Software writes `buffer_addr`
/// (an IOVA) and clears the rest; the NIC writes everything after it back.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LegacyRxDesc {
    /// IOVA of the receive buffer.
    pub buffer_addr: u64,
    /// Bytes the NIC wrote into the buffer.
    pub length: u16,
    /// Packet checksum (unused by zcnic).
    pub csum: u16,
    /// Status bits, see [`RxStatus`].
    pub status: u8,
    /// Error bits, see [`RxErrors`].
    pub errors: u8,
    /// VLAN tag (unused by zcnic).
    pub special: u16,
}

const _: () = assert!(core::mem::size_of::<LegacyRxDesc>() == 16);

impl LegacyRxDesc {
    /// A descriptor handing `buffer_addr` to the NIC, with every write-back field cleared.
    pub fn empty(buffer_addr: u64) -> Self {
        LegacyRxDesc {
            buffer_addr,
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod rx_tests {
    use super::*;

    #[test]
    fn rx_field_offsets_match_the_manual() {
        assert_eq!(core::mem::offset_of!(LegacyRxDesc, length), 8);
        assert_eq!(core::mem::offset_of!(LegacyRxDesc, csum), 10);
        assert_eq!(core::mem::offset_of!(LegacyRxDesc, status), 12);
        assert_eq!(core::mem::offset_of!(LegacyRxDesc, errors), 13);
        assert_eq!(core::mem::offset_of!(LegacyRxDesc, special), 14);
    }
}

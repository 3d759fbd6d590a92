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

/// A transmit descriptor, 16 bytes, little-endian as the NIC sees it.
///
/// The e1000 family has three TX descriptor formats of the same size: legacy
/// data, TCP/IP context and extended data. They agree where the ring logic
/// looks: the command byte (with RS at bit 3 and DEXT at bit 5) is byte 11 and
/// the status nibble (with DD at bit 0) is byte 12. So one type serves all
/// three; the fields are named for the legacy format and the constructors
/// [`TxDesc::tcpip_context`] and [`TxDesc::extended_data`] fill the others.
///
/// `buffer_addr` is a bus address (an IOVA). This type is plain data; the
/// driver is what guarantees that only IOVAs of its own DMA mappings are ever
/// written into a ring the NIC can see.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TxDesc {
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

const _: () = assert!(core::mem::size_of::<TxDesc>() == 16);

/// Context descriptor TUCMD: the packet is IPv4.
const TUCMD_IP: u8 = 1 << 1;
/// Context descriptor TUCMD: the L4 protocol is TCP (clear for UDP).
const TUCMD_TCP: u8 = 1 << 0;
/// DTYP of an extended data descriptor.
const DTYP_DATA: u8 = 0b0001;
/// POPTS: insert the IPv4 header checksum.
pub const TX_POPTS_IXSM: u8 = 1 << 0;
/// POPTS: insert the TCP/UDP checksum.
pub const TX_POPTS_TXSM: u8 = 1 << 1;

impl TxDesc {
    /// A descriptor for one whole frame in one buffer: EOP and IFCS set,
    /// status cleared so that a stale DD from an earlier lap cannot be
    /// mistaken for completion.
    pub fn single_buffer_frame(buffer_addr: u64, length: u16) -> Self {
        TxDesc { buffer_addr, length, cmd: TxCmd::EOP | TxCmd::IFCS, ..Default::default() }
    }

    /// A TCP/IP context descriptor (DEXT set, DTYP 0000) that tells the NIC
    /// where to compute and insert checksums in the frames that follow:
    /// the IPv4 header checksum over bytes `ipcss..=ipcse` stored at `ipcso`,
    /// and the TCP/UDP checksum from `tucss` to the end of the frame stored at
    /// `tucso` (`udp` clears TUCMD.TCP). The NIC keeps the context until the
    /// next one, so a flow of identical headers needs it once.
    pub fn tcpip_context(ipcss: u8, ipcso: u8, ipcse: u16, tucss: u8, tucso: u8, udp: bool) -> Self {
        let mut tucmd = TxCmd::DEXT | TUCMD_IP;
        if !udp {
            tucmd |= TUCMD_TCP;
        }
        TxDesc {
            buffer_addr: u64::from(ipcss)
                | u64::from(ipcso) << 8
                | u64::from(ipcse) << 16
                | u64::from(tucss) << 32
                | u64::from(tucso) << 40, // TUCSE = 0: to the end of the frame
            // PAYLEN and DTYP (0000) are zero without TSO.
            length: 0,
            cso: 0,
            cmd: tucmd,
            ..Default::default()
        }
    }

    /// An extended data descriptor (DEXT set, DTYP 0001) for `length` bytes
    /// at `buffer_addr`; `eop` on the frame's last one. `popts` asks for the
    /// checksums described by the current context ([`TX_POPTS_IXSM`],
    /// [`TX_POPTS_TXSM`]); the NIC reads it from a frame's first descriptor.
    pub fn extended_data(buffer_addr: u64, length: u16, eop: bool, popts: u8) -> Self {
        let mut cmd = TxCmd::DEXT | TxCmd::IFCS;
        if eop {
            cmd |= TxCmd::EOP;
        }
        TxDesc {
            buffer_addr,
            length,
            cso: DTYP_DATA << 4, // DTALEN bits 16..19 are 0: lengths fit 16 bits
            cmd,
            status: 0,
            css: popts,
            special: 0,
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
        assert_eq!(core::mem::offset_of!(TxDesc, buffer_addr), 0);
        assert_eq!(core::mem::offset_of!(TxDesc, length), 8);
        assert_eq!(core::mem::offset_of!(TxDesc, cso), 10);
        assert_eq!(core::mem::offset_of!(TxDesc, cmd), 11);
        assert_eq!(core::mem::offset_of!(TxDesc, status), 12);
        assert_eq!(core::mem::offset_of!(TxDesc, css), 13);
        assert_eq!(core::mem::offset_of!(TxDesc, special), 14);
    }

    fn words(d: &TxDesc) -> (u64, u64) {
        let hi = u64::from(d.length)
            | u64::from(d.cso) << 16
            | u64::from(d.cmd) << 24
            | u64::from(d.status) << 32
            | u64::from(d.css) << 40
            | u64::from(d.special) << 48;
        (d.buffer_addr, hi)
    }

    #[test]
    fn context_descriptor_matches_the_manual_bit_layout() {
        // UDP in IPv4 behind Ethernet: IP header 14..=33, csum at 24; UDP from 34, csum at 40.
        let (lo, hi) = words(&TxDesc::tcpip_context(14, 24, 33, 34, 40, true));
        assert_eq!(lo & 0xff, 14, "IPCSS");
        assert_eq!((lo >> 8) & 0xff, 24, "IPCSO");
        assert_eq!((lo >> 16) & 0xffff, 33, "IPCSE");
        assert_eq!((lo >> 32) & 0xff, 34, "TUCSS");
        assert_eq!((lo >> 40) & 0xff, 40, "TUCSO");
        assert_eq!(lo >> 48, 0, "TUCSE 0 = to the end");
        assert_eq!((hi >> 20) & 0xf, 0, "DTYP context");
        assert_eq!((hi >> 24) & 0xff, 0x20 | 0x02, "TUCMD = DEXT | IP, TCP clear");
    }

    #[test]
    fn extended_data_descriptor_matches_the_manual_bit_layout() {
        let (lo, hi) = words(&TxDesc::extended_data(0xabc000, 1472, true, TX_POPTS_IXSM | TX_POPTS_TXSM));
        assert_eq!(lo, 0xabc000);
        assert_eq!(hi & 0xfffff, 1472, "DTALEN");
        assert_eq!((hi >> 20) & 0xf, 1, "DTYP data");
        assert_eq!((hi >> 24) & 0xff, 0x20 | 0x02 | 0x01, "DCMD = DEXT | IFCS | EOP");
        assert_eq!((hi >> 40) & 0xff, 0x3, "POPTS = IXSM | TXSM");
    }

    #[test]
    fn single_buffer_frame_has_eop_ifcs_and_no_status() {
        let d = TxDesc::single_buffer_frame(0x2000, 60);
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
        LegacyRxDesc { buffer_addr, ..Default::default() }
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

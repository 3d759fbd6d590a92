//! Descriptor layouts as the NIC reads and writes them in memory.
//!
//! Layouts follow the 8254x/8257x software developer's manuals (section
//! "Legacy Transmit Descriptor Format"); both the 82540EM and the 82574L use
//! the same 16-byte legacy layout.
//!
//! Bit fields are `bitflags` types, each `#[repr(transparent)]` over its `u8`,
//! so a descriptor keeps the manual's layout while a command bit cannot land in
//! a status field. Every `u8` is a valid value of each of them (unknown bits
//! are kept, not rejected): descriptors are read back from memory the device
//! writes, and whatever it wrote must still be a value the ring can inspect.

use bitflags::bitflags;

/// A descriptor type whose status byte the NIC writes back.
///
/// The NIC writes the status byte (with DD) as part of its write-back, and DD
/// vouches for everything else it wrote. The ring therefore reads the status
/// byte on its own first, and the rest only after it has seen DD (see
/// [`DescriptorMemory::read_status`](crate::DescriptorMemory::read_status)).
/// This trait says where that byte is, so memory over DMA can read exactly it.
pub trait Descriptor: Copy {
    /// Byte offset of the status byte from the start of the descriptor.
    const STATUS_OFFSET: usize;
    /// The status byte, as its raw bits.
    fn status_byte(&self) -> u8;
}

/// A transmit descriptor format [`TxRing`](crate::TxRing) can manage: the
/// legacy/extended e1000 format ([`TxDesc`]) and the advanced igb format
/// ([`AdvTxDesc`](crate::AdvTxDesc)). The ring touches only RS and the
/// status the NIC writes back.
pub trait TxDescriptor: Descriptor {
    /// Prepare a descriptor for a slot the NIC will own: RS off (the ring
    /// sets it per batch) and the write-back status cleared, so that a stale
    /// DD from an earlier lap cannot be taken for completion.
    fn hand_over(&mut self);
    /// Ask for a status write-back (RS), clearing any stale status.
    fn request_status(&mut self);
    /// Whether a status byte read from the ring shows DD.
    fn done(status: u8) -> bool;
}

/// A receive descriptor format [`RxRing`](crate::RxRing) can manage: the
/// legacy e1000 format ([`LegacyRxDesc`]) and the advanced igb one-buffer
/// format ([`AdvRxDesc`](crate::AdvRxDesc)).
pub trait RxDescriptor: Descriptor {
    /// A descriptor handing the buffer at `buffer_addr` to the NIC, every
    /// write-back field cleared.
    fn empty(buffer_addr: u64) -> Self;
    /// Whether a status byte shows DD.
    fn done(status: u8) -> bool;
    /// Whether a status byte shows EOP.
    fn end_of_packet(status: u8) -> bool;
    /// The frame length the NIC wrote back (untrusted).
    fn length(&self) -> u16;
    /// Whether the NIC flagged the frame itself as bad (CRC, symbol,
    /// sequence, carrier extension or data error).
    fn frame_error(&self) -> bool;
    /// The receive-side-scaling hash the NIC reported, with its type, if
    /// the format has one and the NIC hashed the frame.
    fn rss(&self) -> Option<(crate::RssType, u32)> {
        None
    }
}

bitflags! {
    /// Bits of the legacy TX descriptor's CMD byte (DCMD in the extended data
    /// format, which puts the bits used here at the same places).
    #[repr(transparent)]
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct TxCmd: u8 {
        /// End of packet: this descriptor holds the frame's last bytes.
        const EOP = 1 << 0;
        /// Insert FCS: the NIC appends the Ethernet CRC.
        const IFCS = 1 << 1;
        /// Insert checksum (legacy CSO/CSS); unused by zcnic.
        const IC = 1 << 2;
        /// TCP segmentation enable: the same bit in the extended data format
        /// (DCMD.TSE), set on every data descriptor of a frame the NIC cuts.
        const TSE = 1 << 2;
        /// Report status: the NIC writes DD back when it is done with this one.
        const RS = 1 << 3;
        /// Descriptor extension: set on context and extended data descriptors.
        const DEXT = 1 << 5;
        /// Interrupt delay enable (TIDV); unused by zcnic.
        const IDE = 1 << 7;
    }
}

bitflags! {
    /// Bits of the legacy TX descriptor's STATUS field.
    #[repr(transparent)]
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct TxStatus: u8 {
        /// Descriptor done: written back by the NIC for descriptors with RS.
        const DD = 1 << 0;
    }
}

bitflags! {
    /// POPTS of an extended data descriptor: which checksums the NIC inserts,
    /// where the current TCP/IP context says.
    #[repr(transparent)]
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct TxPopts: u8 {
        /// Insert the IPv4 header checksum.
        const IXSM = 1 << 0;
        /// Insert the TCP/UDP checksum.
        const TXSM = 1 << 1;
    }
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
    /// The extended data format keeps DTYP in its upper nibble.
    pub cso: u8,
    /// Command bits. In a context descriptor the same byte is TUCMD, whose
    /// low bits mean other things (see [`TxDesc::tcpip_context`]).
    pub cmd: TxCmd,
    /// Status bits written back by the NIC.
    pub status: TxStatus,
    /// Checksum start (legacy checksum insertion; zcnic leaves it 0).
    /// The extended data format keeps [`TxPopts`] here.
    pub css: u8,
    /// VLAN tag when VLE is set; zcnic leaves it 0.
    pub special: u16,
}

const _: () = assert!(core::mem::size_of::<TxDesc>() == 16);
const _: () = assert!(core::mem::offset_of!(TxDesc, status) == 12);

impl Descriptor for TxDesc {
    const STATUS_OFFSET: usize = core::mem::offset_of!(TxDesc, status);
    fn status_byte(&self) -> u8 {
        self.status.bits()
    }
}

impl TxDescriptor for TxDesc {
    fn hand_over(&mut self) {
        self.cmd.remove(TxCmd::RS);
        self.status = TxStatus::empty();
    }
    fn request_status(&mut self) {
        self.cmd.insert(TxCmd::RS);
        self.status = TxStatus::empty();
    }
    fn done(status: u8) -> bool {
        TxStatus::from_bits_retain(status).contains(TxStatus::DD)
    }
}

/// Context descriptor TUCMD, which shares the CMD byte: the packet is IPv4
/// (bit 1, where a data descriptor has IFCS).
const TUCMD_IP: TxCmd = TxCmd::from_bits_retain(1 << 1);
/// Context descriptor TUCMD: the L4 protocol is TCP, clear for UDP (bit 0,
/// where a data descriptor has EOP).
const TUCMD_TCP: TxCmd = TxCmd::from_bits_retain(1 << 0);
/// DTYP of an extended data descriptor.
const DTYP_DATA: u8 = 0b0001;

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

    /// A TCP segmentation context (DEXT, DTYP 0000, TUCMD = IP | TCP | TSE):
    /// checksum offsets as in [`tcpip_context`](Self::tcpip_context) (TUCSE 0),
    /// plus `header_len` (HDRLEN: Ethernet + IP + TCP header bytes, repeated in
    /// every segment), `mss` (payload bytes per segment) and `payload_len`
    /// (PAYLEN, 20 bits: the TCP payload of the whole frame, header excluded).
    /// The NIC keeps it for one frame's data descriptors only in the sense
    /// that PAYLEN is per frame: each TSO frame needs its own.
    #[allow(clippy::too_many_arguments)]
    pub fn tso_context(
        ipcss: u8,
        ipcso: u8,
        ipcse: u16,
        tucss: u8,
        tucso: u8,
        header_len: u8,
        mss: u16,
        payload_len: u32,
    ) -> Self {
        assert!(payload_len < 1 << 20, "PAYLEN is 20 bits");
        let mut d = Self::tcpip_context(ipcss, ipcso, ipcse, tucss, tucso, false);
        d.cmd |= TxCmd::TSE;
        d.length = payload_len as u16; // PAYLEN bits 0..15
        d.cso = (payload_len >> 16) as u8; // PAYLEN bits 16..19; DTYP (bits 20..23) stays 0
        d.css = header_len; // HDRLEN
        d.special = mss; // MSS
        d
    }

    /// This descriptor with DCMD.TSE set: a data descriptor of a frame the
    /// NIC segments.
    pub fn segmented(mut self) -> Self {
        self.cmd |= TxCmd::TSE;
        self
    }

    /// An extended data descriptor (DEXT set, DTYP 0001) for `length` bytes
    /// at `buffer_addr`; `eop` on the frame's last one. `popts` asks for the
    /// checksums described by the current context; the NIC reads it from a
    /// frame's first descriptor.
    pub fn extended_data(buffer_addr: u64, length: u16, eop: bool, popts: TxPopts) -> Self {
        let mut cmd = TxCmd::DEXT | TxCmd::IFCS;
        if eop {
            cmd |= TxCmd::EOP;
        }
        TxDesc {
            buffer_addr,
            length,
            cso: DTYP_DATA << 4, // DTALEN bits 16..19 are 0: lengths fit 16 bits
            cmd,
            status: TxStatus::empty(),
            css: popts.bits(),
            special: 0,
        }
    }

    /// Whether the NIC has written DD back.
    pub fn is_done(&self) -> bool {
        self.status.contains(TxStatus::DD)
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
        assert_eq!(TxDesc::STATUS_OFFSET, 12);
    }

    #[test]
    fn flag_types_are_single_bytes() {
        assert_eq!(core::mem::size_of::<TxCmd>(), 1);
        assert_eq!(core::mem::size_of::<TxStatus>(), 1);
        assert_eq!(core::mem::size_of::<TxPopts>(), 1);
    }

    fn words(d: &TxDesc) -> (u64, u64) {
        let hi = u64::from(d.length)
            | u64::from(d.cso) << 16
            | u64::from(d.cmd.bits()) << 24
            | u64::from(d.status.bits()) << 32
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
        let (_, hi) = words(&TxDesc::tcpip_context(14, 24, 33, 34, 50, false));
        assert_eq!((hi >> 24) & 0xff, 0x20 | 0x02 | 0x01, "TUCMD = DEXT | IP | TCP");
    }

    #[test]
    fn tso_context_descriptor_matches_the_manual_bit_layout() {
        // TCP in IPv4 behind Ethernet: IP 14..=33, csum at 24; TCP from 34, csum at 50; 54 header bytes.
        let (lo, hi) = words(&TxDesc::tso_context(14, 24, 33, 34, 50, 54, 1460, 0x1_2345));
        assert_eq!(lo & 0xff, 14, "IPCSS");
        assert_eq!((lo >> 32) & 0xff, 34, "TUCSS");
        assert_eq!((lo >> 40) & 0xff, 50, "TUCSO");
        assert_eq!(lo >> 48, 0, "TUCSE 0 = to the end");
        assert_eq!(hi & 0xf_ffff, 0x1_2345, "PAYLEN, 20 bits");
        assert_eq!((hi >> 20) & 0xf, 0, "DTYP context");
        assert_eq!((hi >> 24) & 0xff, 0x20 | 0x04 | 0x02 | 0x01, "TUCMD = DEXT | TSE | IP | TCP");
        assert_eq!((hi >> 40) & 0xff, 54, "HDRLEN");
        assert_eq!(hi >> 48, 1460, "MSS");
    }

    #[test]
    fn a_segmented_data_descriptor_has_tse_in_dcmd() {
        let (_, hi) = words(&TxDesc::extended_data(0x1000, 4096, false, TxPopts::IXSM | TxPopts::TXSM).segmented());
        assert_eq!((hi >> 24) & 0xff, 0x20 | 0x04 | 0x02, "DCMD = DEXT | TSE | IFCS");
        assert_eq!((hi >> 20) & 0xf, 1, "DTYP data");
    }

    #[test]
    fn extended_data_descriptor_matches_the_manual_bit_layout() {
        let (lo, hi) = words(&TxDesc::extended_data(0xabc000, 1472, true, TxPopts::IXSM | TxPopts::TXSM));
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
        assert_eq!(d.status, TxStatus::empty());
        assert!(!d.is_done());
    }

    #[test]
    fn the_status_byte_is_the_one_dd_lives_in() {
        let mut d = TxDesc::single_buffer_frame(0x2000, 60);
        assert_eq!(d.status_byte(), 0);
        d.status = TxStatus::from_bits_retain(0xa1);
        assert_eq!(d.status_byte(), 0xa1, "unknown bits from the device are kept");
        assert!(d.is_done());
    }
}

bitflags! {
    /// Bits of the legacy RX descriptor's STATUS field.
    #[repr(transparent)]
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct RxStatus: u8 {
        /// Descriptor done: the NIC has written a frame (or part of one) here.
        const DD = 1 << 0;
        /// End of packet: this descriptor holds the frame's last bytes.
        const EOP = 1 << 1;
        /// Ignore checksum indication.
        const IXSM = 1 << 2;
    }
}

bitflags! {
    /// Bits of the legacy RX descriptor's ERRORS field.
    #[repr(transparent)]
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct RxErrors: u8 {
        /// CRC or alignment error.
        const CE = 1 << 0;
        /// Symbol error.
        const SE = 1 << 1;
        /// Sequence error.
        const SEQ = 1 << 2;
        /// Carrier extension error.
        const CXE = 1 << 4;
        /// TCP/UDP checksum error (only if the NIC was asked to check it).
        const TCPE = 1 << 5;
        /// IPv4 header checksum error (only if the NIC was asked to check it).
        const IPE = 1 << 6;
        /// RX data error.
        const RXE = 1 << 7;
    }
}

impl RxErrors {
    /// The errors that make a frame unusable (the TCP/IP checksum errors are
    /// not among them: zcnic does not ask the NIC to check those). A plain
    /// constant rather than a named flag, so `Debug` keeps naming the bits.
    pub const FRAME_ERRORS: Self = Self::CE.union(Self::SE).union(Self::SEQ).union(Self::CXE).union(Self::RXE);
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
    /// Status bits written back by the NIC.
    pub status: RxStatus,
    /// Error bits written back by the NIC.
    pub errors: RxErrors,
    /// VLAN tag (unused by zcnic).
    pub special: u16,
}

const _: () = assert!(core::mem::size_of::<LegacyRxDesc>() == 16);
const _: () = assert!(core::mem::offset_of!(LegacyRxDesc, status) == 12);

impl Descriptor for LegacyRxDesc {
    const STATUS_OFFSET: usize = core::mem::offset_of!(LegacyRxDesc, status);
    fn status_byte(&self) -> u8 {
        self.status.bits()
    }
}

impl LegacyRxDesc {
    /// A descriptor handing `buffer_addr` to the NIC, with every write-back field cleared.
    pub fn empty(buffer_addr: u64) -> Self {
        LegacyRxDesc { buffer_addr, ..Default::default() }
    }
}

impl RxDescriptor for LegacyRxDesc {
    fn empty(buffer_addr: u64) -> Self {
        LegacyRxDesc::empty(buffer_addr)
    }
    fn done(status: u8) -> bool {
        RxStatus::from_bits_retain(status).contains(RxStatus::DD)
    }
    fn end_of_packet(status: u8) -> bool {
        RxStatus::from_bits_retain(status).contains(RxStatus::EOP)
    }
    fn length(&self) -> u16 {
        self.length
    }
    fn frame_error(&self) -> bool {
        self.errors.intersects(RxErrors::FRAME_ERRORS)
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
        assert_eq!(LegacyRxDesc::STATUS_OFFSET, 12);
    }

    #[test]
    fn rx_bits_match_the_manual() {
        assert_eq!(core::mem::size_of::<RxStatus>(), 1);
        assert_eq!(core::mem::size_of::<RxErrors>(), 1);
        assert_eq!((RxStatus::DD | RxStatus::EOP).bits(), 0x03);
        assert_eq!(RxErrors::FRAME_ERRORS.bits(), 0x97, "CE, SE, SEQ, CXE and RXE; not TCPE or IPE");
        let d = LegacyRxDesc { status: RxStatus::from_bits_retain(0xff), ..LegacyRxDesc::empty(0x1000) };
        assert_eq!(d.status_byte(), 0xff);
    }
}

//! The advanced descriptor formats of the 82575/82576 (igb) family.
//!
//! Layouts follow the 82576 datasheet, sections "Advanced Transmit Context
//! Descriptor", "Advanced Transmit Data Descriptor" and "Advanced Receive
//! Descriptors". Each descriptor is 16 bytes, kept as its two little-endian
//! quadwords (the NIC's view) with the fields packed and unpacked by the
//! constructors and accessors here, so that every shift and mask lives in one
//! place and is tested against the datasheet's bit positions.
//!
//! Where the ring logic looks, the formats agree with the legacy ones: the
//! TX data descriptor's DCMD byte (RS at bit 3) is byte 11 and its status
//! nibble (DD at bit 0) is byte 12; the RX write-back's status (DD at bit 0,
//! EOP at bit 1) is byte 8, and its error byte (the same frame-error bits as
//! the legacy format) is byte 11.

use bitflags::bitflags;

use crate::desc::{Descriptor, RxDescriptor, TxDescriptor};

bitflags! {
    /// DCMD of an advanced data descriptor: bits 24..31 of its second dword.
    #[repr(transparent)]
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct AdvTxCmd: u8 {
        /// End of packet: this descriptor holds the frame's last bytes.
        const EOP = 1 << 0;
        /// Insert FCS: the NIC appends the Ethernet CRC.
        const IFCS = 1 << 1;
        /// Report status: the NIC writes DD back when it is done with this one.
        const RS = 1 << 3;
        /// Descriptor extension: set on every advanced descriptor.
        const DEXT = 1 << 5;
        /// Insert the VLAN tag of the context; unused by zcnic.
        const VLE = 1 << 6;
        /// TCP segmentation: the frame is cut into MSS-sized segments.
        const TSE = 1 << 7;
    }
}

bitflags! {
    /// POPTS of an advanced data descriptor (bits 8..13 of `olinfo_status`):
    /// which checksums the NIC inserts, where the frame's context says.
    #[repr(transparent)]
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct AdvTxPopts: u8 {
        /// Insert the IPv4 header checksum.
        const IXSM = 1 << 0;
        /// Insert the TCP/UDP checksum.
        const TXSM = 1 << 1;
    }
}

/// DTYP (bits 20..23 of the second dword): a context descriptor.
const DTYP_CONTEXT: u64 = 0x2;
/// DTYP: a data descriptor.
const DTYP_DATA: u64 = 0x3;
/// Byte 11 of the descriptor, DCMD (data) or the top of TUCMD/DTYP (context).
const CMD_SHIFT: u32 = 24;
/// TUCMD.IPV4 in the context's `type_tucmd_mlhl` (bit 10).
const TUCMD_IPV4: u64 = 1 << 10;
/// TUCMD.L4T = TCP (bits 11..12 = 01); UDP is 00.
const TUCMD_L4T_TCP: u64 = 1 << 11;
/// Largest PAYLEN (18 bits).
pub const MAX_PAYLEN: u32 = (1 << 18) - 1;

/// An advanced transmit descriptor, context or data: two quadwords as the
/// NIC reads them. For a data descriptor the first is the buffer's IOVA and
/// the second holds `cmd_type_len` (low dword) and `olinfo_status` (high);
/// for a context descriptor they hold `vlan_macip_lens`, `seqnum_seed`,
/// `type_tucmd_mlhl` and `mss_l4len_idx`.
///
/// Like [`TxDesc`](crate::TxDesc) this is plain data: only the driver, which
/// writes IOVAs of its own DMA mappings alone, decides what goes in.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AdvTxDesc {
    /// Buffer IOVA (data) or `vlan_macip_lens | seqnum_seed << 32` (context).
    pub lo: u64,
    /// `cmd_type_len | olinfo_status << 32` (data) or
    /// `type_tucmd_mlhl | mss_l4len_idx << 32` (context).
    pub hi: u64,
}

const _: () = assert!(core::mem::size_of::<AdvTxDesc>() == 16);

/// Where the checksums go, for a context descriptor: the lengths of the
/// MAC header (MACLEN, 7 bits) and the IP header (IPLEN, 9 bits), whether
/// the L4 protocol is TCP (else UDP), and for TCP segmentation the TCP
/// header's length (L4LEN) and the segment payload (MSS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdvContext {
    /// Bytes before the IP header.
    pub mac_len: u8,
    /// Bytes of the IP header.
    pub ip_len: u16,
    /// TCP (true) or UDP.
    pub tcp: bool,
    /// For segmentation: the TCP header length and the MSS.
    pub segmentation: Option<(u8, u16)>,
}

impl AdvTxDesc {
    /// A context descriptor (DTYP 0010, DEXT) for checksum offload and, with
    /// `ctx.segmentation`, TCP segmentation; context slot 0. The NIC keeps
    /// it until the next context descriptor.
    pub fn context(ctx: AdvContext) -> Self {
        assert!(ctx.mac_len < 1 << 7, "MACLEN is 7 bits");
        assert!(ctx.ip_len < 1 << 9, "IPLEN is 9 bits");
        let vlan_macip_lens = u64::from(ctx.ip_len) | u64::from(ctx.mac_len) << 9;
        let mut tucmd = TUCMD_IPV4;
        if ctx.tcp {
            tucmd |= TUCMD_L4T_TCP;
        }
        let type_tucmd_mlhl = tucmd | DTYP_CONTEXT << 20 | u64::from(AdvTxCmd::DEXT.bits()) << CMD_SHIFT;
        let (l4_len, mss) = ctx.segmentation.unwrap_or((0, 0));
        let mss_l4len_idx = u64::from(l4_len) << 8 | u64::from(mss) << 16;
        AdvTxDesc { lo: vlan_macip_lens, hi: type_tucmd_mlhl | mss_l4len_idx << 32 }
    }

    /// A data descriptor (DTYP 0011, DEXT, IFCS) for `len` bytes at `buffer`;
    /// `eop` on the frame's last one. `popts` asks for the checksums of the
    /// current context, `tso` for segmentation; `paylen` is the frame's
    /// length (without TSO) or its payload after the headers (with TSO), as
    /// the datasheet asks for on a frame's first descriptor.
    pub fn data(buffer: u64, len: u16, eop: bool, popts: AdvTxPopts, tso: bool, paylen: u32) -> Self {
        assert!(paylen <= MAX_PAYLEN, "PAYLEN is 18 bits");
        let mut cmd = AdvTxCmd::DEXT | AdvTxCmd::IFCS;
        cmd.set(AdvTxCmd::EOP, eop);
        cmd.set(AdvTxCmd::TSE, tso);
        let cmd_type_len = u64::from(len) | DTYP_DATA << 20 | u64::from(cmd.bits()) << CMD_SHIFT;
        let olinfo_status = u64::from(popts.bits()) << 8 | u64::from(paylen) << 14;
        AdvTxDesc { lo: buffer, hi: cmd_type_len | olinfo_status << 32 }
    }

    /// DCMD of a data descriptor.
    pub fn cmd(&self) -> AdvTxCmd {
        AdvTxCmd::from_bits_retain((self.hi >> CMD_SHIFT) as u8)
    }

    /// Whether this is a data descriptor (else a context descriptor).
    pub fn is_data(&self) -> bool {
        (self.hi >> 20) & 0xf == DTYP_DATA
    }

    /// DTALEN of a data descriptor.
    pub fn data_len(&self) -> u16 {
        self.hi as u16
    }

    /// PAYLEN of a data descriptor.
    pub fn paylen(&self) -> u32 {
        (self.hi >> 46) as u32 & MAX_PAYLEN
    }

    /// POPTS of a data descriptor.
    pub fn popts(&self) -> AdvTxPopts {
        AdvTxPopts::from_bits_retain((self.hi >> 40) as u8 & 0x3f)
    }

    /// Whether the NIC has written DD back.
    pub fn is_done(&self) -> bool {
        Self::done(self.status_byte())
    }
}

impl Descriptor for AdvTxDesc {
    /// The low byte of `olinfo_status`, whose low nibble is STA.
    const STATUS_OFFSET: usize = 12;
    fn status_byte(&self) -> u8 {
        (self.hi >> 32) as u8
    }
}

impl TxDescriptor for AdvTxDesc {
    fn hand_over(&mut self) {
        // RS off and STA (the nibble the NIC writes) cleared; IDX and CC,
        // the byte's upper bits, stay as built (zcnic uses context slot 0).
        self.hi &= !(u64::from(AdvTxCmd::RS.bits()) << CMD_SHIFT);
        self.hi &= !(0xf << 32);
    }
    fn request_status(&mut self) {
        self.hi |= u64::from(AdvTxCmd::RS.bits()) << CMD_SHIFT;
        self.hi &= !(0xf << 32);
    }
    fn done(status: u8) -> bool {
        status & 1 != 0
    }
}

bitflags! {
    /// The low byte of an advanced RX write-back's extended status.
    #[repr(transparent)]
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct AdvRxStatus: u8 {
        /// Descriptor done.
        const DD = 1 << 0;
        /// End of packet.
        const EOP = 1 << 1;
        /// The frame had a VLAN tag (stripped into the VLAN field).
        const VP = 1 << 3;
        /// The NIC checked a UDP checksum.
        const UDPCS = 1 << 4;
        /// The NIC checked an L4 (TCP/UDP) checksum.
        const L4I = 1 << 5;
        /// The NIC checked the IPv4 header checksum.
        const IPCS = 1 << 6;
        /// Not for us (passed by promiscuous or multicast rules).
        const PIF = 1 << 7;
    }
}

bitflags! {
    /// The extended error byte of an advanced RX write-back (bits 24..31 of
    /// its third dword): the same bits at the same places as the legacy
    /// format's error byte.
    #[repr(transparent)]
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct AdvRxErrors: u8 {
        /// CRC error.
        const CE = 1 << 0;
        /// Symbol error.
        const SE = 1 << 1;
        /// Sequence error.
        const SEQ = 1 << 2;
        /// Carrier extension error.
        const CXE = 1 << 4;
        /// TCP/UDP checksum error (when checked).
        const L4E = 1 << 5;
        /// IPv4 header checksum error (when checked).
        const IPE = 1 << 6;
        /// RX data error.
        const RXE = 1 << 7;
    }
}

impl AdvRxErrors {
    /// Errors that make the frame itself bad (not a checksum the NIC
    /// merely checked).
    pub const FRAME_ERRORS: Self = Self::CE.union(Self::SE).union(Self::SEQ).union(Self::CXE).union(Self::RXE);
}

/// An advanced receive descriptor. Software writes the read format (packet
/// buffer IOVA, header buffer IOVA 0: one buffer, no header split); the NIC
/// overwrites both quadwords with the write-back format: RSS type and packet
/// type, RSS hash (first quadword); extended status and errors, length and
/// VLAN tag (second).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AdvRxDesc {
    /// Read: packet buffer IOVA. Write-back: `pkt_info | rss_hash << 32`.
    pub lo: u64,
    /// Read: header buffer IOVA (0: its bit 0 is where DD comes back).
    /// Write-back: `status_error | (length | vlan << 16) << 32`.
    pub hi: u64,
}

const _: () = assert!(core::mem::size_of::<AdvRxDesc>() == 16);

/// RSS hash types in a write-back's low nibble.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RssType {
    /// Not hashed.
    None,
    /// Hash over the IPv4 addresses and TCP ports.
    TcpIpv4,
    /// Hash over the IPv4 addresses.
    Ipv4,
    /// Hash over the IPv4 addresses and UDP ports.
    UdpIpv4,
    /// Another hash type (IPv6 or reserved), by its number.
    Other(u8),
}

impl AdvRxDesc {
    /// The length the NIC wrote back.
    pub fn length(&self) -> u16 {
        (self.hi >> 32) as u16
    }

    /// The status byte.
    pub fn status(&self) -> AdvRxStatus {
        AdvRxStatus::from_bits_retain(self.hi as u8)
    }

    /// The error byte.
    pub fn errors(&self) -> AdvRxErrors {
        AdvRxErrors::from_bits_retain((self.hi >> 24) as u8)
    }

    /// The RSS hash the NIC computed (meaningful when `rss_type` is not None).
    pub fn rss_hash(&self) -> u32 {
        (self.lo >> 32) as u32
    }

    /// Which RSS hash it computed.
    pub fn rss_type(&self) -> RssType {
        match self.lo as u8 & 0xf {
            0 => RssType::None,
            1 => RssType::TcpIpv4,
            2 => RssType::Ipv4,
            7 => RssType::UdpIpv4,
            n => RssType::Other(n),
        }
    }
}

impl Descriptor for AdvRxDesc {
    /// The low byte of the extended status.
    const STATUS_OFFSET: usize = 8;
    fn status_byte(&self) -> u8 {
        self.hi as u8
    }
}

impl RxDescriptor for AdvRxDesc {
    fn empty(buffer_addr: u64) -> Self {
        AdvRxDesc { lo: buffer_addr, hi: 0 }
    }
    fn done(status: u8) -> bool {
        AdvRxStatus::from_bits_retain(status).contains(AdvRxStatus::DD)
    }
    fn end_of_packet(status: u8) -> bool {
        AdvRxStatus::from_bits_retain(status).contains(AdvRxStatus::EOP)
    }
    fn length(&self) -> u16 {
        AdvRxDesc::length(self)
    }
    fn frame_error(&self) -> bool {
        self.errors().intersects(AdvRxErrors::FRAME_ERRORS)
    }
    fn rss(&self) -> Option<(RssType, u32)> {
        match self.rss_type() {
            RssType::None => None,
            t => Some((t, self.rss_hash())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dwords(d: &AdvTxDesc) -> [u32; 4] {
        [d.lo as u32, (d.lo >> 32) as u32, d.hi as u32, (d.hi >> 32) as u32]
    }

    #[test]
    fn data_descriptor_matches_the_datasheet_bit_layout() {
        let d = AdvTxDesc::data(0xabc000, 1472, true, AdvTxPopts::IXSM | AdvTxPopts::TXSM, false, 1514);
        let [a0, a1, cmd_type_len, olinfo] = dwords(&d);
        assert_eq!((a0, a1), (0xabc000, 0));
        assert_eq!(cmd_type_len & 0xffff, 1472, "DTALEN");
        assert_eq!((cmd_type_len >> 20) & 0xf, 0x3, "DTYP data");
        // Linux's igb: DCMD_EOP 0x01000000, IFCS 0x02000000, DEXT 0x20000000.
        assert_eq!(cmd_type_len & 0xff00_0000, 0x0100_0000 | 0x0200_0000 | 0x2000_0000);
        assert_eq!(olinfo & 0xf, 0, "STA clear");
        assert_eq!((olinfo >> 8) & 0x3f, 0x3, "POPTS IXSM | TXSM");
        assert_eq!(olinfo >> 14, 1514, "PAYLEN");
        let t = AdvTxDesc::data(0x1000, 4096, false, AdvTxPopts::TXSM, true, 65536);
        assert_eq!(dwords(&t)[2] & 0xff00_0000, 0x8000_0000 | 0x0200_0000 | 0x2000_0000, "TSE, no EOP");
        assert_eq!(t.paylen(), 65536);
        assert_eq!((t.data_len(), t.popts(), t.is_data()), (4096, AdvTxPopts::TXSM, true));
    }

    #[test]
    fn context_descriptor_matches_the_datasheet_bit_layout() {
        let tcp = AdvTxDesc::context(AdvContext { mac_len: 14, ip_len: 20, tcp: true, segmentation: Some((20, 1460)) });
        let [vlan_macip_lens, seqnum_seed, type_tucmd_mlhl, mss_l4len_idx] = dwords(&tcp);
        assert_eq!(vlan_macip_lens, 20 | 14 << 9, "IPLEN bits 0..8, MACLEN bits 9..15");
        assert_eq!(seqnum_seed, 0);
        // Linux's igb: TUCMD_IPV4 0x400, TUCMD_L4T_TCP 0x800, DTYP_CTXT 0x00200000, DEXT 0x20000000.
        assert_eq!(type_tucmd_mlhl, 0x400 | 0x800 | 0x0020_0000 | 0x2000_0000);
        assert_eq!(mss_l4len_idx, 20 << 8 | 1460 << 16, "L4LEN bits 8..15, MSS bits 16..31, IDX 0");
        assert!(!tcp.is_data());
        let udp = AdvTxDesc::context(AdvContext { mac_len: 14, ip_len: 20, tcp: false, segmentation: None });
        assert_eq!(dwords(&udp)[2], 0x400 | 0x0020_0000 | 0x2000_0000, "L4T UDP is 00");
        assert_eq!(dwords(&udp)[3], 0);
    }

    #[test]
    fn the_ring_sets_rs_and_clears_only_sta() {
        let mut d = AdvTxDesc::data(0x1000, 60, true, AdvTxPopts::empty(), false, 60);
        d.hi |= 0xf << 32 | 0x70 << 32; // stale STA, and an IDX of 7
        d.request_status();
        assert!(d.cmd().contains(AdvTxCmd::RS));
        assert_eq!(d.status_byte(), 0x70, "STA cleared, IDX kept");
        d.hand_over();
        assert!(!d.cmd().contains(AdvTxCmd::RS));
        assert_eq!(AdvTxDesc::STATUS_OFFSET, 12);
        assert!(AdvTxDesc::done(0x01) && !AdvTxDesc::done(0x70));
    }

    #[test]
    fn rx_write_back_fields_come_from_the_datasheet_places() {
        // Status DD|EOP|IPCS, errors RXE, length 1514, VLAN 5; RSS type TCP/IPv4, hash 0xdeadbeef.
        let d = AdvRxDesc { lo: 0xdead_beef_0000_0001, hi: 0x0005_05ea_8000_0043 };
        assert_eq!(d.length(), 1514);
        assert_eq!(d.status(), AdvRxStatus::DD | AdvRxStatus::EOP | AdvRxStatus::IPCS);
        assert_eq!(d.errors(), AdvRxErrors::RXE);
        assert!(d.frame_error());
        assert_eq!((d.rss_type(), d.rss_hash()), (RssType::TcpIpv4, 0xdead_beef));
        assert_eq!(AdvRxDesc::STATUS_OFFSET, 8);
        // Linux's igb drops on CE|SE|SEQ|CXE|RXE = 0x97000000 of the status-error dword.
        assert_eq!(u32::from(AdvRxErrors::FRAME_ERRORS.bits()) << 24, 0x9700_0000);
        let checked_bad_l4 = AdvRxDesc { hi: 0x20 << 24 | 0x03, ..d };
        assert!(!checked_bad_l4.frame_error(), "a checksum verdict is not a frame error");
        let fresh = AdvRxDesc::empty(0x4000);
        assert_eq!((fresh.lo, fresh.hi), (0x4000, 0), "header address 0: DD clear");
    }

    #[test]
    fn the_tx_ring_batches_and_reclaims_advanced_descriptors() {
        use crate::{DescriptorMemory, Reclaimed, TxRing, VecMemory};
        let mut mem = VecMemory::<AdvTxDesc>::new(8);
        let mut ring = TxRing::new(8).unwrap();
        let ctx = AdvTxDesc::context(AdvContext { mac_len: 14, ip_len: 20, tcp: false, segmentation: None });
        ring.push(&mut mem, ctx).unwrap();
        ring.push(&mut mem, AdvTxDesc::data(0x1000, 42, false, AdvTxPopts::TXSM, false, 1514)).unwrap();
        ring.push(&mut mem, AdvTxDesc::data(0x2000, 1472, true, AdvTxPopts::TXSM, false, 0)).unwrap();
        assert_eq!(ring.close_batch(&mut mem), Some(3));
        let rs: Vec<usize> =
            (0..8).filter(|&i| mem.descs[i].is_data() && mem.descs[i].cmd().contains(AdvTxCmd::RS)).collect();
        assert_eq!(rs, vec![2], "RS on the batch's last descriptor only");
        assert_eq!(ring.reclaim(&mem).count, 0);
        // The NIC writes DD into STA of the RS descriptor.
        mem.descs[2].hi |= 1 << 32;
        assert_eq!(mem.read_status(2), 0x01);
        assert_eq!(ring.reclaim(&mem), Reclaimed { first: 0, count: 3 });
    }

    #[test]
    fn the_rx_ring_checks_advanced_write_backs() {
        use crate::{RxCompletion, RxDrop, RxRing, VecMemory};
        let mut mem = VecMemory::<AdvRxDesc>::new(8);
        let mut ring = RxRing::new(8, 2048).unwrap();
        assert_eq!(ring.init(&mut mem, |s| 0x10_0000 + u64::from(s) * 2048), 7);
        assert_eq!(mem.descs[3], AdvRxDesc::empty(0x10_0000 + 3 * 2048));
        let wb = |len: u64, status: u64, errors: u64| AdvRxDesc { lo: 0, hi: status | errors << 24 | len << 32 };
        mem.descs[0] = wb(60, 0x03, 0);
        mem.descs[1] = wb(1514, 0x03, 0x80); // RXE
        mem.descs[2] = wb(4000, 0x03, 0); // longer than the buffer
        mem.descs[3] = wb(60, 0x03, 0x20); // L4 checksum verdict only
        assert_eq!(ring.next_completed(&mem), Some(RxCompletion::Frame { slot: 0, len: 60 }));
        assert_eq!(ring.next_completed(&mem), Some(RxCompletion::Dropped { slot: 1, reason: RxDrop::FrameError }));
        assert_eq!(ring.next_completed(&mem), Some(RxCompletion::Dropped { slot: 2, reason: RxDrop::BadLength }));
        assert_eq!(ring.next_completed(&mem), Some(RxCompletion::Frame { slot: 3, len: 60 }));
        assert_eq!(ring.next_completed(&mem), None);
        assert_eq!(ring.refill(&mut mem, |s| 0x10_0000 + u64::from(s) * 2048), Some(3));
        assert_eq!(mem.descs[1], AdvRxDesc::empty(0x10_0000 + 2048), "write-back cleared on refill");
    }
}

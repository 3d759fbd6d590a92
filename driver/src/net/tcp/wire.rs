//! The TCP header on the wire (RFC 9293 section 3.1): parsed from and written
//! into byte slices, options included, plus the checksums.
//!
//! Every length read from the wire (data offset, option lengths) is checked
//! against the slice before use, so arbitrary bytes give an error, never a
//! panic.

use std::net::Ipv4Addr;

use bitflags::bitflags;

use super::super::checksum;

/// IP protocol number of TCP.
pub const IP_PROTO_TCP: u8 = 6;
/// Length of a header without options.
pub const MIN_HEADER_LEN: usize = 20;
/// Largest header: the data offset is 4 bits of 32-bit words.
pub const MAX_HEADER_LEN: usize = 60;
/// Offset of the checksum field in the header (where a NIC stores its sum).
pub const CHECKSUM_OFFSET: usize = 16;

bitflags! {
    /// The control bits (RFC 9293; ECE and CWR from RFC 3168).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub struct Flags: u8 {
        /// No more data from the sender.
        const FIN = 0x01;
        /// Synchronize sequence numbers.
        const SYN = 0x02;
        /// Reset the connection.
        const RST = 0x04;
        /// Push function.
        const PSH = 0x08;
        /// The acknowledgment field is significant.
        const ACK = 0x10;
        /// The urgent pointer is significant.
        const URG = 0x20;
        /// ECN echo.
        const ECE = 0x40;
        /// Congestion window reduced.
        const CWR = 0x80;
    }
}

/// The options zcnic understands; others are skipped when parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Options {
    /// Maximum segment size (kind 2, RFC 9293 section 3.7.1).
    pub mss: Option<u16>,
    /// Window scale shift (kind 3, RFC 7323 section 2); parsed values above
    /// 14 are kept as sent, [`Options::window_shift`] clamps them.
    pub window_scale: Option<u8>,
    /// SACK permitted (kind 4, RFC 2018).
    pub sack_permitted: bool,
    /// Timestamps value and echo reply (kind 8, RFC 7323 section 3).
    pub timestamps: Option<(u32, u32)>,
}

impl Options {
    /// The shift to apply, clamped to 14 as RFC 7323 section 2.3 says a
    /// receiver of a larger value must.
    pub fn window_shift(&self) -> Option<u8> {
        self.window_scale.map(|s| s.min(14))
    }

    /// Bytes these options take on the wire, padded to a multiple of 4.
    pub fn wire_len(&self) -> usize {
        let raw: usize = self.mss.map_or(0, |_| 4)
            + self.window_scale.map_or(0, |_| 3)
            + if self.sack_permitted { 2 } else { 0 }
            + self.timestamps.map_or(0, |_| 10);
        raw.div_ceil(4) * 4
    }
}

/// A parsed (or to-be-written) TCP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpHeader {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number (meaningful with [`Flags::ACK`]).
    pub ack: u32,
    /// Control bits.
    pub flags: Flags,
    /// Window field as on the wire (not scaled).
    pub window: u16,
    /// Checksum field as on the wire.
    pub checksum: u16,
    /// Urgent pointer.
    pub urgent: u16,
    /// Options.
    pub options: Options,
}

/// Why bytes are not a TCP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// Fewer bytes than the header claims (or than 20).
    Truncated,
    /// A data offset below 5 words.
    BadDataOffset,
    /// An option whose length is below 2, runs past the header, or does not
    /// fit its kind.
    BadOption,
    /// The output buffer is too small for the header.
    BufferTooSmall,
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            WireError::Truncated => "TCP segment shorter than its header",
            WireError::BadDataOffset => "TCP data offset below 5 words",
            WireError::BadOption => "malformed TCP option",
            WireError::BufferTooSmall => "buffer too small for the TCP header",
        })
    }
}

impl std::error::Error for WireError {}

const OPT_END: u8 = 0;
const OPT_NOP: u8 = 1;
const OPT_MSS: u8 = 2;
const OPT_WINDOW_SCALE: u8 = 3;
const OPT_SACK_PERMITTED: u8 = 4;
const OPT_TIMESTAMPS: u8 = 8;

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Parse a segment (header and payload, no IP header): the header and the
/// payload slice.
pub fn parse(segment: &[u8]) -> Result<(TcpHeader, &[u8]), WireError> {
    if segment.len() < MIN_HEADER_LEN {
        return Err(WireError::Truncated);
    }
    let header_len = usize::from(segment[12] >> 4) * 4;
    if header_len < MIN_HEADER_LEN {
        return Err(WireError::BadDataOffset);
    }
    if header_len > segment.len() {
        return Err(WireError::Truncated);
    }
    let header = TcpHeader {
        src_port: be16(segment, 0),
        dst_port: be16(segment, 2),
        seq: be32(segment, 4),
        ack: be32(segment, 8),
        flags: Flags::from_bits_retain(segment[13]),
        window: be16(segment, 14),
        checksum: be16(segment, 16),
        urgent: be16(segment, 18),
        options: parse_options(&segment[MIN_HEADER_LEN..header_len])?,
    };
    Ok((header, &segment[header_len..]))
}

/// Parse the option bytes of a header (RFC 9293 section 3.2): kinds 0 and 1
/// are one byte, every other kind has a length byte counting itself.
pub fn parse_options(mut bytes: &[u8]) -> Result<Options, WireError> {
    let mut options = Options::default();
    while let Some(&kind) = bytes.first() {
        match kind {
            OPT_END => break,
            OPT_NOP => {
                bytes = &bytes[1..];
                continue;
            }
            _ => {}
        }
        let len = usize::from(*bytes.get(1).ok_or(WireError::BadOption)?);
        if len < 2 || len > bytes.len() {
            return Err(WireError::BadOption);
        }
        let body = &bytes[2..len];
        match (kind, body.len()) {
            (OPT_MSS, 2) => options.mss = Some(be16(body, 0)),
            (OPT_WINDOW_SCALE, 1) => options.window_scale = Some(body[0]),
            (OPT_SACK_PERMITTED, 0) => options.sack_permitted = true,
            (OPT_TIMESTAMPS, 8) => options.timestamps = Some((be32(body, 0), be32(body, 4))),
            (OPT_MSS | OPT_WINDOW_SCALE | OPT_SACK_PERMITTED | OPT_TIMESTAMPS, _) => return Err(WireError::BadOption),
            _ => {} // unknown kinds (SACK blocks among them) are skipped
        }
        bytes = &bytes[len..];
    }
    Ok(options)
}

impl TcpHeader {
    /// Bytes this header takes: 20 plus its padded options.
    pub fn len(&self) -> usize {
        MIN_HEADER_LEN + self.options.wire_len()
    }

    /// Always false: a header is at least 20 bytes (here for clippy's
    /// `len_without_is_empty`).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Write the header (checksum field as in `self.checksum`) to the start of
    /// `buf`; returns its length.
    pub fn write(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        let len = self.len();
        let out = buf.get_mut(..len).ok_or(WireError::BufferTooSmall)?;
        out[0..2].copy_from_slice(&self.src_port.to_be_bytes());
        out[2..4].copy_from_slice(&self.dst_port.to_be_bytes());
        out[4..8].copy_from_slice(&self.seq.to_be_bytes());
        out[8..12].copy_from_slice(&self.ack.to_be_bytes());
        out[12] = ((len / 4) as u8) << 4;
        out[13] = self.flags.bits();
        out[14..16].copy_from_slice(&self.window.to_be_bytes());
        out[16..18].copy_from_slice(&self.checksum.to_be_bytes());
        out[18..20].copy_from_slice(&self.urgent.to_be_bytes());
        write_options(&self.options, &mut out[MIN_HEADER_LEN..]);
        Ok(len)
    }
}

/// Options in a fixed order, the padding as End-of-list zeros.
fn write_options(options: &Options, out: &mut [u8]) {
    let mut at = 0;
    let mut put = |bytes: &[u8]| {
        out[at..at + bytes.len()].copy_from_slice(bytes);
        at += bytes.len();
    };
    if let Some(mss) = options.mss {
        let m = mss.to_be_bytes();
        put(&[OPT_MSS, 4, m[0], m[1]]);
    }
    if let Some(shift) = options.window_scale {
        put(&[OPT_WINDOW_SCALE, 3, shift]);
    }
    if options.sack_permitted {
        put(&[OPT_SACK_PERMITTED, 2]);
    }
    if let Some((value, echo)) = options.timestamps {
        put(&[OPT_TIMESTAMPS, 10]);
        put(&value.to_be_bytes());
        put(&echo.to_be_bytes());
    }
    let padded = at.div_ceil(4) * 4;
    out[at..padded].fill(OPT_END);
}

/// The IPv4 pseudo-header sum (RFC 9293 section 3.1) for a segment of
/// `tcp_len` bytes (header and payload), not folded or complemented.
pub fn pseudo_header_sum(src: Ipv4Addr, dst: Ipv4Addr, tcp_len: u16) -> u32 {
    let mut sum = checksum::add(0, &src.octets());
    sum = checksum::add(sum, &dst.octets());
    sum = checksum::add(sum, &[0, IP_PROTO_TCP]);
    checksum::add(sum, &tcp_len.to_be_bytes())
}

/// The checksum-field seed for checksum offload of one segment: the folded,
/// uncomplemented pseudo-header sum including the length. The NIC adds the
/// header and payload and stores the complement.
pub fn offload_seed(src: Ipv4Addr, dst: Ipv4Addr, tcp_len: u16) -> u16 {
    checksum::fold(pseudo_header_sum(src, dst, tcp_len))
}

/// The checksum-field seed for a TSO send: the pseudo-header sum with a
/// length of zero. In TCP segmentation the 8254x computes each cut
/// segment's length itself and adds it to the seed (the Intel 8254x
/// developer's manual, TCP segmentation section, says to compute the
/// pseudo-header checksum without the length), so a seed that already held
/// a length would count it twice.
pub fn tso_seed(src: Ipv4Addr, dst: Ipv4Addr) -> u16 {
    checksum::fold(pseudo_header_sum(src, dst, 0))
}

/// The full checksum of a segment computed in software (the checksum field's
/// current content is treated as zero). `segment` must hold at least a
/// 20-byte header.
pub fn software_checksum(src: Ipv4Addr, dst: Ipv4Addr, segment: &[u8]) -> u16 {
    assert!(segment.len() >= MIN_HEADER_LEN, "a TCP segment of {} bytes has no header", segment.len());
    let mut sum = pseudo_header_sum(src, dst, segment.len() as u16);
    sum = checksum::add(sum, &segment[..CHECKSUM_OFFSET]);
    sum = checksum::add(sum, &segment[CHECKSUM_OFFSET + 2..]);
    checksum::finish(sum)
}

/// True when a received segment's checksum is right.
pub fn checksum_ok(src: Ipv4Addr, dst: Ipv4Addr, segment: &[u8]) -> bool {
    let sum = checksum::add(pseudo_header_sum(src, dst, segment.len() as u16), segment);
    checksum::fold(sum) == 0xffff
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    /// A SYN as Linux sends it: MSS 1460, SACK permitted, timestamps, NOP,
    /// window scale 7 (bytes taken from a capture's layout).
    fn linux_syn() -> Vec<u8> {
        let mut s = vec![
            0xc3, 0x50, 0x00, 0x50, // ports 50000 -> 80
            0x12, 0x34, 0x56, 0x78, // seq
            0, 0, 0, 0, // ack
            0xa0, 0x02, // 10 words, SYN
            0xfa, 0xf0, // window 64240
            0, 0, 0, 0, // checksum, urgent
            2, 4, 0x05, 0xb4, // MSS 1460
            4, 2, // SACK permitted
            8, 10, 0, 0, 0, 1, 0, 0, 0, 0, // timestamps 1, 0
            1, // NOP
            3, 3, 7, // window scale 7
        ];
        let c = software_checksum(A, B, &s);
        s[16..18].copy_from_slice(&c.to_be_bytes());
        s
    }

    #[test]
    fn parses_a_linux_syn() {
        let s = linux_syn();
        let (h, payload) = parse(&s).unwrap();
        assert!(payload.is_empty());
        assert_eq!((h.src_port, h.dst_port, h.seq), (50000, 80, 0x1234_5678));
        assert_eq!(h.flags, Flags::SYN);
        assert_eq!(h.window, 64240);
        assert_eq!(h.options.mss, Some(1460));
        assert_eq!(h.options.window_scale, Some(7));
        assert!(h.options.sack_permitted);
        assert_eq!(h.options.timestamps, Some((1, 0)));
        assert!(checksum_ok(A, B, &s));
    }

    #[test]
    fn a_flipped_bit_fails_the_checksum() {
        let mut s = linux_syn();
        s[5] ^= 0x10;
        assert!(!checksum_ok(A, B, &s));
    }

    #[test]
    fn unknown_options_are_skipped() {
        // Kind 30 (MPTCP) with 4 bytes, then MSS.
        let (o, _) = (parse_options(&[30, 4, 0xaa, 0xbb, 2, 4, 0x02, 0x18]).unwrap(), ());
        assert_eq!(o.mss, Some(536));
    }

    #[test]
    fn malformed_option_lengths_are_rejected() {
        for bad in [
            &[2u8, 0][..],                // length 0
            &[2, 1],                      // length below 2
            &[2, 4, 0x05],                // runs past the end
            &[2, 3, 0x05],                // MSS with the wrong length
            &[3, 4, 7, 0],                // window scale with the wrong length
            &[30],                        // kind without its length byte
            &[8, 9, 0, 0, 0, 0, 0, 0, 0], // timestamps too short
        ] {
            assert_eq!(parse_options(bad), Err(WireError::BadOption), "{bad:?}");
        }
    }

    #[test]
    fn end_of_list_stops_parsing() {
        assert_eq!(parse_options(&[0, 2, 1]).unwrap(), Options::default());
    }

    #[test]
    fn bad_data_offsets_are_rejected() {
        let mut s = linux_syn();
        s[12] = 0x40;
        assert_eq!(parse(&s).unwrap_err(), WireError::BadDataOffset);
        s[12] = 0xf0; // 60 bytes, the segment has 40
        assert_eq!(parse(&s).unwrap_err(), WireError::Truncated);
        assert_eq!(parse(&s[..19]).unwrap_err(), WireError::Truncated);
    }

    #[test]
    fn window_shift_is_clamped_to_14() {
        let o = Options { window_scale: Some(15), ..Options::default() };
        assert_eq!(o.window_shift(), Some(14));
    }

    /// What the NIC does in TSO for one cut segment: add the segment's TCP
    /// length to the seed, sum header and payload, store the complement.
    fn nic_checksum_from_tso_seed(seed: u16, segment: &mut [u8]) {
        let mut sum = u32::from(seed);
        sum = checksum::add(sum, &(segment.len() as u16).to_be_bytes());
        segment[CHECKSUM_OFFSET..CHECKSUM_OFFSET + 2].fill(0);
        let c = checksum::finish(checksum::add(sum, segment));
        segment[CHECKSUM_OFFSET..CHECKSUM_OFFSET + 2].copy_from_slice(&c.to_be_bytes());
    }

    fn header_strategy() -> impl Strategy<Value = TcpHeader> {
        let options = (
            proptest::option::of(any::<u16>()),
            proptest::option::of(any::<u8>()),
            any::<bool>(),
            proptest::option::of(any::<(u32, u32)>()),
        )
            .prop_map(|(mss, window_scale, sack_permitted, timestamps)| Options {
                mss,
                window_scale,
                sack_permitted,
                timestamps,
            });
        (any::<(u16, u16, u32, u32, u8, u16, u16, u16)>(), options).prop_map(
            |((src_port, dst_port, seq, ack, flags, window, checksum, urgent), options)| TcpHeader {
                src_port,
                dst_port,
                seq,
                ack,
                flags: Flags::from_bits_retain(flags),
                window,
                checksum,
                urgent,
                options,
            },
        )
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            let _ = parse(&bytes);
            let _ = parse_options(&bytes);
        }

        /// Arbitrary option bytes behind a valid fixed header.
        #[test]
        fn arbitrary_options_never_panic(opts in proptest::collection::vec(any::<u8>(), 0..=40)) {
            let words = opts.len().div_ceil(4);
            let mut s = vec![0u8; 20 + words * 4];
            s[12] = ((5 + words) as u8) << 4;
            s[20..20 + opts.len()].copy_from_slice(&opts);
            let _ = parse(&s);
        }

        #[test]
        fn build_then_parse_round_trips(h in header_strategy(), payload in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut buf = vec![0u8; MAX_HEADER_LEN + payload.len()];
            let n = h.write(&mut buf).unwrap();
            prop_assert_eq!(n, h.len());
            prop_assert_eq!(n % 4, 0);
            buf.truncate(n);
            buf.extend_from_slice(&payload);
            let (back, rest) = parse(&buf).unwrap();
            prop_assert_eq!(back, h);
            prop_assert_eq!(rest, &payload[..]);
        }

        /// The software checksum verifies, and the TSO seed plus what the NIC
        /// adds per segment gives the same checksum.
        #[test]
        fn tso_seed_plus_length_matches_software(h in header_strategy(), payload in proptest::collection::vec(any::<u8>(), 0..1460)) {
            let mut seg = vec![0u8; h.len()];
            h.write(&mut seg).unwrap();
            seg.extend_from_slice(&payload);
            let soft = software_checksum(A, B, &seg);
            let mut by_nic = seg.clone();
            nic_checksum_from_tso_seed(tso_seed(A, B), &mut by_nic);
            prop_assert_eq!(&by_nic[16..18], &soft.to_be_bytes()[..]);
            prop_assert!(checksum_ok(A, B, &by_nic));
            // Checksum offload of one segment: seed holds the length already.
            let mut sum = u32::from(offload_seed(A, B, seg.len() as u16));
            seg[16..18].fill(0);
            sum = checksum::add(sum, &seg);
            prop_assert_eq!(checksum::finish(sum), soft);
        }
    }
}

//! IPv4 packets as they arrive: every field checked (version, header length,
//! total length against what arrived, header checksum, fragments) before
//! anything reads past the header. The device is untrusted input, and so is
//! the peer.

use std::net::Ipv4Addr;

use super::checksum;

/// Protocol numbers.
pub const PROTO_ICMP: u8 = 1;
/// TCP.
pub const PROTO_TCP: u8 = 6;
/// UDP.
pub const PROTO_UDP: u8 = 17;
/// Header length without options.
pub const MIN_HEADER_LEN: usize = 20;

/// Why a packet was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Ipv4Error {
    /// Shorter than a header.
    #[error("shorter than an IPv4 header")]
    Truncated,
    /// Version is not 4.
    #[error("not IPv4")]
    NotIpv4,
    /// IHL under 5 words or past the packet.
    #[error("bad header length")]
    BadHeaderLength,
    /// Total length under the header or beyond what arrived.
    #[error("bad total length")]
    BadTotalLength,
    /// The header checksum does not hold.
    #[error("bad header checksum")]
    BadChecksum,
    /// A fragment (zcnic does not reassemble: its peers send whole datagrams).
    #[error("a fragment")]
    Fragment,
}

/// A checked IPv4 packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Packet<'a> {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Protocol (TCP, UDP, ICMP...).
    pub protocol: u8,
    /// Time to live.
    pub ttl: u8,
    /// Identification.
    pub id: u16,
    /// The payload, exactly as long as the total length says (Ethernet
    /// padding after it is cut off).
    pub payload: &'a [u8],
}

impl<'a> Ipv4Packet<'a> {
    /// Check and split `packet` (the bytes after the Ethernet header).
    pub fn parse(packet: &'a [u8]) -> Result<Ipv4Packet<'a>, Ipv4Error> {
        let h = packet.get(..MIN_HEADER_LEN).ok_or(Ipv4Error::Truncated)?;
        if h[0] >> 4 != 4 {
            return Err(Ipv4Error::NotIpv4);
        }
        let header_len = usize::from(h[0] & 0x0f) * 4;
        if header_len < MIN_HEADER_LEN || header_len > packet.len() {
            return Err(Ipv4Error::BadHeaderLength);
        }
        let total = usize::from(u16::from_be_bytes([h[2], h[3]]));
        if total < header_len || total > packet.len() {
            return Err(Ipv4Error::BadTotalLength);
        }
        if checksum::fold(checksum::add(0, &packet[..header_len])) != 0xffff {
            return Err(Ipv4Error::BadChecksum);
        }
        let flags_fragment = u16::from_be_bytes([h[6], h[7]]);
        // More fragments (bit 13) or a fragment offset: part of a datagram.
        if flags_fragment & 0x3fff != 0 {
            return Err(Ipv4Error::Fragment);
        }
        Ok(Ipv4Packet {
            src: Ipv4Addr::new(h[12], h[13], h[14], h[15]),
            dst: Ipv4Addr::new(h[16], h[17], h[18], h[19]),
            protocol: h[9],
            ttl: h[8],
            id: u16::from_be_bytes([h[4], h[5]]),
            payload: &packet[header_len..total],
        })
    }
}

/// Write a 20-byte IPv4 header (no options, don't fragment, TTL 64) with its
/// checksum computed, for `payload_len` bytes of `protocol`.
pub fn write_header(buf: &mut [u8], src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, payload_len: usize, id: u16) {
    let total = u16::try_from(MIN_HEADER_LEN + payload_len).expect("an IPv4 packet is under 64 KiB");
    let h = &mut buf[..MIN_HEADER_LEN];
    h[0] = 0x45;
    h[1] = 0;
    h[2..4].copy_from_slice(&total.to_be_bytes());
    h[4..6].copy_from_slice(&id.to_be_bytes());
    h[6..8].copy_from_slice(&0x4000u16.to_be_bytes());
    h[8] = 64;
    h[9] = protocol;
    h[10..12].copy_from_slice(&[0, 0]);
    h[12..16].copy_from_slice(&src.octets());
    h[16..20].copy_from_slice(&dst.octets());
    let sum = checksum::finish(checksum::add(0, h));
    h[10..12].copy_from_slice(&sum.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn packet(payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; MIN_HEADER_LEN];
        write_header(&mut p, Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 1), PROTO_TCP, payload.len(), 7);
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn a_written_header_parses_and_padding_is_cut() {
        let mut p = packet(b"hello");
        p.extend_from_slice(&[0; 10]); // Ethernet padding
        let ip = Ipv4Packet::parse(&p).unwrap();
        assert_eq!((ip.src, ip.protocol, ip.id, ip.payload), (Ipv4Addr::new(10, 0, 0, 2), PROTO_TCP, 7, &b"hello"[..]));
    }

    #[test]
    fn lies_are_refused() {
        let good = packet(b"data");
        let mut bad_sum = good.clone();
        bad_sum[15] ^= 1;
        assert_eq!(Ipv4Packet::parse(&bad_sum), Err(Ipv4Error::BadChecksum));
        let mut long = good.clone();
        long[2..4].copy_from_slice(&100u16.to_be_bytes());
        assert_eq!(Ipv4Packet::parse(&long), Err(Ipv4Error::BadTotalLength));
        let mut ihl = good.clone();
        ihl[0] = 0x4f; // 60-byte header in a 24-byte packet
        assert_eq!(Ipv4Packet::parse(&ihl), Err(Ipv4Error::BadHeaderLength));
        let mut frag = good.clone();
        frag[6] = 0x20; // more fragments
        assert!(Ipv4Packet::parse(&frag).is_err());
        assert_eq!(Ipv4Packet::parse(&good[..19]), Err(Ipv4Error::Truncated));
        let mut v6 = good;
        v6[0] = 0x65;
        assert_eq!(Ipv4Packet::parse(&v6), Err(Ipv4Error::NotIpv4));
    }

    proptest! {
        #[test]
        fn any_bytes_parse_without_panic_and_payload_stays_inside(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
            if let Ok(ip) = Ipv4Packet::parse(&bytes) {
                prop_assert!(ip.payload.len() <= bytes.len());
            }
        }
    }
}

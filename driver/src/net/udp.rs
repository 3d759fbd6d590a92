//! Ethernet + IPv4 + UDP headers for a flow of datagrams whose checksums the
//! NIC computes (TX checksum offload).
//!
//! For offload the IPv4 checksum field is left 0 and the UDP checksum field is
//! seeded with the (uncomplemented) pseudo-header sum; the NIC then sums from
//! the UDP header to the end of the frame, folds in the seed and stores the
//! complement. The CPU never reads the payload.

use std::net::{Ipv4Addr, SocketAddrV4};

use super::checksum;
use super::{ETHERTYPE_IPV4, ETH_HEADER_LEN as ETH_HEADER};
use crate::device::{ChecksumOffload, L4Protocol};
use crate::mac::MacAddress;

/// IPv4 header length (no options).
pub const IPV4_HEADER: usize = 20;
/// UDP header length.
pub const UDP_HEADER: usize = 8;
/// Ethernet + IPv4 + UDP.
pub const HEADERS_LEN: usize = ETH_HEADER + IPV4_HEADER + UDP_HEADER;
/// Largest UDP payload in a 1500-byte IP MTU.
pub const MAX_PAYLOAD: usize = 1500 - IPV4_HEADER - UDP_HEADER;

/// Byte offsets the NIC's checksum context needs.
pub mod offsets {
    use super::*;
    /// IPv4 header start.
    pub const IP_START: usize = ETH_HEADER;
    /// IPv4 checksum field.
    pub const IP_CSUM: usize = ETH_HEADER + 10;
    /// Last byte of the IPv4 header.
    pub const IP_END: usize = ETH_HEADER + IPV4_HEADER - 1;
    /// UDP header start.
    pub const UDP_START: usize = ETH_HEADER + IPV4_HEADER;
    /// UDP checksum field.
    pub const UDP_CSUM: usize = ETH_HEADER + IPV4_HEADER + 6;
}

/// One UDP flow: addresses and ports that every datagram shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpFlow {
    /// Our MAC.
    pub src_mac: MacAddress,
    /// The next hop's MAC.
    pub dst_mac: MacAddress,
    /// Our IPv4 address.
    pub src_ip: Ipv4Addr,
    /// The destination's IPv4 address.
    pub dst_ip: Ipv4Addr,
    /// Our UDP port.
    pub src_port: u16,
    /// The destination's UDP port.
    pub dst_port: u16,
}

const TTL: u8 = 64;
const PROTO_UDP: u8 = 17;
/// Don't fragment: every datagram fits the MTU.
const FLAG_DF: u16 = 0x4000;

impl UdpFlow {
    /// A flow from `src` (our address and port, sent from `src_mac`) to
    /// `dst` at `dst_mac` (the next hop: from ARP, see [`arp::resolve_mac`](super::arp::resolve_mac)).
    pub fn new(src_mac: MacAddress, src: SocketAddrV4, dst_mac: MacAddress, dst: SocketAddrV4) -> UdpFlow {
        UdpFlow { src_mac, dst_mac, src_ip: *src.ip(), dst_ip: *dst.ip(), src_port: src.port(), dst_port: dst.port() }
    }

    /// Where the NIC computes the checksums of this flow's datagrams.
    pub(crate) fn checksum_offload() -> ChecksumOffload {
        ChecksumOffload {
            ip_start: offsets::IP_START as u8,
            ip_checksum: offsets::IP_CSUM as u8,
            ip_end: offsets::IP_END as u16,
            l4_start: offsets::UDP_START as u8,
            l4_checksum: offsets::UDP_CSUM as u8,
            l4: L4Protocol::Udp,
        }
    }

    fn write_common(&self, buf: &mut [u8], payload_len: usize, ip_id: u16) {
        assert!(payload_len <= MAX_PAYLOAD, "UDP payload of {payload_len} bytes exceeds the MTU");
        let udp_len = (UDP_HEADER + payload_len) as u16;
        let ip_len = IPV4_HEADER as u16 + udp_len;
        let h = &mut buf[..HEADERS_LEN];
        h[0..6].copy_from_slice(&self.dst_mac.0);
        h[6..12].copy_from_slice(&self.src_mac.0);
        h[12..14].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        let ip = &mut h[ETH_HEADER..ETH_HEADER + IPV4_HEADER];
        ip[0] = 0x45; // version 4, 5 words
        ip[1] = 0; // DSCP/ECN
        ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
        ip[4..6].copy_from_slice(&ip_id.to_be_bytes());
        ip[6..8].copy_from_slice(&FLAG_DF.to_be_bytes());
        ip[8] = TTL;
        ip[9] = PROTO_UDP;
        ip[10..12].copy_from_slice(&[0, 0]);
        ip[12..16].copy_from_slice(&self.src_ip.octets());
        ip[16..20].copy_from_slice(&self.dst_ip.octets());
        let udp = &mut h[offsets::UDP_START..];
        udp[0..2].copy_from_slice(&self.src_port.to_be_bytes());
        udp[2..4].copy_from_slice(&self.dst_port.to_be_bytes());
        udp[4..6].copy_from_slice(&udp_len.to_be_bytes());
        udp[6..8].copy_from_slice(&[0, 0]);
    }

    fn pseudo_header_sum(&self, payload_len: usize) -> u32 {
        let udp_len = (UDP_HEADER + payload_len) as u16;
        let mut sum = checksum::add(0, &self.src_ip.octets());
        sum = checksum::add(sum, &self.dst_ip.octets());
        sum = checksum::add(sum, &[0, PROTO_UDP]);
        checksum::add(sum, &udp_len.to_be_bytes())
    }

    /// Write the 42 header bytes of a datagram with `payload_len` bytes of
    /// payload for the NIC to checksum: IPv4 checksum 0, UDP checksum seeded
    /// with the pseudo-header sum.
    pub fn write_offload_headers(&self, buf: &mut [u8], payload_len: usize, ip_id: u16) {
        self.write_common(buf, payload_len, ip_id);
        let seed = checksum::fold(self.pseudo_header_sum(payload_len));
        buf[offsets::UDP_CSUM..offsets::UDP_CSUM + 2].copy_from_slice(&seed.to_be_bytes());
    }

    /// Write headers with both checksums computed in software over `payload`
    /// (for frames the CPU builds anyway, and as the reference in tests).
    pub fn write_headers_with_checksums(&self, buf: &mut [u8], payload: &[u8], ip_id: u16) {
        self.write_common(buf, payload.len(), ip_id);
        let ip_sum = checksum::finish(checksum::add(0, &buf[offsets::IP_START..=offsets::IP_END]));
        buf[offsets::IP_CSUM..offsets::IP_CSUM + 2].copy_from_slice(&ip_sum.to_be_bytes());
        let mut sum = self.pseudo_header_sum(payload.len());
        sum = checksum::add(sum, &buf[offsets::UDP_START..HEADERS_LEN]);
        sum = checksum::add(sum, payload);
        let mut udp_sum = checksum::finish(sum);
        if udp_sum == 0 {
            udp_sum = 0xffff; // 0 would mean "no checksum"
        }
        buf[offsets::UDP_CSUM..offsets::UDP_CSUM + 2].copy_from_slice(&udp_sum.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn flow() -> UdpFlow {
        UdpFlow {
            src_mac: MacAddress([0x52, 0x54, 0, 0x12, 0x34, 0x50]),
            dst_mac: MacAddress([0x52, 0x54, 0, 0x12, 0x34, 0x51]),
            src_ip: Ipv4Addr::new(10, 0, 0, 1),
            dst_ip: Ipv4Addr::new(10, 0, 0, 2),
            src_port: 47000,
            dst_port: 9000,
        }
    }

    /// What the NIC does with an offload frame: IP checksum over the IP
    /// header, UDP checksum from the UDP header to the end including the seed.
    fn nic_inserts_checksums(frame: &mut [u8]) {
        let ip = checksum::finish(checksum::add(0, &frame[offsets::IP_START..=offsets::IP_END]));
        frame[offsets::IP_CSUM..offsets::IP_CSUM + 2].copy_from_slice(&ip.to_be_bytes());
        let udp = checksum::finish(checksum::add(0, &frame[offsets::UDP_START..]));
        frame[offsets::UDP_CSUM..offsets::UDP_CSUM + 2].copy_from_slice(&udp.to_be_bytes());
    }

    fn verifies(frame: &[u8]) -> bool {
        let ip_ok = checksum::fold(checksum::add(0, &frame[offsets::IP_START..=offsets::IP_END])) == 0xffff;
        let udp_len = frame.len() - offsets::UDP_START;
        let f = flow();
        let sum = f.pseudo_header_sum(udp_len - UDP_HEADER);
        let udp_ok = checksum::fold(checksum::add(sum, &frame[offsets::UDP_START..])) == 0xffff;
        ip_ok && udp_ok
    }

    #[test]
    fn header_fields_are_where_the_rfcs_put_them() {
        let mut buf = [0u8; HEADERS_LEN];
        flow().write_offload_headers(&mut buf, 1472, 7);
        assert_eq!(&buf[12..14], &[0x08, 0x00]);
        assert_eq!(buf[14], 0x45);
        assert_eq!(u16::from_be_bytes([buf[16], buf[17]]), 1500, "IP total length");
        assert_eq!(u16::from_be_bytes([buf[18], buf[19]]), 7, "IP id");
        assert_eq!(buf[23], 17, "protocol UDP");
        assert_eq!(&buf[26..30], &[10, 0, 0, 1]);
        assert_eq!(u16::from_be_bytes([buf[34], buf[35]]), 47000);
        assert_eq!(u16::from_be_bytes([buf[36], buf[37]]), 9000);
        assert_eq!(u16::from_be_bytes([buf[38], buf[39]]), 1480, "UDP length");
        assert_eq!(&buf[24..26], &[0, 0], "IP checksum left for the NIC");
    }

    proptest! {
        /// The offload seed plus what the NIC computes gives the same, valid
        /// checksums as computing everything in software.
        #[test]
        fn offload_matches_software_checksums(payload in proptest::collection::vec(any::<u8>(), 0..=MAX_PAYLOAD), id in any::<u16>()) {
            let mut offload = vec![0u8; HEADERS_LEN + payload.len()];
            flow().write_offload_headers(&mut offload, payload.len(), id);
            offload[HEADERS_LEN..].copy_from_slice(&payload);
            nic_inserts_checksums(&mut offload);
            prop_assert!(verifies(&offload));

            let mut soft = vec![0u8; HEADERS_LEN + payload.len()];
            flow().write_headers_with_checksums(&mut soft, &payload, id);
            soft[HEADERS_LEN..].copy_from_slice(&payload);
            prop_assert!(verifies(&soft));
            // Identical unless the UDP sum came out 0 (software sends 0xffff, the NIC 0).
            if offload[offsets::UDP_CSUM..offsets::UDP_CSUM + 2] != [0, 0] {
                prop_assert_eq!(offload, soft);
            }
        }
    }
}

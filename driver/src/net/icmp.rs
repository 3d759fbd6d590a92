//! ICMP echo: answering ping for the address zcnic owns.

use std::net::Ipv4Addr;

use super::ethernet::{write_header as write_ethernet, EthernetFrame};
use super::ipv4::{self, Ipv4Packet, PROTO_ICMP};
use super::{checksum, ETHERTYPE_IPV4, ETH_HEADER_LEN};
use crate::mac::MacAddress;

const ECHO_REPLY: u8 = 0;
const ECHO_REQUEST: u8 = 8;
/// ICMP header: type, code, checksum, identifier, sequence.
const ICMP_HEADER_LEN: usize = 8;

/// If `frame` is an echo request to `our_ip` (all checksums good), write the
/// reply into `out` and return its length. The reply carries the request's
/// identifier, sequence and data (up to what fits in `out`: the data is
/// small, this copy is not file payload).
pub fn echo_reply(frame: &[u8], our_mac: MacAddress, our_ip: Ipv4Addr, out: &mut [u8]) -> Option<usize> {
    let eth = EthernetFrame::parse(frame)?;
    if eth.ethertype != ETHERTYPE_IPV4 || !eth.is_for(our_mac) {
        return None;
    }
    let ip = Ipv4Packet::parse(eth.payload).ok()?;
    let icmp = ip.payload;
    if ip.dst != our_ip || ip.protocol != PROTO_ICMP || icmp.len() < ICMP_HEADER_LEN {
        return None;
    }
    if icmp[0] != ECHO_REQUEST || icmp[1] != 0 || checksum::fold(checksum::add(0, icmp)) != 0xffff {
        return None;
    }
    let len = ETH_HEADER_LEN + ipv4::MIN_HEADER_LEN + icmp.len();
    let out = out.get_mut(..len)?;
    write_ethernet(out, eth.src, our_mac, ETHERTYPE_IPV4);
    ipv4::write_header(&mut out[ETH_HEADER_LEN..], our_ip, ip.src, PROTO_ICMP, icmp.len(), ip.id);
    let reply = &mut out[ETH_HEADER_LEN + ipv4::MIN_HEADER_LEN..];
    reply.copy_from_slice(icmp);
    reply[0] = ECHO_REPLY;
    reply[2..4].copy_from_slice(&[0, 0]);
    let sum = checksum::finish(checksum::add(0, reply));
    reply[2..4].copy_from_slice(&sum.to_be_bytes());
    Some(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const US: MacAddress = MacAddress([0x52, 0x54, 0, 0x12, 0x34, 0x50]);
    const THEM: MacAddress = MacAddress([0x52, 0x54, 0, 0x12, 0x34, 0x51]);

    fn request(data: &[u8]) -> Vec<u8> {
        let mut icmp = vec![ECHO_REQUEST, 0, 0, 0, 0x12, 0x34, 0, 1];
        icmp.extend_from_slice(data);
        let sum = checksum::finish(checksum::add(0, &icmp));
        icmp[2..4].copy_from_slice(&sum.to_be_bytes());
        let mut f = vec![0u8; ETH_HEADER_LEN + ipv4::MIN_HEADER_LEN];
        write_ethernet(&mut f, US, THEM, ETHERTYPE_IPV4);
        ipv4::write_header(
            &mut f[ETH_HEADER_LEN..],
            Ipv4Addr::new(10, 0, 0, 2),
            Ipv4Addr::new(10, 0, 0, 1),
            PROTO_ICMP,
            icmp.len(),
            9,
        );
        f.extend_from_slice(&icmp);
        f
    }

    #[test]
    fn a_ping_gets_its_reply_with_valid_checksums() {
        let mut out = [0u8; 1514];
        let n = echo_reply(&request(b"abcdefgh"), US, Ipv4Addr::new(10, 0, 0, 1), &mut out).unwrap();
        let eth = EthernetFrame::parse(&out[..n]).unwrap();
        assert_eq!((eth.dst, eth.src), (THEM, US));
        let ip = Ipv4Packet::parse(eth.payload).unwrap();
        assert_eq!((ip.src, ip.dst), (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)));
        assert_eq!(ip.payload[0], ECHO_REPLY);
        assert_eq!(checksum::fold(checksum::add(0, ip.payload)), 0xffff);
        assert_eq!(&ip.payload[4..], &[0x12, 0x34, 0, 1, b'a', b'b', b'c', b'd', b'e', b'f', b'g', b'h']);
    }

    #[test]
    fn other_addresses_and_bad_checksums_get_nothing() {
        let mut out = [0u8; 1514];
        assert!(echo_reply(&request(b"x"), US, Ipv4Addr::new(10, 0, 0, 9), &mut out).is_none());
        let mut bad = request(b"xy");
        let last = bad.len() - 1;
        bad[last] ^= 0xff;
        assert!(echo_reply(&bad, US, Ipv4Addr::new(10, 0, 0, 1), &mut out).is_none());
    }

    proptest! {
        #[test]
        fn any_bytes_get_no_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut out = [0u8; 1514];
            let _ = echo_reply(&bytes, US, Ipv4Addr::new(10, 0, 0, 1), &mut out);
        }
    }
}

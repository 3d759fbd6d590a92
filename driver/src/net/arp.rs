//! ARP for IPv4 over Ethernet (RFC 826): a request to learn a neighbour's MAC,
//! recognising its reply, and the resolver that sends one and waits.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use super::{ETHERTYPE_ARP, ETHERTYPE_IPV4, ETH_HEADER_LEN as ETH_HEADER};
use crate::device::Nic;
use crate::error::Error;
use crate::mac::MacAddress;

/// ARP request frame length before padding (Ethernet header + 28 bytes).
pub const ARP_FRAME_LEN: usize = ETH_HEADER + 28;
const OP_REQUEST: u16 = 1;
const OP_REPLY: u16 = 2;

/// Build a broadcast "who has `target_ip`? tell `src_ip`" into `buf`; returns its length.
pub fn write_request(buf: &mut [u8], src_mac: MacAddress, src_ip: Ipv4Addr, target_ip: Ipv4Addr) -> usize {
    let f = &mut buf[..ARP_FRAME_LEN];
    f[0..6].copy_from_slice(&MacAddress::BROADCAST.0);
    f[6..12].copy_from_slice(&src_mac.0);
    f[12..14].copy_from_slice(&ETHERTYPE_ARP.to_be_bytes());
    let a = &mut f[ETH_HEADER..];
    a[0..2].copy_from_slice(&1u16.to_be_bytes()); // hardware type: Ethernet
    a[2..4].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
    a[4] = 6;
    a[5] = 4;
    a[6..8].copy_from_slice(&OP_REQUEST.to_be_bytes());
    a[8..14].copy_from_slice(&src_mac.0);
    a[14..18].copy_from_slice(&src_ip.octets());
    a[18..24].copy_from_slice(&[0; 6]);
    a[24..28].copy_from_slice(&target_ip.octets());
    ARP_FRAME_LEN
}

/// If `frame` is an ARP reply from `target_ip` to us, the MAC it announces.
/// Everything is checked; anything else gives `None`.
pub fn parse_reply(frame: &[u8], our_ip: Ipv4Addr, target_ip: Ipv4Addr) -> Option<MacAddress> {
    let (mac, ip) = parse_ipv4_arp(frame, OP_REPLY, our_ip)?;
    (ip == target_ip).then_some(mac)
}

/// If `frame` is an ARP request for `our_ip`, who asked: (their MAC, their IP).
pub fn parse_request(frame: &[u8], our_ip: Ipv4Addr) -> Option<(MacAddress, Ipv4Addr)> {
    parse_ipv4_arp(frame, OP_REQUEST, our_ip)
}

/// The sender (MAC, IP) of an Ethernet/IPv4 ARP packet with opcode `op` whose
/// target IP is `our_ip`, if the sender's MAC is a valid unicast address.
fn parse_ipv4_arp(frame: &[u8], op: u16, our_ip: Ipv4Addr) -> Option<(MacAddress, Ipv4Addr)> {
    if frame.len() < ARP_FRAME_LEN || frame[12..14] != ETHERTYPE_ARP.to_be_bytes() {
        return None;
    }
    let a = &frame[ETH_HEADER..ARP_FRAME_LEN];
    let ok = a[0..2] == [0, 1]
        && a[2..4] == ETHERTYPE_IPV4.to_be_bytes()
        && a[4] == 6
        && a[5] == 4
        && a[6..8] == op.to_be_bytes()
        && a[24..28] == our_ip.octets();
    let mac = MacAddress(a[8..14].try_into().ok()?);
    let ip = Ipv4Addr::new(a[14], a[15], a[16], a[17]);
    (ok && mac.is_valid_unicast()).then_some((mac, ip))
}

/// Write "`our_ip` is at `our_mac`" to `to_mac`/`to_ip` into `buf`; returns its length.
pub fn write_reply(
    buf: &mut [u8],
    our_mac: MacAddress,
    our_ip: Ipv4Addr,
    to_mac: MacAddress,
    to_ip: Ipv4Addr,
) -> usize {
    let f = &mut buf[..ARP_FRAME_LEN];
    f[0..6].copy_from_slice(&to_mac.0);
    f[6..12].copy_from_slice(&our_mac.0);
    f[12..14].copy_from_slice(&ETHERTYPE_ARP.to_be_bytes());
    let a = &mut f[ETH_HEADER..];
    a[0..2].copy_from_slice(&1u16.to_be_bytes());
    a[2..4].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
    a[4] = 6;
    a[5] = 4;
    a[6..8].copy_from_slice(&OP_REPLY.to_be_bytes());
    a[8..14].copy_from_slice(&our_mac.0);
    a[14..18].copy_from_slice(&our_ip.octets());
    a[18..24].copy_from_slice(&to_mac.0);
    a[24..28].copy_from_slice(&to_ip.octets());
    ARP_FRAME_LEN
}

/// Learn `dst_ip`'s MAC with ARP: broadcast a request from `src_ip`, wait
/// `per_try` for the reply, up to `tries` times. Frames other than the reply
/// that arrive meanwhile are discarded. Honours the NIC's stop flag.
pub fn resolve_mac(
    nic: &mut Nic,
    src_ip: Ipv4Addr,
    dst_ip: Ipv4Addr,
    tries: u32,
    per_try: Duration,
) -> Result<MacAddress, Error> {
    let start = Instant::now();
    let mac = nic.mac();
    for attempt in 1..=tries {
        {
            let mut batch = nic.tx_batch()?;
            let buf = batch.frame_buffer().ok_or(Error::TxRingFull)?;
            let n = write_request(buf, mac, src_ip, dst_ip);
            batch.push(n)?;
            batch.send()?;
        }
        log::debug!("ARP: who has {dst_ip}? tell {src_ip} (try {attempt} of {tries})");
        let deadline = Instant::now() + per_try;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || !nic.wait_rx(left)? {
                break;
            }
            let mut found = None;
            nic.rx_burst(64, |frame| found = found.or_else(|| parse_reply(frame, src_ip, dst_ip)));
            if let Some(m) = found {
                log::info!("ARP: {dst_ip} is at {m}");
                return Ok(m);
            }
        }
    }
    Err(Error::ArpNoReply { ip: dst_ip, tries, secs: start.elapsed().as_secs_f64() })
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: MacAddress = MacAddress([0x52, 0x54, 0, 0x12, 0x34, 0x50]);
    const THEM: MacAddress = MacAddress([0x52, 0x54, 0, 0x12, 0x34, 0x51]);

    fn reply(from_ip: [u8; 4], to_ip: [u8; 4], op: u16) -> Vec<u8> {
        let mut f = vec![0u8; 60];
        f[0..6].copy_from_slice(&US.0);
        f[6..12].copy_from_slice(&THEM.0);
        f[12..14].copy_from_slice(&[0x08, 0x06]);
        f[14..22].copy_from_slice(&[0, 1, 8, 0, 6, 4, 0, op as u8]);
        f[22..28].copy_from_slice(&THEM.0);
        f[28..32].copy_from_slice(&from_ip);
        f[32..38].copy_from_slice(&US.0);
        f[38..42].copy_from_slice(&to_ip);
        f
    }

    #[test]
    fn request_layout() {
        let mut buf = [0u8; 64];
        let n = write_request(&mut buf, US, Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(n, 42);
        assert_eq!(&buf[0..6], &[0xff; 6]);
        assert_eq!(&buf[12..22], &[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]);
        assert_eq!(&buf[38..42], &[10, 0, 0, 2]);
    }

    #[test]
    fn a_request_for_us_is_answered_and_the_answer_parses_as_a_reply() {
        let (us, them) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
        let mut req = [0u8; 64];
        write_request(&mut req, THEM, them, us);
        assert_eq!(parse_request(&req, us), Some((THEM, them)));
        assert_eq!(parse_request(&req, Ipv4Addr::new(10, 0, 0, 7)), None, "not for us");
        let mut rep = [0u8; 64];
        let n = write_reply(&mut rep, US, us, THEM, them);
        assert_eq!(parse_reply(&rep[..n], them, us), Some(US));
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_parse_without_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80)) {
            let _ = parse_request(&bytes, Ipv4Addr::new(10, 0, 0, 1));
            let _ = parse_reply(&bytes, Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
        }
    }

    #[test]
    fn only_the_right_reply_is_taken() {
        let (us, them) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(parse_reply(&reply([10, 0, 0, 2], [10, 0, 0, 1], 2), us, them), Some(THEM));
        assert_eq!(parse_reply(&reply([10, 0, 0, 3], [10, 0, 0, 1], 2), us, them), None, "other sender");
        assert_eq!(parse_reply(&reply([10, 0, 0, 2], [10, 0, 0, 9], 2), us, them), None, "not for us");
        assert_eq!(parse_reply(&reply([10, 0, 0, 2], [10, 0, 0, 1], 1), us, them), None, "a request");
        assert_eq!(parse_reply(&reply([10, 0, 0, 2], [10, 0, 0, 1], 2)[..41], us, them), None, "truncated");
    }
}

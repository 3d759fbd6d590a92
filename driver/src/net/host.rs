//! One IPv4 address owned by zcnic on a NIC: the link-level duties every
//! host has (answering ARP for its address, answering ping), done for the
//! caller, who gets what is left: IPv4 packets for it of the protocols it
//! serves (TCP for `zcnic serve`).

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use super::arp;
use super::ethernet::EthernetFrame;
use super::icmp;
use super::ipv4::{Ipv4Packet, PROTO_ICMP};
use super::{ETHERTYPE_ARP, ETHERTYPE_IPV4};
use crate::device::{Nic, MAX_FRAME_LEN};
use crate::error::Error;
use crate::mac::MacAddress;

/// What the host did with the frames it saw (counted by the driver).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostStats {
    /// ARP requests for our address answered.
    pub arp_replies: u64,
    /// Ping requests answered.
    pub echo_replies: u64,
    /// Frames not for us (another MAC or IP), or of a kind we do not serve.
    pub ignored: u64,
    /// IPv4 packets refused by the checks (lengths, checksum, fragments).
    pub malformed: u64,
    /// Packets handed to the caller.
    pub delivered: u64,
}

/// An IPv4 packet for us, of a protocol the caller serves.
#[derive(Debug, Clone, Copy)]
pub struct Inbound<'a> {
    /// The sender's MAC (the next hop back).
    pub src_mac: MacAddress,
    /// The checked packet.
    pub packet: Ipv4Packet<'a>,
}

/// An address on a NIC.
#[derive(Debug)]
pub struct Host {
    mac: MacAddress,
    ip: Ipv4Addr,
    /// Neighbours learned from the ARP requests and packets they sent us.
    neighbours: HashMap<Ipv4Addr, MacAddress>,
    stats: HostStats,
    /// Replies waiting to be sent (ARP, ICMP): built while the NIC's receive
    /// buffers are borrowed, sent after.
    pending: Vec<Vec<u8>>,
}

impl Host {
    /// The host `ip` on a NIC whose station address is `mac`.
    pub fn new(mac: MacAddress, ip: Ipv4Addr) -> Host {
        Host { mac, ip, neighbours: HashMap::new(), stats: HostStats::default(), pending: Vec::new() }
    }

    /// Our address.
    pub fn ip(&self) -> Ipv4Addr {
        self.ip
    }

    /// What it did so far.
    pub fn stats(&self) -> HostStats {
        self.stats
    }

    /// The MAC of neighbour `ip`, if it has talked to us.
    pub fn neighbour(&self, ip: Ipv4Addr) -> Option<MacAddress> {
        self.neighbours.get(&ip).copied()
    }

    /// Look at one received frame: answer it if it is ARP or ping for us
    /// (the reply is queued), hand it back if it is IPv4 for us of one of
    /// `protocols`, ignore it otherwise.
    pub fn accept<'f>(&mut self, frame: &'f [u8], protocols: &[u8]) -> Option<Inbound<'f>> {
        let Some(eth) = EthernetFrame::parse(frame) else {
            self.stats.malformed += 1;
            return None;
        };
        if !eth.is_for(self.mac) {
            self.stats.ignored += 1;
            return None;
        }
        match eth.ethertype {
            ETHERTYPE_ARP => {
                if let Some((mac, ip)) = arp::parse_request(frame, self.ip) {
                    self.neighbours.insert(ip, mac);
                    let mut reply = vec![0u8; arp::ARP_FRAME_LEN];
                    arp::write_reply(&mut reply, self.mac, self.ip, mac, ip);
                    self.pending.push(reply);
                    self.stats.arp_replies += 1;
                } else {
                    self.stats.ignored += 1;
                }
                None
            }
            ETHERTYPE_IPV4 => {
                let Ok(packet) = Ipv4Packet::parse(eth.payload) else {
                    self.stats.malformed += 1;
                    return None;
                };
                if packet.dst != self.ip {
                    self.stats.ignored += 1;
                    return None;
                }
                self.neighbours.insert(packet.src, eth.src);
                if packet.protocol == PROTO_ICMP {
                    let mut reply = vec![0u8; MAX_FRAME_LEN];
                    match icmp::echo_reply(frame, self.mac, self.ip, &mut reply) {
                        Some(n) => {
                            reply.truncate(n);
                            self.pending.push(reply);
                            self.stats.echo_replies += 1;
                        }
                        None => self.stats.ignored += 1,
                    }
                    return None;
                }
                if !protocols.contains(&packet.protocol) {
                    self.stats.ignored += 1;
                    return None;
                }
                self.stats.delivered += 1;
                Some(Inbound { src_mac: eth.src, packet })
            }
            _ => {
                self.stats.ignored += 1;
                None
            }
        }
    }

    /// Send the queued replies (small control frames, copied into the NIC's
    /// buffers) with one doorbell.
    pub fn flush(&mut self, nic: &mut Nic) -> Result<(), Error> {
        if self.pending.is_empty() {
            return Ok(());
        }
        nic.wait_tx_room(Duration::from_secs(1))?;
        let mut batch = nic.tx_batch()?;
        for reply in self.pending.drain(..) {
            if batch.room() == 0 {
                log::warn!("TX ring full: a control reply was dropped");
                continue;
            }
            batch.push_copy(&reply)?;
        }
        batch.send()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const US: MacAddress = MacAddress([0x52, 0x54, 0, 0x12, 0x34, 0x50]);
    const THEM: MacAddress = MacAddress([0x52, 0x54, 0, 0x12, 0x34, 0x51]);

    #[test]
    fn arp_for_us_is_answered_and_the_neighbour_learned() {
        let mut host = Host::new(US, Ipv4Addr::new(10, 0, 0, 1));
        let mut req = [0u8; 60];
        arp::write_request(&mut req, THEM, Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 1));
        assert!(host.accept(&req, &[6]).is_none());
        assert_eq!(host.stats().arp_replies, 1);
        assert_eq!(host.neighbour(Ipv4Addr::new(10, 0, 0, 2)), Some(THEM));
        assert_eq!(
            arp::parse_reply(&host.pending[0], Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 1)),
            Some(US)
        );
        let mut other = [0u8; 60];
        arp::write_request(&mut other, THEM, Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 9));
        assert!(host.accept(&other, &[6]).is_none());
        assert_eq!(host.stats().arp_replies, 1, "not our address");
    }

    proptest! {
        #[test]
        fn any_bytes_are_handled_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut host = Host::new(US, Ipv4Addr::new(10, 0, 0, 1));
            let _ = host.accept(&bytes, &[6]);
        }
    }
}

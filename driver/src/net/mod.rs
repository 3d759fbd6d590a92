//! The network layer: wire formats zcnic writes and reads (Ethernet, ARP,
//! IPv4, ICMP, UDP, TCP), the TCP protocol logic, and the two pieces that run
//! over a NIC's queues: the ARP resolver and [`host::Host`] (an address that
//! answers ARP and ping).
//!
//! Header code is pure byte layout, built into or parsed from slices; TCP is
//! pure logic (no I/O, no clock); only [`arp::resolve_mac`] and
//! [`host::Host::flush`] talk to a [`Nic`](crate::Nic).

pub mod arp;
pub(crate) mod checksum;
pub mod ethernet;
pub mod host;
pub mod icmp;
pub mod ipv4;
pub mod tcp;
pub mod udp;

pub use crate::device::ETH_HEADER_LEN;

/// EtherType of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType of ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;

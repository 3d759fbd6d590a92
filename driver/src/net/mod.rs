//! The network layer: wire formats zcnic writes and reads (Ethernet, ARP,
//! IPv4, UDP, TCP), TCP's protocol logic and the ARP resolver that runs
//! over a NIC's queues.
//!
//! Header code is pure byte layout, built into or parsed from slices, and
//! [`tcp`] is pure logic; only [`arp::resolve_mac`] talks to a
//! [`Nic`](crate::Nic).

pub mod arp;
pub(crate) mod checksum;
pub mod tcp;
pub mod udp;

pub use crate::device::ETH_HEADER_LEN;

/// EtherType of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType of ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;

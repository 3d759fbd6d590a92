//! Wire formats zcnic writes and reads: Ethernet, ARP, IPv4, UDP. Pure byte
//! layout code, no I/O; each format is built into or parsed from a slice.

pub mod arp;
pub mod checksum;
pub mod udp;

/// EtherType of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType of ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// Ethernet header length.
pub const ETH_HEADER: usize = 14;

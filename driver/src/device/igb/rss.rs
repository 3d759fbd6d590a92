//! Receive-side scaling: the NIC hashes each received IPv4 frame's addresses
//! (and TCP or UDP ports) with the Toeplitz function under a 40-byte key, and
//! the hash's low seven bits pick an entry of a 128-entry redirection table,
//! which names the RX queue. zcnic spreads the table round-robin over its
//! queues and draws the key at random (a known key lets a peer aim every flow
//! at one queue).
//!
//! The NIC's verdict is checked, not trusted: for every hashed frame the
//! driver recomputes the hash from the header fields the NIC hashed and the
//! queue the table gives, and counts disagreements.

use zcnic_ring::RssType;

use super::regs;
use crate::device::register::{RegisterIo, Registers};

/// Entries in the redirection table.
pub(crate) const RETA_ENTRIES: usize = 128;

/// The key and table one NIC was programmed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RssConfig {
    pub(crate) key: [u8; 40],
    pub(crate) table: [u8; RETA_ENTRIES],
}

impl RssConfig {
    /// A random key (from the kernel's pool; the clock if there is none) and
    /// a table cycling through `queues`.
    pub(crate) fn new(queues: u32) -> RssConfig {
        let mut key = [0u8; 40];
        crate::sys::host::random_bytes(&mut key, "the RSS key");
        let mut table = [0u8; RETA_ENTRIES];
        for (i, entry) in table.iter_mut().enumerate() {
            *entry = (i as u32 % queues.max(1)) as u8;
        }
        RssConfig { key, table }
    }

    /// The queue the NIC must pick for `hash`.
    pub(crate) fn queue_for(&self, hash: u32) -> u32 {
        u32::from(self.table[(hash & 0x7f) as usize])
    }
}

/// Program the key and table, and turn RSS on for IPv4, TCP/IPv4 and
/// UDP/IPv4 (the hash goes into the descriptors: RXCSUM.PCSD).
pub(crate) fn program<R: RegisterIo + ?Sized>(regs: &R, rss: &RssConfig) {
    for (i, chunk) in rss.key.chunks_exact(4).enumerate() {
        regs.write(regs::RSSRK.at(i as u32), u32::from_le_bytes(chunk.try_into().expect("4 bytes")));
    }
    for (i, chunk) in rss.table.chunks_exact(4).enumerate() {
        regs.write(regs::RETA.at(i as u32), u32::from_le_bytes(chunk.try_into().expect("4 bytes")));
    }
    regs.write(regs::MRQC, regs::MRQC_RSS | regs::MRQC_HASH_IPV4);
}

/// RSS off: every frame to queue 0.
pub(crate) fn disable<R: RegisterIo + ?Sized>(regs: &R) {
    regs.write(regs::MRQC, 0);
}

/// The Toeplitz hash of `input` under `key` (the RSS specification's
/// function: for every set input bit, XOR in the 32 key bits starting there).
pub(crate) fn toeplitz(key: &[u8; 40], input: &[u8]) -> u32 {
    let mut hash = 0u32;
    let mut window = u32::from_be_bytes([key[0], key[1], key[2], key[3]]);
    for (i, byte) in input.iter().enumerate() {
        let next = key.get(i + 4).copied().unwrap_or(0);
        for bit in 0..8 {
            if byte & (0x80 >> bit) != 0 {
                hash ^= window;
            }
            window = (window << 1) | u32::from(next >> (7 - bit) & 1);
        }
    }
    hash
}

/// The hash the NIC computes for a TCP or UDP datagram over IPv4 from
/// `src` to `dst` (addresses and ports as they appear in the datagram).
pub(crate) fn hash_l4(key: &[u8; 40], src: std::net::SocketAddrV4, dst: std::net::SocketAddrV4) -> u32 {
    let mut input = Vec::with_capacity(12);
    input.extend_from_slice(&src.ip().octets());
    input.extend_from_slice(&dst.ip().octets());
    input.extend_from_slice(&src.port().to_be_bytes());
    input.extend_from_slice(&dst.port().to_be_bytes());
    toeplitz(key, &input)
}

/// What the NIC should have computed for `frame` as it arrived: the hash
/// type and value, from the IPv4 addresses and, for an unfragmented TCP or
/// UDP datagram, the ports. `None` for what it does not hash (non-IPv4).
pub(crate) fn expected(key: &[u8; 40], frame: &[u8]) -> Option<(RssType, u32)> {
    let ip = frame.get(14..)?;
    if frame.get(12..14)? != [0x08, 0x00] || ip.len() < 20 || ip[0] >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let fragmented = u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff != 0;
    let mut input = ip[12..20].to_vec();
    let ports = ip.get(ihl..ihl + 4).filter(|_| ihl >= 20 && !fragmented);
    let kind = match (ip[9], ports) {
        (6, Some(p)) => {
            input.extend_from_slice(p);
            RssType::TcpIpv4
        }
        (17, Some(p)) => {
            input.extend_from_slice(p);
            RssType::UdpIpv4
        }
        _ => RssType::Ipv4,
    };
    Some((kind, toeplitz(key, &input)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key of the RSS specification's verification suite.
    const SPEC_KEY: [u8; 40] = [
        0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0, 0xd0, 0xca,
        0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b,
        0xbe, 0xac, 0x01, 0xfa,
    ];

    fn input(src: [u8; 4], dst: [u8; 4], ports: Option<(u16, u16)>) -> Vec<u8> {
        let mut v = [src, dst].concat();
        if let Some((s, d)) = ports {
            v.extend_from_slice(&s.to_be_bytes());
            v.extend_from_slice(&d.to_be_bytes());
        }
        v
    }

    #[test]
    fn toeplitz_matches_the_specifications_verification_suite() {
        // (source, destination, IPv4 hash, TCP/IPv4 hash)
        let cases = [
            ([66, 9, 149, 187], 2794, [161, 142, 100, 80], 1766, 0x323e_8fc2, 0x51cc_c178),
            ([199, 92, 111, 2], 14230, [65, 69, 140, 83], 4739, 0xd718_262a, 0xc626_b0ea),
            ([24, 19, 198, 95], 12898, [12, 22, 207, 184], 38024, 0xd2d0_a5de, 0x5c2b_394a),
            ([38, 27, 205, 30], 48228, [209, 142, 163, 6], 2217, 0x8298_9176, 0xafc7_327f),
            ([153, 39, 163, 191], 44251, [202, 188, 127, 2], 1303, 0x5d18_09c5, 0x10e8_28a2),
        ];
        for (src, sport, dst, dport, ip_hash, tcp_hash) in cases {
            assert_eq!(toeplitz(&SPEC_KEY, &input(src, dst, None)), ip_hash, "{src:?} -> {dst:?}");
            assert_eq!(toeplitz(&SPEC_KEY, &input(src, dst, Some((sport, dport)))), tcp_hash, "{src:?}:{sport}");
            let (s, d) =
                (std::net::SocketAddrV4::new(src.into(), sport), std::net::SocketAddrV4::new(dst.into(), dport));
            assert_eq!(hash_l4(&SPEC_KEY, s, d), tcp_hash);
        }
    }

    fn frame(proto: u8, flags_frag: u16) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20 + 8];
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f[14] = 0x45;
        f[14 + 6..14 + 8].copy_from_slice(&flags_frag.to_be_bytes());
        f[14 + 9] = proto;
        f[14 + 12..14 + 16].copy_from_slice(&[66, 9, 149, 187]);
        f[14 + 16..14 + 20].copy_from_slice(&[161, 142, 100, 80]);
        f[34..36].copy_from_slice(&2794u16.to_be_bytes());
        f[36..38].copy_from_slice(&1766u16.to_be_bytes());
        f
    }

    #[test]
    fn the_expected_hash_takes_ports_only_from_whole_tcp_and_udp_datagrams() {
        assert_eq!(expected(&SPEC_KEY, &frame(6, 0)), Some((RssType::TcpIpv4, 0x51cc_c178)));
        assert_eq!(expected(&SPEC_KEY, &frame(17, 0)), Some((RssType::UdpIpv4, 0x51cc_c178)));
        assert_eq!(expected(&SPEC_KEY, &frame(1, 0)), Some((RssType::Ipv4, 0x323e_8fc2)));
        assert_eq!(expected(&SPEC_KEY, &frame(6, 0x2000)), Some((RssType::Ipv4, 0x323e_8fc2)), "a fragment");
        let mut arp = frame(6, 0);
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(expected(&SPEC_KEY, &arp), None);
        assert_eq!(expected(&SPEC_KEY, &[0u8; 20]), None, "too short");
    }

    #[test]
    fn the_table_cycles_through_the_queues_and_the_hash_picks_by_its_low_bits() {
        let rss = RssConfig::new(3);
        assert_eq!(&rss.table[..6], &[0, 1, 2, 0, 1, 2]);
        assert_eq!(rss.queue_for(0x80 + 4), 1, "only the low seven bits count");
        assert_ne!(RssConfig::new(2).key, RssConfig::new(2).key, "keys are drawn at random");
    }
}

//! Ethernet II frames: the 14-byte header every frame starts with.

use crate::device::ETH_HEADER_LEN;
use crate::mac::MacAddress;

/// A received frame's header fields and its payload, bound-checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthernetFrame<'a> {
    /// Destination address.
    pub dst: MacAddress,
    /// Source address.
    pub src: MacAddress,
    /// EtherType (0x0800 IPv4, 0x0806 ARP, 0x8100 a VLAN tag...).
    pub ethertype: u16,
    /// Everything after the header (the NIC strips the FCS).
    pub payload: &'a [u8],
}

impl<'a> EthernetFrame<'a> {
    /// The frame's header, or `None` if it is shorter than one.
    pub fn parse(frame: &'a [u8]) -> Option<EthernetFrame<'a>> {
        let header = frame.get(..ETH_HEADER_LEN)?;
        Some(EthernetFrame {
            dst: MacAddress(header[0..6].try_into().ok()?),
            src: MacAddress(header[6..12].try_into().ok()?),
            ethertype: u16::from_be_bytes([header[12], header[13]]),
            payload: &frame[ETH_HEADER_LEN..],
        })
    }

    /// Whether it is addressed to `mac` or to everyone.
    pub fn is_for(&self, mac: MacAddress) -> bool {
        self.dst == mac || self.dst == MacAddress::BROADCAST
    }
}

/// Write an Ethernet header into the first 14 bytes of `buf`.
pub fn write_header(buf: &mut [u8], dst: MacAddress, src: MacAddress, ethertype: u16) {
    let h = &mut buf[..ETH_HEADER_LEN];
    h[0..6].copy_from_slice(&dst.0);
    h[6..12].copy_from_slice(&src.0);
    h[12..14].copy_from_slice(&ethertype.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn header_round_trips() {
        let mut buf = [0u8; 20];
        let (a, b) = (MacAddress([2, 0, 0, 0, 0, 1]), MacAddress([2, 0, 0, 0, 0, 2]));
        write_header(&mut buf, a, b, 0x0800);
        let f = EthernetFrame::parse(&buf).unwrap();
        assert_eq!((f.dst, f.src, f.ethertype, f.payload.len()), (a, b, 0x0800, 6));
        assert!(f.is_for(a) && !f.is_for(b));
        assert!(EthernetFrame::parse(&buf[..13]).is_none());
    }

    proptest! {
        #[test]
        fn any_bytes_parse_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = EthernetFrame::parse(&bytes);
        }
    }
}

//! What a connection asks the caller to transmit: a header's fields and a
//! range of the send stream, never the bytes themselves.

use std::ops::Range;

use super::wire::{Flags, Options, TcpHeader};

/// One segment (or, with `tso`, one TSO send the NIC cuts into segments of
/// `mss` payload bytes) for the caller to build and transmit.
///
/// The payload is `payload`, a range of stream offsets: the caller maps it
/// to its header buffers and file pages. The checksum is left to the NIC
/// (or to [`wire::software_checksum`](super::wire::software_checksum)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutSegment {
    /// Our port.
    pub src_port: u16,
    /// The peer's port.
    pub dst_port: u16,
    /// Sequence number of the first byte (of the SYN, the payload or FIN).
    pub seq: u32,
    /// Acknowledgment number (meaningful with [`Flags::ACK`]).
    pub ack: u32,
    /// Control bits. On a TSO send the NIC puts FIN and PSH on the last cut
    /// segment only.
    pub flags: Flags,
    /// Window field, already scaled down.
    pub window: u16,
    /// Options (only SYNs carry any).
    pub options: Options,
    /// Stream offsets of the payload; empty for control segments.
    pub payload: Range<u64>,
    /// The payload is larger than one MSS: send it with TSO, cut at `mss`.
    pub tso: bool,
    /// Payload bytes per segment the peer accepts (the TSO cut size).
    pub mss: u16,
    /// Some of it was sent before.
    pub retransmission: bool,
}

impl OutSegment {
    /// The header to write (checksum field 0: the caller seeds it for
    /// offload, see [`wire::tso_seed`](super::wire::tso_seed)).
    pub fn header(&self) -> TcpHeader {
        TcpHeader {
            src_port: self.src_port,
            dst_port: self.dst_port,
            seq: self.seq,
            ack: self.ack,
            flags: self.flags,
            window: self.window,
            checksum: 0,
            urgent: 0,
            options: self.options,
        }
    }

    /// Payload bytes.
    pub fn payload_len(&self) -> u64 {
        self.payload.end - self.payload.start
    }

    /// The reply to a segment that reached no connection, or that a
    /// connection in LISTEN, SYN-SENT or SYN-RECEIVED must refuse (RFC 9293
    /// section 3.10.7.1): a RST that the sender will find acceptable. A RST
    /// is never answered.
    pub fn reset_for(h: &TcpHeader, payload_len: usize) -> Option<OutSegment> {
        if h.flags.contains(Flags::RST) {
            return None;
        }
        let (seq, ack, flags) = if h.flags.contains(Flags::ACK) {
            (h.ack, 0, Flags::RST)
        } else {
            let len =
                payload_len as u32 + u32::from(h.flags.contains(Flags::SYN)) + u32::from(h.flags.contains(Flags::FIN));
            (0, h.seq.wrapping_add(len), Flags::RST | Flags::ACK)
        };
        Some(OutSegment::reset(h.dst_port, h.src_port, seq, ack, flags))
    }

    /// A reset (`flags` holds RST, perhaps with ACK): no payload, no options,
    /// a zero window.
    pub fn reset(src_port: u16, dst_port: u16, seq: u32, ack: u32, flags: Flags) -> OutSegment {
        OutSegment {
            src_port,
            dst_port,
            seq,
            ack,
            flags,
            window: 0,
            options: Options::default(),
            payload: 0..0,
            tso: false,
            mss: 0,
            retransmission: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_for_a_syn_acks_it() {
        let syn = TcpHeader { src_port: 5000, dst_port: 81, seq: 100, flags: Flags::SYN, ..TcpHeader::default() };
        let r = OutSegment::reset_for(&syn, 0).unwrap();
        assert_eq!((r.src_port, r.dst_port), (81, 5000));
        assert_eq!((r.seq, r.ack, r.flags), (0, 101, Flags::RST | Flags::ACK));
    }

    #[test]
    fn reset_for_an_ack_takes_its_number() {
        let h = TcpHeader { seq: 7, ack: 9999, flags: Flags::ACK | Flags::PSH, ..TcpHeader::default() };
        let r = OutSegment::reset_for(&h, 10).unwrap();
        assert_eq!((r.seq, r.flags), (9999, Flags::RST));
    }

    #[test]
    fn a_reset_is_never_answered() {
        let h = TcpHeader { flags: Flags::RST, ..TcpHeader::default() };
        assert_eq!(OutSegment::reset_for(&h, 0), None);
    }
}

//! A frame as the device layer sees it: headers in a driver buffer, payload
//! in DMA spans, and where the NIC should compute checksums.

use crate::dma::DmaSpan;

/// One frame to post.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TxFrame<'a> {
    /// Bytes the CPU wrote into the header buffer (the whole frame when there
    /// is no payload).
    pub(crate) header_len: usize,
    /// Payload the NIC reads straight from DMA memory, after the headers.
    pub(crate) payload: &'a [DmaSpan],
    /// Checksums for the NIC to compute, if any.
    pub(crate) offload: Option<ChecksumOffload>,
    /// TCP segmentation: the NIC cuts the payload into `mss`-byte segments,
    /// each behind a copy of the headers with its sequence number, lengths and
    /// checksums fixed up (needs a TCP checksum offload; the CPU seeds the TCP
    /// checksum with the pseudo-header sum *without* the length).
    pub(crate) segmentation: Option<Segmentation>,
}

/// TCP segmentation offload (TSO) of one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Segmentation {
    /// Payload bytes per segment.
    pub(crate) mss: u16,
    /// Bytes of protocol headers (Ethernet + IPv4 + TCP) the NIC repeats in
    /// front of every segment; whatever the header buffer holds after them is
    /// payload.
    pub(crate) header_len: u8,
}

/// The transport protocol whose checksum the NIC computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum L4Protocol {
    /// UDP.
    Udp,
    /// TCP.
    Tcp,
}

/// Where, in a frame, the NIC computes and stores checksums: the IPv4 header
/// checksum over `ip_start..=ip_end` stored at `ip_checksum`, and the L4
/// checksum from `l4_start` to the end of the frame stored at `l4_checksum`
/// (the CPU seeds that field with the pseudo-header sum). All byte offsets
/// from the start of the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChecksumOffload {
    pub(crate) ip_start: u8,
    pub(crate) ip_checksum: u8,
    pub(crate) ip_end: u16,
    pub(crate) l4_start: u8,
    pub(crate) l4_checksum: u8,
    pub(crate) l4: L4Protocol,
}

//! The transmit queue: a TX ring in device-writable DMA memory and one header
//! buffer per ring slot in DMA memory the device may only read.
//!
//! Safety of the data path rests on three facts: descriptors only ever carry
//! IOVAs of this queue's own buffers or [`DmaSpan`]s cut from live mappings;
//! a buffer is lent to the caller only while its slot is free; and the
//! buffers are mapped read-only for the device, so a `&mut [u8]` into them is
//! never written behind our back.

use std::sync::atomic::{fence, Ordering};
use std::sync::Arc;

use zcnic_ring::{Reclaimed, TxCmd, TxDesc, TxPopts, TxRing};

use super::regs;
use crate::device::register::{RegisterIo, Registers};
use crate::device::{ChecksumOffload, L4Protocol, TxFrame, TxStats, MAX_FRAME_LEN, MIN_FRAME_LEN};
use crate::dma::{self, DescriptorView, DmaMapping, DmaSpan};
use crate::error::Error;
use crate::sys::memory::PAGE;
use crate::vfio::{Container, DmaAccess};

/// Bytes reserved per header buffer (a whole frame fits).
const TX_BUFFER_SIZE: usize = 2048;

/// The TX queue's state. Its descriptors live in the NIC's shared
/// device-writable mapping (passed in as `rings`); its header buffers in a
/// mapping of its own that the device may only read.
pub(crate) struct TxQueue {
    ring: TxRing,
    desc_offset: usize,
    buffers: DmaMapping,
    /// Whether the descriptor in each slot ends a frame (to count completions).
    ends_frame: Vec<bool>,
    /// The checksum context the NIC holds now (it keeps one until the next).
    context: Option<ChecksumOffload>,
    stats: TxStats,
}

/// The pieces a payload span becomes: it is split at every 4 KiB boundary
/// of IOVA space, because QEMU's e1000e drops a frame whose buffer is not
/// contiguous in guest memory across such a boundary (see hw-notes), and
/// file pages are rarely contiguous.
fn page_pieces(span: DmaSpan) -> impl Iterator<Item = DmaSpan> {
    let mut rest = Some(span);
    std::iter::from_fn(move || {
        let s = rest.take()?;
        let to_page_end = (PAGE as u64 - s.iova() % PAGE as u64) as u32;
        if s.len() <= to_page_end {
            return (s.len() > 0).then_some(s);
        }
        let (head, tail) = s.split_at(to_page_end);
        rest = Some(tail);
        Some(head)
    })
}

/// Descriptors a payload span needs, at most: one per 4 KiB page it touches.
fn max_pieces(span_len: u32) -> usize {
    (span_len as usize).div_ceil(PAGE) + 1
}

impl TxQueue {
    pub(crate) fn new(container: &Arc<Container>, size: u16, desc_offset: usize) -> Result<TxQueue, Error> {
        let ring = TxRing::new(size)?;
        let (buffers, kind) = dma::allocate(container, usize::from(size) * TX_BUFFER_SIZE, DmaAccess::DeviceReads)?;
        log::debug!("TX buffers at IOVA {:#x} ({kind:?})", buffers.iova());
        let ends_frame = vec![false; usize::from(size)];
        Ok(TxQueue { ring, desc_offset, buffers, ends_frame, context: None, stats: TxStats::default() })
    }

    pub(crate) fn descriptors<'r>(&self, rings: &'r DmaMapping) -> DescriptorView<'r, TxDesc> {
        DescriptorView::new(rings, self.desc_offset, usize::from(self.ring.size()))
    }

    pub(crate) fn stats(&self) -> TxStats {
        self.stats
    }

    pub(crate) fn ring(&self) -> &TxRing {
        &self.ring
    }

    /// Collect completions; returns how many frames completed.
    pub(crate) fn reclaim(&mut self, rings: &DmaMapping) -> u64 {
        let Reclaimed { first, count } = self.ring.reclaim(&self.descriptors(rings));
        let size = usize::from(self.ring.size());
        let frames =
            (0..usize::from(count)).filter(|i| self.ends_frame[(usize::from(first) + i) % size]).count() as u64;
        self.stats.completed += frames;
        frames
    }

    /// Forget every descriptor (after a NIC reset): the ring starts empty,
    /// and the NIC holds no checksum context.
    pub(crate) fn forget(&mut self) {
        self.ring = TxRing::new(self.ring.size()).expect("the size was valid before");
        self.ends_frame.fill(false);
        self.context = None;
    }

    /// Frames of `payload_segments` spans (each up to one frame long) that fit now.
    pub(crate) fn room(&self, payload_segments: usize) -> usize {
        let per_frame = if payload_segments == 0 {
            1
        } else {
            // Header, each span split at most once (spans are at most one
            // MTU, under a page), and a context descriptor.
            1 + 2 * payload_segments + 1
        };
        usize::from(self.ring.free()) / per_frame
    }

    fn buffer_offset(slot: u16) -> usize {
        usize::from(slot) * TX_BUFFER_SIZE
    }

    /// The buffer of the next free slot. A frame's header lives in the
    /// buffer of its first slot (a context descriptor's, if one goes first):
    /// all descriptors of a frame are reclaimed together, so that buffer is
    /// busy exactly as long as the frame is.
    pub(crate) fn header_buffer(&mut self) -> Option<&mut [u8]> {
        let slot = self.ring.next_slot()?;
        Some(self.buffers.bytes_mut(Self::buffer_offset(slot), MAX_FRAME_LEN))
    }

    fn push_desc(&mut self, rings: &DmaMapping, desc: TxDesc) -> Result<u16, Error> {
        let slot = self.ring.push(&mut self.descriptors(rings), desc).ok_or(Error::TxRingFull)?;
        self.ends_frame[usize::from(slot)] = desc.cmd.contains(TxCmd::EOP);
        Ok(slot)
    }

    /// Descriptors `frame` takes at most: one per 4 KiB piece of payload,
    /// the header, and a context descriptor unless the NIC already holds the
    /// right checksum context (a TSO frame always brings its own).
    fn descriptors_needed(&self, frame: &TxFrame<'_>) -> usize {
        if frame.payload.is_empty() && frame.offload.is_none() {
            return 1;
        }
        let pieces: usize = frame.payload.iter().map(|s| max_pieces(s.len())).sum();
        let context = frame.segmentation.is_some() || (frame.offload.is_some() && frame.offload != self.context);
        1 + pieces + usize::from(context)
    }

    /// Whether `frame` fits in the ring now.
    pub(crate) fn fits(&self, frame: &TxFrame<'_>) -> bool {
        usize::from(self.ring.free()) >= self.descriptors_needed(frame)
    }

    /// Queue `frame`; its headers are in the buffer of the next free slot.
    pub(crate) fn post(&mut self, rings: &DmaMapping, frame: &TxFrame<'_>) -> Result<(), Error> {
        if frame.header_len > MAX_FRAME_LEN {
            return Err(Error::BadFrameLength { len: frame.header_len, min: 0, max: MAX_FRAME_LEN });
        }
        if frame.payload.is_empty() && frame.offload.is_none() {
            return self.post_whole_frame(rings, frame.header_len);
        }
        if !self.fits(frame) {
            return Err(Error::TxRingFull);
        }
        let header_slot = self.ring.next_slot().ok_or(Error::TxRingFull)?;
        let header = self.buffers.span(Self::buffer_offset(header_slot), frame.header_len as u32);
        let context = self.context;
        for_each_descriptor(header, frame, context, |desc| self.push_desc(rings, desc).map(drop))?;
        // After a TSO context the NIC holds no reusable checksum context.
        self.context = if frame.segmentation.is_some() { None } else { frame.offload.or(context) };
        let payload_len: u64 = frame.payload.iter().map(|s| u64::from(s.len())).sum();
        self.stats.frames += 1;
        self.stats.bytes += frame.header_len as u64 + payload_len;
        self.stats.cpu_bytes_written += frame.header_len as u64;
        self.stats.zero_copy_bytes += payload_len;
        Ok(())
    }

    /// A frame the CPU built whole in the header buffer: one legacy descriptor.
    fn post_whole_frame(&mut self, rings: &DmaMapping, len: usize) -> Result<(), Error> {
        let slot = self.ring.next_slot().ok_or(Error::TxRingFull)?;
        let offset = Self::buffer_offset(slot);
        // The 82540EM pads short frames itself (TCTL.PSP); QEMU does not, so the driver does.
        let wire_len = len.max(MIN_FRAME_LEN);
        if len < MIN_FRAME_LEN {
            self.buffers.bytes_mut(offset + len, MIN_FRAME_LEN - len).fill(0);
        }
        let span = self.buffers.span(offset, wire_len as u32);
        self.push_desc(rings, TxDesc::single_buffer_frame(span.iova(), wire_len as u16))?;
        self.stats.frames += 1;
        self.stats.bytes += wire_len as u64;
        self.stats.cpu_bytes_written += wire_len as u64;
        Ok(())
    }

    /// Ring the doorbell for everything pushed since the last one.
    pub(crate) fn doorbell<R: RegisterIo + ?Sized>(&mut self, rings: &DmaMapping, regs: &R) -> bool {
        let Some(tail) = self.ring.close_batch(&mut self.descriptors(rings)) else {
            return false;
        };
        // Descriptor and buffer writes must be visible to the NIC before it
        // sees the new tail.
        fence(Ordering::SeqCst);
        regs.write(regs::TDT, u32::from(tail));
        self.stats.doorbells += 1;
        true
    }
}

/// The descriptors of a frame whose headers are at `header`, in order: a
/// context descriptor first if the frame asks for an offload the NIC does not
/// hold (`context`), then extended data descriptors for the header and every
/// 4 KiB piece of the payload, EOP on the last, POPTS on all.
fn for_each_descriptor(
    header: DmaSpan,
    frame: &TxFrame<'_>,
    context: Option<ChecksumOffload>,
    mut push: impl FnMut(TxDesc) -> Result<(), Error>,
) -> Result<(), Error> {
    let mut popts = TxPopts::empty();
    match (frame.offload, frame.segmentation) {
        (Some(o), Some(seg)) => {
            // PAYLEN: everything after the protocol headers, in the header
            // buffer (e.g. HTTP headers) and in the payload spans.
            let in_buffer = frame.header_len as u32 - u32::from(seg.header_len);
            let payload_len: u32 = in_buffer + frame.payload.iter().map(|s| s.len()).sum::<u32>();
            push(TxDesc::tso_context(
                o.ip_start,
                o.ip_checksum,
                o.ip_end,
                o.l4_start,
                o.l4_checksum,
                seg.header_len,
                seg.mss,
                payload_len,
            ))?;
            popts = TxPopts::IXSM | TxPopts::TXSM;
        }
        (Some(o), None) => {
            if context != Some(o) {
                push(context_descriptor(&o))?;
            }
            popts = TxPopts::IXSM | TxPopts::TXSM;
        }
        (None, Some(_)) => panic!("TCP segmentation needs a checksum offload"),
        (None, None) => {}
    }
    let mut pieces = std::iter::once(header).chain(frame.payload.iter().copied().flat_map(page_pieces)).peekable();
    while let Some(piece) = pieces.next() {
        let eop = pieces.peek().is_none();
        let len = u16::try_from(piece.len()).expect("pieces are at most a page");
        let desc = TxDesc::extended_data(piece.iova(), len, eop, popts);
        push(if frame.segmentation.is_some() { desc.segmented() } else { desc })?;
    }
    Ok(())
}

/// The e1000's TCP/IP context descriptor for `offload`.
fn context_descriptor(o: &ChecksumOffload) -> TxDesc {
    TxDesc::tcpip_context(o.ip_start, o.ip_checksum, o.ip_end, o.l4_start, o.l4_checksum, o.l4 == L4Protocol::Udp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::frame::Segmentation;

    fn pieces(iova: u64, len: u32) -> Vec<(u64, u32)> {
        let span = DmaSpan::for_tests(iova, len);
        page_pieces(span).map(|p| (p.iova(), p.len())).collect()
    }

    fn udp() -> ChecksumOffload {
        ChecksumOffload {
            ip_start: 14,
            ip_checksum: 24,
            ip_end: 33,
            l4_start: 34,
            l4_checksum: 40,
            l4: L4Protocol::Udp,
        }
    }

    fn descriptors(frame: &TxFrame<'_>, context: Option<ChecksumOffload>) -> Vec<TxDesc> {
        let header = DmaSpan::for_tests(0x20_0000, frame.header_len as u32);
        let mut out = Vec::new();
        for_each_descriptor(header, frame, context, |d| {
            out.push(d);
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn a_zero_copy_datagram_is_context_header_and_page_pieces_with_eop_last() {
        let payload = [DmaSpan::for_tests(0x4000_0f00, 1472)];
        let frame = TxFrame { header_len: 42, payload: &payload, offload: Some(udp()), segmentation: None };
        let d = descriptors(&frame, None);
        assert_eq!(d.len(), 4, "context, header, two pieces: {d:?}");
        assert_eq!(d[0], context_descriptor(&udp()));
        let data: Vec<(u64, u16, bool)> =
            d[1..].iter().map(|x| (x.buffer_addr, x.length, x.cmd.contains(TxCmd::EOP))).collect();
        assert_eq!(data, vec![(0x20_0000, 42, false), (0x4000_0f00, 256, false), (0x4000_1000, 1216, true)]);
        assert!(
            d[1..].iter().all(|x| x.css == (TxPopts::IXSM | TxPopts::TXSM).bits()),
            "POPTS on every data descriptor"
        );
        // The NIC keeps the context: the next datagram of the flow needs none.
        assert_eq!(descriptors(&frame, Some(udp())).len(), 3);
    }

    #[test]
    fn a_tso_frame_brings_its_own_context_and_marks_every_data_descriptor() {
        let tcp = ChecksumOffload { l4: L4Protocol::Tcp, l4_checksum: 50, ..udp() };
        // 64 KiB of payload from a page-aligned IOVA: 16 pieces.
        let payload = [DmaSpan::for_tests(0x4000_0000, 65536)];
        let seg = Some(Segmentation { mss: 1460, header_len: 54 });
        let frame = TxFrame { header_len: 54, payload: &payload, offload: Some(tcp), segmentation: seg };
        let d = descriptors(&frame, Some(tcp));
        assert_eq!(d.len(), 1 + 1 + 16, "context (even with the same checksum context), header, 16 pages");
        assert!(d[0].cmd.contains(TxCmd::TSE) && d[0].special == 1460 && d[0].css == 54);
        assert_eq!(u32::from(d[0].length) | u32::from(d[0].cso) << 16, 65536, "PAYLEN");
        assert!(d[1..].iter().all(|x| x.cmd.contains(TxCmd::TSE)), "TSE on every data descriptor");
        assert!(d.last().unwrap().cmd.contains(TxCmd::EOP));
        assert_eq!(d[1..].iter().map(|x| u32::from(x.length)).sum::<u32>(), 54 + 65536);
    }

    #[test]
    fn payload_is_split_at_4k_iova_boundaries_only() {
        assert_eq!(pieces(0x20_0000, 1472), vec![(0x20_0000, 1472)]);
        assert_eq!(pieces(0x20_0f00, 1472), vec![(0x20_0f00, 256), (0x20_1000, 1216)]);
        // Ends exactly on a boundary (0xa40 + 1472 = 0x1000): one piece.
        assert_eq!(pieces(0x20_0a40, 1472), vec![(0x20_0a40, 1472)]);
        assert_eq!(pieces(0x20_0000, 0), vec![]);
        for (iova, len) in [(0x20_0fff, 2), (0x20_0ffe, 4097)] {
            let p = pieces(iova, len);
            assert_eq!(p.iter().map(|x| x.1).sum::<u32>(), len);
            assert!(p.len() <= max_pieces(len));
            assert!(p.iter().all(|(i, l)| i / 4096 == (i + u64::from(*l) - 1) / 4096));
        }
    }
}

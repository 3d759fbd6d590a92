//! A transmit queue, whatever the descriptor format: a TX ring in
//! device-writable DMA memory and one header buffer per ring slot in DMA
//! memory the device may only read. What differs between NIC families (how a
//! frame becomes descriptors, which checksum context the NIC keeps) is a
//! [`TxFormat`].
//!
//! Safety of the data path rests on three facts: descriptors only ever carry
//! IOVAs of this queue's own buffers or [`DmaSpan`]s cut from live mappings;
//! a buffer is lent to the caller only while its slot is free; and the
//! buffers are mapped read-only for the device, so a `&mut [u8]` into them is
//! never written behind our back.

use std::sync::atomic::{fence, Ordering};
use std::sync::Arc;

use zcnic_ring::{Reclaimed, TxDescriptor, TxRing};

use crate::device::register::access::ReadWrite;
use crate::device::register::{Reg, RegisterIo, Registers};
use crate::device::{TxFrame, TxStats, MAX_FRAME_LEN, MIN_FRAME_LEN};
use crate::dma::{self, DescriptorView, DmaMapping, DmaSpan};
use crate::error::Error;
use crate::sys::memory::PAGE;
use crate::vfio::{Container, DmaAccess};

/// Bytes reserved per header buffer (a whole frame fits).
const TX_BUFFER_SIZE: usize = 2048;

/// How one NIC family turns frames into descriptors.
pub(crate) trait TxFormat {
    /// The descriptor type of the ring.
    type Desc: TxDescriptor;
    /// The offload context the NIC keeps from one frame to the next.
    type Context: Copy + PartialEq + std::fmt::Debug;

    /// One descriptor for a frame the CPU built whole in one buffer.
    fn whole_frame(iova: u64, len: u16) -> Self::Desc;
    /// Whether a descriptor ends a frame (to count completed frames).
    fn ends_frame(desc: &Self::Desc) -> bool;
    /// Whether `frame` needs a context descriptor when the NIC holds `held`.
    fn needs_context(frame: &TxFrame<'_>, held: Option<Self::Context>) -> bool;
    /// Push the descriptors of `frame`, whose headers are at `header`: a
    /// context descriptor first if [`needs_context`](Self::needs_context),
    /// then data descriptors for the header and every piece of
    /// [`page_pieces`] of the payload. Returns the context the NIC holds after.
    fn descriptors(
        header: DmaSpan,
        frame: &TxFrame<'_>,
        held: Option<Self::Context>,
        push: &mut dyn FnMut(Self::Desc) -> Result<(), Error>,
    ) -> Result<Option<Self::Context>, Error>;
}

/// The pieces a payload span becomes: it is split at every 4 KiB boundary
/// of IOVA space, because QEMU's e1000e and igb drop a frame whose buffer is
/// not contiguous in guest memory across such a boundary (see hw-notes), and
/// file pages are rarely contiguous.
pub(crate) fn page_pieces(span: DmaSpan) -> impl Iterator<Item = DmaSpan> {
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

/// The TX queue's state. Its descriptors live in the NIC's shared
/// device-writable mapping (passed in as `rings`); its header buffers in a
/// mapping of its own that the device may only read.
pub(crate) struct TxQueue<F: TxFormat> {
    ring: TxRing,
    desc_offset: usize,
    buffers: DmaMapping,
    /// The queue's tail register (the doorbell).
    tdt: Reg<u32, ReadWrite>,
    /// Whether the descriptor in each slot ends a frame (to count completions).
    ends_frame: Vec<bool>,
    /// The offload context the NIC holds now (it keeps one until the next).
    context: Option<F::Context>,
    stats: TxStats,
}

impl<F: TxFormat> TxQueue<F> {
    pub(crate) fn new(
        container: &Arc<Container>,
        size: u16,
        desc_offset: usize,
        tdt: Reg<u32, ReadWrite>,
    ) -> Result<Self, Error> {
        let ring = TxRing::new(size)?;
        let (buffers, kind) = dma::allocate(container, usize::from(size) * TX_BUFFER_SIZE, DmaAccess::DeviceReads)?;
        log::debug!("TX buffers at IOVA {:#x} ({kind:?})", buffers.iova());
        let ends_frame = vec![false; usize::from(size)];
        Ok(TxQueue { ring, desc_offset, buffers, tdt, ends_frame, context: None, stats: TxStats::default() })
    }

    pub(crate) fn descriptors<'r>(&self, rings: &'r DmaMapping) -> DescriptorView<'r, F::Desc> {
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
    /// and the NIC holds no offload context.
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

    fn push_desc(&mut self, rings: &DmaMapping, desc: F::Desc) -> Result<u16, Error> {
        let slot = self.ring.push(&mut self.descriptors(rings), desc).ok_or(Error::TxRingFull)?;
        self.ends_frame[usize::from(slot)] = F::ends_frame(&desc);
        Ok(slot)
    }

    /// Descriptors `frame` takes at most: one per 4 KiB piece of payload,
    /// the header, and a context descriptor unless the NIC already holds the
    /// right one.
    fn descriptors_needed(&self, frame: &TxFrame<'_>) -> usize {
        if frame.payload.is_empty() && frame.offload.is_none() {
            return 1;
        }
        let pieces: usize = frame.payload.iter().map(|s| max_pieces(s.len())).sum();
        1 + pieces + usize::from(F::needs_context(frame, self.context))
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
        let held = self.context;
        self.context = F::descriptors(header, frame, held, &mut |desc| self.push_desc(rings, desc).map(drop))?;
        let payload_len: u64 = frame.payload.iter().map(|s| u64::from(s.len())).sum();
        self.stats.frames += 1;
        self.stats.bytes += frame.header_len as u64 + payload_len;
        self.stats.cpu_bytes_written += frame.header_len as u64;
        self.stats.zero_copy_bytes += payload_len;
        Ok(())
    }

    /// A frame the CPU built whole in the header buffer: one descriptor.
    fn post_whole_frame(&mut self, rings: &DmaMapping, len: usize) -> Result<(), Error> {
        let slot = self.ring.next_slot().ok_or(Error::TxRingFull)?;
        let offset = Self::buffer_offset(slot);
        // Real NICs pad short frames themselves (TCTL.PSP); QEMU does not, so the driver does.
        let wire_len = len.max(MIN_FRAME_LEN);
        if len < MIN_FRAME_LEN {
            self.buffers.bytes_mut(offset + len, MIN_FRAME_LEN - len).fill(0);
        }
        let span = self.buffers.span(offset, wire_len as u32);
        self.push_desc(rings, F::whole_frame(span.iova(), wire_len as u16))?;
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
        regs.write(self.tdt, u32::from(tail));
        self.stats.doorbells += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(iova: u64, len: u32) -> Vec<(u64, u32)> {
        let span = DmaSpan::for_tests(iova, len);
        page_pieces(span).map(|p| (p.iova(), p.len())).collect()
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

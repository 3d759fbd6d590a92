//! The transmit queue: a TX ring in device-writable DMA memory and one packet
//! buffer per ring slot in device-read-only DMA memory.
//!
//! Safety of the data path rests on three facts: descriptors only ever carry
//! IOVAs of this queue's own buffers (callers never supply an address); a
//! buffer is handed to the caller only while its slot is free (the NIC has
//! completed it, or never had it); and the buffers are mapped read-only for
//! the device, so a `&mut [u8]` into them is never written behind our back.

use std::sync::atomic::{fence, Ordering};
use std::sync::Arc;

use zcnic_ring::{Reclaimed, TxCmd, TxDesc, TxRing, TX_POPTS_IXSM, TX_POPTS_TXSM};

use super::regs;
use crate::dma::{DescriptorView, DmaRegion};
use crate::error::Error;
use crate::mmio::Mmio;
use crate::net::udp::{self, UdpFlow};
use crate::vfio::{Container, DmaAccess};

/// IOVA page size: no zero-copy descriptor crosses a boundary of it.
const PAGE: u64 = 4096;

/// Bytes reserved per packet buffer.
pub const TX_BUFFER_SIZE: usize = 2048;
/// Largest frame accepted: 1500-byte MTU plus the 14-byte Ethernet header (FCS excluded).
pub const MAX_FRAME_LEN: usize = 1514;
/// Smallest frame on the wire without FCS; shorter frames are zero-padded to it
/// (the 82540EM pads with TCTL.PSP, QEMU does not, so the driver does).
pub const MIN_FRAME_LEN: usize = 60;
/// Smallest frame accepted: an Ethernet header.
pub const ETH_HEADER_LEN: usize = 14;

/// Counters of the transmit path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TxStats {
    /// Frames handed to the NIC.
    pub frames: u64,
    /// Bytes handed to the NIC (after padding, without FCS).
    pub bytes: u64,
    /// TDT writes.
    pub doorbells: u64,
    /// Frames the NIC reported done (DD) and the driver reclaimed.
    pub completed: u64,
    /// Bytes the CPU wrote into TX buffers (whole frames it built, or just
    /// the headers of zero-copy frames).
    pub cpu_bytes_written: u64,
    /// Bytes the NIC read straight from file pages, never touched by the CPU.
    pub zero_copy_bytes: u64,
}

/// The TX queue's state. Its descriptors live in the NIC's shared
/// device-writable region (passed in as `rings`); its packet buffers in a
/// region of its own that the device may only read.
pub(crate) struct TxQueue {
    ring: TxRing,
    desc_offset: usize,
    buffers: DmaRegion,
    /// Whether the descriptor in each slot ends a frame (to count completions).
    ends_frame: Vec<bool>,
    stats: TxStats,
}

impl TxQueue {
    pub(crate) fn new(container: &Arc<Container>, size: u16, desc_offset: usize) -> Result<TxQueue, Error> {
        let ring = TxRing::new(size)?;
        let buffers = DmaRegion::new(container, usize::from(size) * TX_BUFFER_SIZE, DmaAccess::DeviceReads)?;
        log::debug!("TX buffers at IOVA {:#x} ({:?})", buffers.iova(), buffers.page_kind());
        let ends_frame = vec![false; usize::from(size)];
        Ok(TxQueue { ring, desc_offset, buffers, ends_frame, stats: TxStats::default() })
    }

    pub(crate) fn descriptors<'r>(&self, rings: &'r DmaRegion) -> DescriptorView<'r, TxDesc> {
        DescriptorView::new(rings, self.desc_offset, usize::from(self.ring.size()))
    }

    pub(crate) fn stats(&self) -> TxStats {
        self.stats
    }

    pub(crate) fn ring(&self) -> &TxRing {
        &self.ring
    }

    pub(crate) fn reclaim(&mut self, rings: &DmaRegion) -> Reclaimed {
        let r = self.ring.reclaim(&self.descriptors(rings));
        let size = usize::from(self.ring.size());
        let frames = (0..usize::from(r.count)).filter(|i| self.ends_frame[(usize::from(r.first) + i) % size]).count();
        self.stats.completed += frames as u64;
        r
    }

    /// Push one descriptor and note whether it ends a frame.
    fn push_desc(&mut self, rings: &DmaRegion, desc: TxDesc) -> Result<u16, Error> {
        let slot = self.ring.push(&mut self.descriptors(rings), desc).ok_or(Error::TxRingFull)?;
        self.ends_frame[usize::from(slot)] = desc.cmd & TxCmd::EOP != 0;
        Ok(slot)
    }

    /// Forget every descriptor (after a NIC reset): the ring starts empty.
    pub(crate) fn reset(&mut self) {
        self.ring = TxRing::new(self.ring.size()).expect("the size was valid before");
        self.ends_frame.fill(false);
    }

    /// Free descriptors.
    pub(crate) fn free(&self) -> u16 {
        self.ring.free()
    }

    /// Queue a TCP/IP checksum context (it takes a descriptor, ends no frame).
    pub(crate) fn push_context(&mut self, rings: &DmaRegion, context: TxDesc) -> Result<(), Error> {
        self.push_desc(rings, context).map(drop)
    }

    /// Queue a zero-copy UDP datagram: headers written by the CPU into this
    /// slot's buffer, payload read by the NIC from `payload_iova`. Takes two
    /// descriptors, or three when the payload crosses a 4 KiB page of IOVA
    /// space: it is split there, because QEMU's e1000e drops a frame whose
    /// buffer is not contiguous in guest memory across such a boundary (see
    /// hw-notes), and file pages are rarely contiguous.
    ///
    /// `payload_iova .. + payload_len` must lie inside a DMA mapping that
    /// stays mapped until the frame has completed; only the crate's file
    /// sender calls this, with spans of its own file windows.
    pub(crate) fn push_zero_copy_datagram(
        &mut self,
        rings: &DmaRegion,
        flow: &UdpFlow,
        ip_id: u16,
        payload_iova: u64,
        payload_len: u16,
    ) -> Result<(), Error> {
        let to_page_end = PAGE - (payload_iova % PAGE);
        let first_len = u64::from(payload_len).min(to_page_end) as u16;
        let second_len = payload_len - first_len;
        let needed = if second_len > 0 { 3 } else { 2 };
        if self.ring.free() < needed {
            return Err(Error::TxRingFull);
        }
        let slot = self.ring.next_slot().ok_or(Error::TxRingFull)?;
        let offset = Self::buffer_offset(slot);
        let header = self.buffers.device_readonly_bytes_mut(offset, udp::HEADERS_LEN);
        flow.write_offload_headers(header, usize::from(payload_len), ip_id);
        let popts = TX_POPTS_IXSM | TX_POPTS_TXSM;
        let header_iova = self.buffers.iova_at(offset, udp::HEADERS_LEN);
        self.push_desc(rings, TxDesc::extended_data(header_iova, udp::HEADERS_LEN as u16, false, popts))?;
        self.push_desc(rings, TxDesc::extended_data(payload_iova, first_len, second_len == 0, popts))?;
        if second_len > 0 {
            let rest = payload_iova + u64::from(first_len);
            self.push_desc(rings, TxDesc::extended_data(rest, second_len, true, popts))?;
        }
        self.stats.frames += 1;
        self.stats.bytes += (udp::HEADERS_LEN + usize::from(payload_len)) as u64;
        self.stats.cpu_bytes_written += udp::HEADERS_LEN as u64;
        self.stats.zero_copy_bytes += u64::from(payload_len);
        Ok(())
    }

    /// Ring the doorbell for everything pushed since the last one.
    pub(crate) fn flush(&mut self, rings: &DmaRegion, regs: &Mmio) {
        self.doorbell(rings, regs);
    }

    fn buffer_offset(slot: u16) -> usize {
        usize::from(slot) * TX_BUFFER_SIZE
    }

    fn next_buffer(&mut self) -> Option<&mut [u8]> {
        let slot = self.ring.next_slot()?;
        Some(self.buffers.device_readonly_bytes_mut(Self::buffer_offset(slot), MAX_FRAME_LEN))
    }

    fn push(&mut self, rings: &DmaRegion, len: usize) -> Result<(), Error> {
        if !(ETH_HEADER_LEN..=MAX_FRAME_LEN).contains(&len) {
            return Err(Error::BadFrameLength { len, min: ETH_HEADER_LEN, max: MAX_FRAME_LEN });
        }
        let slot = self.ring.next_slot().ok_or(Error::TxRingFull)?;
        let offset = Self::buffer_offset(slot);
        let wire_len = len.max(MIN_FRAME_LEN);
        if len < MIN_FRAME_LEN {
            self.buffers.device_readonly_bytes_mut(offset + len, MIN_FRAME_LEN - len).fill(0);
        }
        let iova = self.buffers.iova_at(offset, wire_len);
        let pushed = self.push_desc(rings, TxDesc::single_buffer_frame(iova, wire_len as u16))?;
        debug_assert_eq!(pushed, slot);
        self.stats.frames += 1;
        self.stats.bytes += wire_len as u64;
        self.stats.cpu_bytes_written += wire_len as u64;
        Ok(())
    }

    fn doorbell(&mut self, rings: &DmaRegion, regs: &Mmio) {
        if let Some(tail) = self.ring.close_batch(&mut self.descriptors(rings)) {
            // Descriptor and buffer writes must be visible to the NIC before
            // it sees the new tail.
            fence(Ordering::SeqCst);
            regs.write32(regs::TDT, u32::from(tail));
            self.stats.doorbells += 1;
        }
    }
}

/// A batch of frames being built; the NIC's doorbell (TDT) is rung once, when
/// the batch is sent or dropped.
///
/// ```no_run
/// # fn f(nic: &mut zcnic_driver::Nic) -> Result<(), zcnic_driver::Error> {
/// let mut batch = nic.tx_batch();
/// while let Some(buf) = batch.frame_buffer() {
///     buf[..60].fill(0xff);
///     batch.push(60)?;
/// }
/// batch.send();
/// # Ok(()) }
/// ```
pub struct TxBatch<'a> {
    pub(crate) queue: &'a mut TxQueue,
    pub(crate) rings: &'a DmaRegion,
    pub(crate) regs: &'a Mmio,
}

impl TxBatch<'_> {
    /// Frames that can still be added to this batch.
    pub fn room(&self) -> usize {
        usize::from(self.queue.ring.free())
    }

    /// The buffer for the next frame (1514 bytes), or `None` if the ring is
    /// full. Write the frame from byte 0, then call [`push`](Self::push).
    pub fn frame_buffer(&mut self) -> Option<&mut [u8]> {
        self.queue.next_buffer()
    }

    /// Queue the frame written into the last [`frame_buffer`](Self::frame_buffer):
    /// its first `len` bytes (14 to 1514; frames under 60 bytes are zero-padded).
    pub fn push(&mut self, len: usize) -> Result<(), Error> {
        self.queue.push(self.rings, len)
    }

    /// Copy `frame` into the next buffer and queue it. A convenience for
    /// callers that already hold the frame elsewhere (it costs one copy).
    pub fn push_copy(&mut self, frame: &[u8]) -> Result<(), Error> {
        let buf = self.queue.next_buffer().ok_or(Error::TxRingFull)?;
        let n = frame.len();
        if !(ETH_HEADER_LEN..=MAX_FRAME_LEN).contains(&n) {
            return Err(Error::BadFrameLength { len: n, min: ETH_HEADER_LEN, max: MAX_FRAME_LEN });
        }
        buf[..n].copy_from_slice(frame);
        self.queue.push(self.rings, n)
    }

    /// Ring the doorbell for the frames pushed so far (dropping the batch does the same).
    pub fn send(self) {}
}

impl Drop for TxBatch<'_> {
    fn drop(&mut self) {
        self.queue.doorbell(self.rings, self.regs);
    }
}

//! A receive queue, whatever the descriptor format (legacy or advanced): an
//! RX ring and one 2 KiB buffer per slot, both in the NIC's device-writable
//! mapping. Frames are copied out of DMA memory before
//! the caller sees them (memory the NIC may write is never turned into a Rust
//! reference), then the slots go straight back to the NIC with one RDT write
//! per burst.

use std::sync::atomic::{fence, Ordering};

use std::marker::PhantomData;

use zcnic_ring::{DescriptorMemory, RssType, RxCompletion, RxDescriptor, RxRing};

use crate::device::register::access::ReadWrite;
use crate::device::register::{Reg, RegisterIo, Registers};
use crate::device::RxStats;
use crate::dma::{DescriptorView, DmaMapping};
use crate::error::Error;

/// Bytes per receive buffer (RCTL.BSIZE = 2048 on the e1000, SRRCTL.BSIZEPKT
/// = 2 KiB on the igb).
pub(crate) const RX_BUFFER_SIZE: usize = 2048;

/// Checks the NIC's receive-side-scaling verdict on a frame: given the frame
/// and the hash the NIC reported, whether it agrees with what the driver
/// computes (hash, type and the queue it landed on).
pub(crate) type RssCheck = Box<dyn Fn(&[u8], Option<(RssType, u32)>) -> bool + Send>;

/// An RX queue of descriptors of type `D`.
pub(crate) struct RxQueue<D> {
    ring: RxRing,
    desc_offset: usize,
    buffer_offset: usize,
    /// The queue's tail register (the doorbell).
    rdt: Reg<u32, ReadWrite>,
    scratch: Vec<u8>,
    stats: RxStats,
    rss_check: Option<RssCheck>,
    _desc: PhantomData<D>,
}

impl<D: RxDescriptor> RxQueue<D> {
    pub(crate) fn new(
        size: u16,
        desc_offset: usize,
        buffer_offset: usize,
        rdt: Reg<u32, ReadWrite>,
    ) -> Result<Self, Error> {
        Ok(RxQueue {
            ring: RxRing::new(size, RX_BUFFER_SIZE as u16)?,
            desc_offset,
            buffer_offset,
            rdt,
            scratch: vec![0; RX_BUFFER_SIZE],
            stats: RxStats::default(),
            rss_check: None,
            _desc: PhantomData,
        })
    }

    /// Check the NIC's RSS verdict on every frame with `check`.
    pub(crate) fn check_rss(&mut self, check: RssCheck) {
        self.rss_check = Some(check);
    }

    pub(crate) fn descriptors<'r>(&self, rings: &'r DmaMapping) -> DescriptorView<'r, D> {
        DescriptorView::new(rings, self.desc_offset, usize::from(self.ring.size()))
    }

    fn buffer_iova(rings: &DmaMapping, buffer_offset: usize) -> impl Fn(u16) -> u64 + '_ {
        move |slot| rings.span(buffer_offset + usize::from(slot) * RX_BUFFER_SIZE, RX_BUFFER_SIZE as u32).iova()
    }

    /// Give every slot a buffer (the ring starts empty); returns the first RDT.
    pub(crate) fn init(&mut self, rings: &DmaMapping) -> u16 {
        self.ring = RxRing::new(self.ring.size(), RX_BUFFER_SIZE as u16).expect("the size was valid before");
        let mut view = self.descriptors(rings);
        self.ring.init(&mut view, Self::buffer_iova(rings, self.buffer_offset))
    }

    pub(crate) fn has_completed(&self, rings: &DmaMapping) -> bool {
        self.ring.has_completed(&self.descriptors(rings))
    }

    pub(crate) fn stats(&self) -> RxStats {
        self.stats
    }

    /// Deliver up to `max` frames to `on_frame`, then hand the slots back.
    pub(crate) fn burst<R: RegisterIo + ?Sized>(
        &mut self,
        rings: &DmaMapping,
        regs: &R,
        max: usize,
        on_frame: &mut dyn FnMut(&[u8]),
    ) -> usize {
        let mut view = self.descriptors(rings);
        let mut delivered = 0;
        while delivered < max {
            match self.ring.next_completed(&view) {
                None => break,
                Some(RxCompletion::Frame { slot, len }) => {
                    let len = usize::from(len);
                    // The ring checked len <= RX_BUFFER_SIZE; copy_out bound-checks again.
                    let frame = &mut self.scratch[..len];
                    rings.copy_out(self.buffer_offset + usize::from(slot) * RX_BUFFER_SIZE, frame);
                    if let Some(check) = &self.rss_check {
                        // The ring saw DD (and fenced) before handing the slot
                        // out, so the write-back read here is whole.
                        if check(frame, view.read(usize::from(slot)).rss()) {
                            self.stats.rss_agreed += 1;
                        } else {
                            self.stats.rss_disagreed += 1;
                        }
                    }
                    on_frame(frame);
                    self.stats.frames += 1;
                    self.stats.bytes += len as u64;
                    delivered += 1;
                }
                Some(RxCompletion::Dropped { slot, reason }) => {
                    log::debug!("RX slot {slot}: dropped ({reason:?})");
                    self.stats.record_drop(reason);
                }
            }
        }
        if let Some(tail) = self.ring.refill(&mut view, Self::buffer_iova(rings, self.buffer_offset)) {
            // Cleared descriptors must be visible before the NIC sees the new tail.
            fence(Ordering::SeqCst);
            regs.write(self.rdt, u32::from(tail));
            self.stats.doorbells += 1;
        }
        delivered
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zcnic_ring::{LegacyRxDesc, RxErrors, RxStatus, VecMemory};

    /// The device writes back garbage; every bad descriptor must be dropped
    /// and counted under its reason, and good ones still delivered.
    #[test]
    fn bad_write_backs_are_dropped_and_counted() {
        let mut ring = RxRing::new(16, RX_BUFFER_SIZE as u16).unwrap();
        let mut mem = VecMemory::<LegacyRxDesc>::new(16);
        ring.init(&mut mem, |s| 0x20_0000 + u64::from(s) * 2048);
        let dd_eop = RxStatus::DD | RxStatus::EOP;
        let none = RxErrors::empty();
        let writes: [(u16, RxStatus, RxErrors); 9] = [
            (0, dd_eop, none),
            (9, dd_eop, none),
            (2049, dd_eop, none),
            (64, dd_eop, RxErrors::CE),
            (64, dd_eop, RxErrors::SEQ),
            (2048, RxStatus::DD, none),
            (100, dd_eop, none),
            (60, dd_eop, none),
            (u16::MAX, dd_eop, RxErrors::RXE),
        ];
        for (i, (len, status, errors)) in writes.into_iter().enumerate() {
            let d = &mut mem.descs[i];
            (d.length, d.status, d.errors) = (len, status, errors);
        }
        let mut stats = RxStats::default();
        let mut good = Vec::new();
        while let Some(c) = ring.next_completed(&mem) {
            match c {
                RxCompletion::Frame { len, .. } => good.push(len),
                RxCompletion::Dropped { reason, .. } => stats.record_drop(reason),
            }
        }
        assert_eq!(good, vec![60]);
        assert_eq!(stats.dropped_bad_length, 3);
        assert_eq!(stats.dropped_frame_error, 3);
        assert_eq!(stats.dropped_multi_descriptor, 2);
        assert_eq!(stats.dropped(), 8);
    }
}

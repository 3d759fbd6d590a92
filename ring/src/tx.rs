//! TX ring index logic: what software may write, what the NIC owns, and when
//! a slot comes back.
//!
//! The ring is `size` descriptors. Software owns the slots from TDT (our
//! `next_to_use`) round to the oldest unreclaimed slot (`next_to_clean`); the
//! NIC owns the slots from TDH to TDT. As on every e1000, TDH == TDT means
//! "nothing to send", so at most `size - 1` descriptors can be outstanding.
//!
//! Batching: frames are pushed without RS. [`TxRing::close_batch`] sets RS on
//! the batch's last descriptor only and returns the new tail for the single
//! TDT doorbell of that batch. The NIC processes descriptors in order and
//! writes DD back only where RS is set, so DD on a batch's last descriptor
//! means the whole batch is done; [`TxRing::reclaim`] frees batches whole,
//! looking at exactly one descriptor per batch.

use std::collections::VecDeque;
use std::fmt;

use core::sync::atomic::{fence, Ordering};

use crate::desc::TxDescriptor;
use crate::memory::DescriptorMemory;

/// Smallest ring zcnic accepts: TDLEN must be a multiple of 128 bytes (8 descriptors).
pub const MIN_RING_SIZE: u16 = 8;
/// Largest ring zcnic accepts (the NICs allow more; nothing gains from it).
pub const MAX_RING_SIZE: u16 = 4096;

/// A ring size the NIC cannot use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingSizeError(pub u16);

impl fmt::Display for RingSizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ring size {} is not a multiple of 8 between {} and {}", self.0, MIN_RING_SIZE, MAX_RING_SIZE)
    }
}

impl std::error::Error for RingSizeError {}

/// Slots freed by one [`TxRing::reclaim`]: `count` slots starting at `first`,
/// wrapping at the ring's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reclaimed {
    /// First freed slot.
    pub first: u16,
    /// Number of freed slots.
    pub count: u16,
}

/// Index state of a TX descriptor ring.
#[derive(Debug, Clone)]
pub struct TxRing {
    size: u16,
    /// Where the next pushed descriptor goes; the value TDT gets at the next doorbell.
    next_to_use: u16,
    /// Oldest slot not yet given back to software.
    next_to_clean: u16,
    /// Slots from `next_to_clean` to `next_to_use` (written and not reclaimed).
    in_use: u16,
    /// Of those, the ones pushed since the last doorbell (not yet the NIC's).
    unposted: u16,
    /// Last slot of each posted batch (the one with RS), oldest first.
    batch_ends: VecDeque<u16>,
}

impl TxRing {
    /// A ring of `size` descriptors, all free.
    pub fn new(size: u16) -> Result<Self, RingSizeError> {
        if !(MIN_RING_SIZE..=MAX_RING_SIZE).contains(&size) || size % 8 != 0 {
            return Err(RingSizeError(size));
        }
        Ok(TxRing {
            size,
            next_to_use: 0,
            next_to_clean: 0,
            in_use: 0,
            unposted: 0,
            // Every batch holds at least one descriptor, so there are never
            // more than size - 1 batches: this never reallocates.
            batch_ends: VecDeque::with_capacity(usize::from(size)),
        })
    }

    /// Number of descriptors in the ring.
    pub fn size(&self) -> u16 {
        self.size
    }

    /// Descriptors that can be pushed now.
    pub fn free(&self) -> u16 {
        self.size - 1 - self.in_use
    }

    /// The slot the next [`push`](Self::push) will fill, if one is free.
    /// The driver uses it to pick the buffer that belongs to that slot.
    pub fn next_slot(&self) -> Option<u16> {
        (self.free() > 0).then_some(self.next_to_use)
    }

    /// Descriptors handed to the NIC and not yet reclaimed.
    pub fn in_flight(&self) -> u16 {
        self.in_use - self.unposted
    }

    /// Descriptors pushed since the last doorbell.
    pub fn unposted(&self) -> u16 {
        self.unposted
    }

    /// True when every descriptor ever pushed has been posted, completed and reclaimed.
    pub fn is_idle(&self) -> bool {
        self.in_use == 0
    }

    /// The tail as software sees it (the last value given for TDT, plus unposted pushes).
    pub fn next_to_use(&self) -> u16 {
        self.next_to_use
    }

    /// Oldest slot not yet reclaimed.
    pub fn next_to_clean(&self) -> u16 {
        self.next_to_clean
    }

    fn wrap(&self, index: u32) -> u16 {
        // index < 2 * size <= 8192, so the remainder always fits.
        (index % u32::from(self.size)) as u16
    }

    /// Write `desc` into the next free slot, with RS and status cleared.
    /// Returns the slot, or `None` if the ring is full (reclaim first).
    pub fn push<D: TxDescriptor, M: DescriptorMemory<D>>(&mut self, mem: &mut M, mut desc: D) -> Option<u16> {
        if self.free() == 0 {
            return None;
        }
        let slot = self.next_to_use;
        desc.hand_over();
        mem.write(usize::from(slot), desc);
        self.next_to_use = self.wrap(u32::from(slot) + 1);
        self.in_use += 1;
        self.unposted += 1;
        Some(slot)
    }

    /// End the current batch: set RS on its last descriptor and return the
    /// new tail to write to TDT, or `None` if nothing was pushed since the
    /// last doorbell (then no doorbell is needed).
    pub fn close_batch<D: TxDescriptor, M: DescriptorMemory<D>>(&mut self, mem: &mut M) -> Option<u16> {
        if self.unposted == 0 {
            return None;
        }
        let last = self.wrap(u32::from(self.next_to_use) + u32::from(self.size) - 1);
        let mut desc = mem.read(usize::from(last));
        // RS, and the status cleared: the NIC does not own this slot yet, so
        // any DD in it is stray (an untrusted device may write anywhere in the
        // ring), and left there it would free the batch before it was sent.
        desc.request_status();
        mem.write(usize::from(last), desc);
        self.batch_ends.push_back(last);
        self.unposted = 0;
        Some(self.next_to_use)
    }

    /// Give back every batch whose last descriptor the NIC has marked DD,
    /// oldest first, stopping at the first batch not yet done. Only batch
    /// ends are read, and of them only the status byte; a DD the NIC wrote
    /// anywhere else is never consulted.
    pub fn reclaim<D: TxDescriptor, M: DescriptorMemory<D>>(&mut self, mem: &M) -> Reclaimed {
        let first = self.next_to_clean;
        let mut count: u16 = 0;
        while let Some(&end) = self.batch_ends.front() {
            // Only DD matters here, and a one-byte read of it cannot be torn.
            if !D::done(mem.read_status(usize::from(end))) {
                break;
            }
            let batch_len = self.wrap(u32::from(end) + u32::from(self.size) - u32::from(self.next_to_clean)) + 1;
            self.next_to_clean = self.wrap(u32::from(end) + 1);
            self.in_use -= batch_len;
            count += batch_len;
            self.batch_ends.pop_front();
        }
        if count > 0 {
            // DD says the NIC is done with these slots' descriptors and
            // buffers. The caller reuses both next: keep those accesses after
            // the status loads that vouched for them.
            fence(Ordering::Acquire);
        }
        Reclaimed { first, count }
    }

    /// Check a head index read from the NIC (TDH): it is untrusted input.
    /// Returns it if it lies inside the ring and within the posted region
    /// (from the oldest unreclaimed slot up to the posted tail).
    pub fn check_head(&self, head: u32) -> Option<u16> {
        if head >= u32::from(self.size) {
            return None;
        }
        let head = head as u16;
        let posted_tail = self.wrap(u32::from(self.next_to_use) + u32::from(self.size) - u32::from(self.unposted));
        let span = |from: u16, to: u16| self.wrap(u32::from(to) + u32::from(self.size) - u32::from(from));
        (span(self.next_to_clean, head) <= span(self.next_to_clean, posted_tail)).then_some(head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desc::{TxCmd, TxDesc, TxStatus};
    use crate::memory::doubles::{Access, RecordingMemory};
    use crate::memory::VecMemory;
    use proptest::prelude::*;

    fn frame(n: u64) -> TxDesc {
        TxDesc::single_buffer_frame(0x1000 * (n + 1), 60)
    }

    /// Plays the NIC: processes descriptors from `head` up to `tail` in order,
    /// writing DD where RS is set, as the 8254x does with WTHRESH = 0.
    struct FakeNic {
        head: u16,
        tail: u16,
        processed: Vec<u64>,
    }

    impl FakeNic {
        fn new() -> Self {
            FakeNic { head: 0, tail: 0, processed: Vec::new() }
        }
        fn doorbell(&mut self, tail: u16) {
            self.tail = tail;
        }
        fn step(&mut self, mem: &mut VecMemory<TxDesc>, max: usize) -> usize {
            let size = mem.descs.len() as u16;
            let mut n = 0;
            while self.head != self.tail && n < max {
                let d = &mut mem.descs[usize::from(self.head)];
                self.processed.push(d.buffer_addr);
                if d.cmd.contains(TxCmd::RS) {
                    d.status |= TxStatus::DD;
                }
                self.head = (self.head + 1) % size;
                n += 1;
            }
            n
        }
    }

    #[test]
    fn sizes_must_be_multiples_of_eight_in_range() {
        assert!(TxRing::new(0).is_err());
        assert!(TxRing::new(4).is_err());
        assert!(TxRing::new(12).is_err());
        assert!(TxRing::new(8).is_ok());
        assert!(TxRing::new(512).is_ok());
        assert!(TxRing::new(4096).is_ok());
        assert!(TxRing::new(4104).is_err());
    }

    #[test]
    fn a_full_ring_keeps_one_slot_empty() {
        let mut mem = VecMemory::new(8);
        let mut ring = TxRing::new(8).unwrap();
        for i in 0..7 {
            assert_eq!(ring.push(&mut mem, frame(i)), Some(i as u16));
        }
        assert_eq!(ring.free(), 0);
        assert_eq!(ring.next_slot(), None);
        assert_eq!(ring.push(&mut mem, frame(7)), None);
        assert_eq!(ring.close_batch(&mut mem), Some(7));
    }

    #[test]
    fn rs_is_set_once_per_batch_on_its_last_descriptor() {
        let mut mem = VecMemory::new(16);
        let mut ring = TxRing::new(16).unwrap();
        for i in 0..5 {
            ring.push(&mut mem, frame(i)).unwrap();
        }
        assert_eq!(ring.close_batch(&mut mem), Some(5));
        let rs: Vec<usize> = (0..16).filter(|&i| mem.descs[i].cmd.contains(TxCmd::RS)).collect();
        assert_eq!(rs, vec![4]);
        // A second doorbell with nothing new is not needed.
        assert_eq!(ring.close_batch(&mut mem), None);
    }

    #[test]
    fn nothing_is_reclaimed_before_dd_and_everything_after() {
        let mut mem = VecMemory::new(8);
        let mut ring = TxRing::new(8).unwrap();
        let mut nic = FakeNic::new();
        for i in 0..3 {
            ring.push(&mut mem, frame(i)).unwrap();
        }
        nic.doorbell(ring.close_batch(&mut mem).unwrap());
        assert_eq!(ring.reclaim(&mem).count, 0);
        nic.step(&mut mem, 2);
        assert_eq!(ring.reclaim(&mem).count, 0, "batch only half done");
        nic.step(&mut mem, 1);
        assert_eq!(ring.reclaim(&mem), Reclaimed { first: 0, count: 3 });
        assert!(ring.is_idle());
        assert_eq!(ring.free(), 7);
    }

    #[test]
    fn reclaim_reads_only_the_status_byte_of_batch_ends() {
        let mut mem = RecordingMemory::<TxDesc>::new(8);
        let mut ring = TxRing::new(8).unwrap();
        for i in 0..3 {
            ring.push(&mut mem, frame(i)).unwrap();
        }
        ring.close_batch(&mut mem).unwrap();
        mem.take_log();
        assert_eq!(ring.reclaim(&mem).count, 0);
        assert_eq!(mem.take_log(), vec![Access::Status(2, 0)]);
        mem.inner.descs[2].status |= TxStatus::DD;
        assert_eq!(ring.reclaim(&mem), Reclaimed { first: 0, count: 3 });
        assert_eq!(mem.take_log(), vec![Access::Status(2, 0x01)], "no whole-descriptor read, no other slot");
    }

    #[test]
    fn wraps_around_many_laps_and_clears_stale_dd() {
        let mut mem = VecMemory::new(8);
        let mut ring = TxRing::new(8).unwrap();
        let mut nic = FakeNic::new();
        let mut sent = 0u64;
        for lap in 0..100u64 {
            let n = 1 + lap % 7;
            for _ in 0..n.min(u64::from(ring.free())) {
                ring.push(&mut mem, frame(sent)).unwrap();
                sent += 1;
            }
            if let Some(t) = ring.close_batch(&mut mem) {
                nic.doorbell(t);
            }
            // A stale DD from an earlier lap must not free a slot early:
            // push cleared status, so the NIC must process again first.
            nic.step(&mut mem, usize::MAX);
            ring.reclaim(&mem);
        }
        assert!(ring.is_idle());
        assert_eq!(nic.processed.len() as u64, sent);
        let expected: Vec<u64> = (0..sent).map(|n| 0x1000 * (n + 1)).collect();
        assert_eq!(nic.processed, expected, "frames left the ring in push order");
    }

    #[test]
    fn head_from_the_device_is_bound_checked() {
        let mut mem = VecMemory::new(8);
        let mut ring = TxRing::new(8).unwrap();
        for i in 0..4 {
            ring.push(&mut mem, frame(i)).unwrap();
        }
        ring.close_batch(&mut mem);
        ring.push(&mut mem, frame(4)).unwrap(); // unposted
        assert_eq!(ring.check_head(0), Some(0));
        assert_eq!(ring.check_head(4), Some(4));
        assert_eq!(ring.check_head(5), None, "beyond the posted tail");
        assert_eq!(ring.check_head(8), None, "outside the ring");
        assert_eq!(ring.check_head(u32::MAX), None);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Push(u8),
        Doorbell,
        Nic(u8),
        Reclaim,
        /// The device writes DD on a random descriptor it has no business touching.
        StrayDd(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (1u8..40).prop_map(Op::Push),
            Just(Op::Doorbell),
            (0u8..40).prop_map(Op::Nic),
            Just(Op::Reclaim),
            any::<u8>().prop_map(Op::StrayDd),
        ]
    }

    proptest! {
        /// Model check: whatever the interleaving of pushes, doorbells, device
        /// progress and reclaims, software never overwrites a descriptor the
        /// device has not finished, the device sees frames exactly once and in
        /// order, and the counters stay consistent.
        #[test]
        fn ring_never_hands_out_a_slot_the_nic_still_owns(
            size_eighths in 1u16..8,
            ops in proptest::collection::vec(op(), 1..300),
        ) {
            let size = size_eighths * 8;
            let mut mem = VecMemory::new(usize::from(size));
            let mut ring = TxRing::new(size).unwrap();
            let mut nic = FakeNic::new();
            let mut pushed = 0u64;
            for op in ops {
                match op {
                    Op::Push(n) => {
                        for _ in 0..n {
                            let free_before = ring.free();
                            match ring.push(&mut mem, frame(pushed)) {
                                Some(slot) => {
                                    // The slot must not lie in the NIC's region [head, tail).
                                    let owned = (slot.wrapping_add(size).wrapping_sub(nic.head)) % size
                                        < (nic.tail.wrapping_add(size).wrapping_sub(nic.head)) % size;
                                    prop_assert!(!owned, "slot {slot} still owned by the NIC");
                                    pushed += 1;
                                }
                                None => prop_assert_eq!(free_before, 0),
                            }
                        }
                    }
                    Op::Doorbell => {
                        if let Some(t) = ring.close_batch(&mut mem) {
                            prop_assert!(t < size);
                            nic.doorbell(t);
                        }
                    }
                    Op::Nic(n) => { nic.step(&mut mem, usize::from(n)); }
                    Op::Reclaim => {
                        let r = ring.reclaim(&mem);
                        prop_assert!(r.count < size);
                    }
                    Op::StrayDd(i) => {
                        // A stray DD anywhere but on a posted batch end (where
                        // the device's word is all we have) must not free
                        // anything early.
                        let i = usize::from(i) % usize::from(size);
                        if !mem.descs[i].cmd.contains(TxCmd::RS) {
                            mem.descs[i].status |= TxStatus::DD;
                        }
                    }
                }
                prop_assert_eq!(ring.free() + ring.in_flight() + ring.unposted(), size - 1);
                let hw_pending = (nic.tail + size - nic.head) % size;
                prop_assert!(hw_pending <= ring.in_flight(), "reclaimed ahead of the device");
                if let Some(h) = ring.check_head(u32::from(nic.head)) {
                    prop_assert_eq!(h, nic.head);
                } else {
                    prop_assert!(false, "device head {} rejected", nic.head);
                }
            }
            // Drain: everything pushed must come out, in order, exactly once.
            if let Some(t) = ring.close_batch(&mut mem) { nic.doorbell(t); }
            nic.step(&mut mem, usize::MAX);
            ring.reclaim(&mem);
            prop_assert!(ring.is_idle());
            let expected: Vec<u64> = (0..pushed).map(|n| 0x1000 * (n + 1)).collect();
            prop_assert_eq!(&nic.processed, &expected);
        }
    }
}

/// Device-side fuzzing at scale for TX: a NIC that writes DD anywhere, at any
/// time, and reports any head. The ring never panics, never frees more than it
/// posted, and never reports a head outside the ring.
#[cfg(test)]
mod fuzz {
    use super::*;
    use crate::desc::{TxDesc, TxStatus};
    use crate::memory::VecMemory;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]
        #[test]
        fn a_lying_device_cannot_make_the_ring_overflow(
            eighths in 1u16..8,
            ops in proptest::collection::vec((0u8..4, any::<u16>(), any::<u32>()), 1..400),
        ) {
            let size = eighths * 8;
            let mut ring = TxRing::new(size).unwrap();
            let mut mem = VecMemory::<TxDesc>::new(usize::from(size));
            for (kind, a, b) in ops {
                match kind {
                    0 => { let _ = ring.push(&mut mem, TxDesc::single_buffer_frame(0x1000, 60)); }
                    1 => { let _ = ring.close_batch(&mut mem); }
                    2 => { mem.descs[usize::from(a % size)].status = TxStatus::from_bits_retain(b as u8); }
                    _ => {
                        let r = ring.reclaim(&mem);
                        prop_assert!(r.count < size);
                    }
                }
                if let Some(h) = ring.check_head(b) {
                    prop_assert!(h < size);
                }
                prop_assert!(ring.free() < size);
                prop_assert_eq!(ring.free() + ring.in_flight() + ring.unposted(), size - 1);
            }
        }
    }
}

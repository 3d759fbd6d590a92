//! RX ring index logic, and the checks applied to everything the NIC writes back.
//!
//! The NIC owns the descriptors from RDH up to (not including) RDT and fills
//! them in order; software owns the rest. RDT == RDH would mean "no buffers"
//! to the NIC, so one slot always stays with software: after a batch the tail
//! is set one behind the next descriptor software will look at.
//!
//! The device is untrusted input. A completed descriptor is delivered only if
//! its length fits the buffer and is at least an Ethernet header, EOP is set
//! and no frame-error bit is. Anything else is dropped with a reason. A frame
//! spread over several descriptors (no EOP on the first) cannot happen with
//! zcnic's configuration (2 KiB buffers, long frames off), so it is dropped
//! whole: every descriptor up to and including the one with EOP.
//!
//! Reading order: the NIC writes the status byte with DD last, and DD vouches
//! for the length and errors it wrote before. So the ring reads the status
//! byte alone, and only once it shows DD does it fence and read the rest.

use core::sync::atomic::{fence, Ordering};

use crate::desc::RxDescriptor;
use crate::memory::DescriptorMemory;
use crate::tx::{RingSizeError, MAX_RING_SIZE, MIN_RING_SIZE};

/// Smallest frame delivered: an Ethernet header.
pub const MIN_RX_FRAME: u16 = 14;

/// Why a completed descriptor was not delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RxDrop {
    /// Length zero, shorter than an Ethernet header, or longer than the buffer.
    BadLength,
    /// The NIC flagged a CRC, symbol, sequence, carrier or data error.
    FrameError,
    /// Part of a frame spread over several descriptors.
    MultiDescriptor,
}

/// What [`RxRing::next_completed`] found in the next descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RxCompletion {
    /// A good frame of `len` bytes is in the buffer of `slot`.
    Frame {
        /// The slot (its buffer holds the frame).
        slot: u16,
        /// Frame length, checked to fit the buffer.
        len: u16,
    },
    /// The descriptor in `slot` was dropped.
    Dropped {
        /// The slot.
        slot: u16,
        /// Why.
        reason: RxDrop,
    },
}

/// Index state of an RX descriptor ring.
#[derive(Debug, Clone)]
pub struct RxRing {
    size: u16,
    buffer_len: u16,
    /// Next descriptor to look at for DD.
    next_to_clean: u16,
    /// Descriptors processed since the last refill.
    to_refill: u16,
    /// Inside a multi-descriptor frame that is being dropped.
    discarding: bool,
}

impl RxRing {
    /// A ring of `size` descriptors whose buffers are `buffer_len` bytes each.
    pub fn new(size: u16, buffer_len: u16) -> Result<Self, RingSizeError> {
        if !(MIN_RING_SIZE..=MAX_RING_SIZE).contains(&size) || size % 8 != 0 {
            return Err(RingSizeError(size));
        }
        Ok(RxRing { size, buffer_len, next_to_clean: 0, to_refill: 0, discarding: false })
    }

    /// Number of descriptors.
    pub fn size(&self) -> u16 {
        self.size
    }

    /// Write every descriptor with its slot's buffer and return the first
    /// RDT: `size - 1`, so the NIC owns all slots but the last.
    pub fn init<D: RxDescriptor, M: DescriptorMemory<D>>(
        &mut self,
        mem: &mut M,
        buffer_iova: impl Fn(u16) -> u64,
    ) -> u16 {
        for slot in 0..self.size {
            mem.write(usize::from(slot), D::empty(buffer_iova(slot)));
        }
        self.next_to_clean = 0;
        self.to_refill = 0;
        self.discarding = false;
        self.size - 1
    }

    /// Next descriptor software will look at.
    pub fn next_to_clean(&self) -> u16 {
        self.next_to_clean
    }

    /// Descriptors processed and not yet handed back.
    pub fn pending_refill(&self) -> u16 {
        self.to_refill
    }

    /// Whether the next descriptor is done, without consuming it.
    pub fn has_completed<D: RxDescriptor, M: DescriptorMemory<D>>(&self, mem: &M) -> bool {
        // The slot one behind the tail belongs to software and is never
        // inspected: after size - 1 completions the ring must be refilled.
        // Only the status byte is read: nothing else is looked at here, so no fence is needed.
        self.to_refill < self.size - 1 && D::done(mem.read_status(usize::from(self.next_to_clean)))
    }

    /// Look at the next descriptor: `None` if the NIC has not completed it
    /// (or every buffer is waiting for [`refill`](Self::refill)); otherwise a
    /// checked frame or a drop, and the ring moves on.
    pub fn next_completed<D: RxDescriptor, M: DescriptorMemory<D>>(&mut self, mem: &M) -> Option<RxCompletion> {
        if self.to_refill >= self.size - 1 {
            return None;
        }
        let slot = self.next_to_clean;
        // The status byte alone first: the NIC writes DD last, so until DD
        // shows, the length and errors may be from before the write-back.
        let status = mem.read_status(usize::from(slot));
        if !D::done(status) {
            return None;
        }
        // DD seen: keep the loads of the rest after the status load (on
        // weakly ordered CPUs they could otherwise be satisfied earlier, from
        // before the write-back), then read the write-back DD vouches for.
        fence(Ordering::Acquire);
        let desc = mem.read(usize::from(slot));
        self.next_to_clean = (slot + 1) % self.size;
        self.to_refill += 1;
        // EOP comes from the same status byte as the DD that was checked.
        let eop = D::end_of_packet(status);
        if self.discarding || !eop {
            // Drop every descriptor of a multi-descriptor frame, through its EOP.
            self.discarding = !eop;
            return Some(RxCompletion::Dropped { slot, reason: RxDrop::MultiDescriptor });
        }
        if desc.frame_error() {
            return Some(RxCompletion::Dropped { slot, reason: RxDrop::FrameError });
        }
        let len = desc.length();
        if len < MIN_RX_FRAME || len > self.buffer_len {
            return Some(RxCompletion::Dropped { slot, reason: RxDrop::BadLength });
        }
        Some(RxCompletion::Frame { slot, len })
    }

    /// Hand every processed slot back to the NIC (buffer address rewritten,
    /// write-back fields cleared) and return the new RDT, or `None` if there
    /// was nothing to hand back (then no doorbell is needed).
    pub fn refill<D: RxDescriptor, M: DescriptorMemory<D>>(
        &mut self,
        mem: &mut M,
        buffer_iova: impl Fn(u16) -> u64,
    ) -> Option<u16> {
        if self.to_refill == 0 {
            return None;
        }
        let size = u32::from(self.size);
        let first = (u32::from(self.next_to_clean) + size - u32::from(self.to_refill)) % size;
        for i in 0..u32::from(self.to_refill) {
            let slot = ((first + i) % size) as u16;
            mem.write(usize::from(slot), D::empty(buffer_iova(slot)));
        }
        self.to_refill = 0;
        Some(((u32::from(self.next_to_clean) + size - 1) % size) as u16)
    }

    /// Check a head index read from the NIC (RDH): untrusted input, used
    /// only for diagnostics. `None` if it lies outside the ring.
    pub fn check_head(&self, head: u32) -> Option<u16> {
        (head < u32::from(self.size)).then_some(head as u16)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desc::{LegacyRxDesc, RxErrors, RxStatus};
    use crate::memory::doubles::{assert_full_reads_follow_dd, Access, RecordingMemory};
    use crate::memory::VecMemory;
    use proptest::prelude::*;

    const BUF: u16 = 2048;

    fn iova(slot: u16) -> u64 {
        0x10_0000 + u64::from(slot) * u64::from(BUF)
    }

    /// Plays the NIC: fills descriptors from `head` while head != tail.
    struct FakeNic {
        head: u16,
        tail: u16,
    }

    impl FakeNic {
        /// Write one completed descriptor; false if the NIC has no buffer (RDH == RDT).
        fn receive(&mut self, mem: &mut VecMemory<LegacyRxDesc>, len: u16, status: RxStatus, errors: RxErrors) -> bool {
            if self.head == self.tail {
                return false;
            }
            let d = &mut mem.descs[usize::from(self.head)];
            assert_eq!(d.status, RxStatus::empty(), "the NIC was given a descriptor that was not cleared");
            assert_eq!(d.buffer_addr, iova(self.head), "descriptor lost its buffer");
            d.length = len;
            d.status = status;
            d.errors = errors;
            self.head = (self.head + 1) % mem.descs.len() as u16;
            true
        }
        fn good(&mut self, mem: &mut VecMemory<LegacyRxDesc>, len: u16) -> bool {
            self.receive(mem, len, RxStatus::DD | RxStatus::EOP, RxErrors::empty())
        }
    }

    fn setup(size: u16) -> (RxRing, VecMemory<LegacyRxDesc>, FakeNic) {
        let mut ring = RxRing::new(size, BUF).unwrap();
        let mut mem = VecMemory::new(usize::from(size));
        let tail = ring.init(&mut mem, iova);
        (ring, mem, FakeNic { head: 0, tail })
    }

    #[test]
    fn the_nic_gets_all_buffers_but_one() {
        let (_, mem, mut nic) = setup(8);
        assert_eq!(nic.tail, 7);
        let mut mem = mem;
        let n = (0..100).take_while(|_| nic.good(&mut mem, 60)).count();
        assert_eq!(n, 7);
    }

    #[test]
    fn good_frames_are_delivered_in_order_and_the_tail_follows() {
        let (mut ring, mut mem, mut nic) = setup(8);
        for len in [60, 1514, 14] {
            assert!(nic.good(&mut mem, len));
        }
        let got: Vec<_> = std::iter::from_fn(|| ring.next_completed(&mem)).collect();
        assert_eq!(
            got,
            vec![
                RxCompletion::Frame { slot: 0, len: 60 },
                RxCompletion::Frame { slot: 1, len: 1514 },
                RxCompletion::Frame { slot: 2, len: 14 },
            ]
        );
        let tail = ring.refill(&mut mem, iova).unwrap();
        assert_eq!(tail, 2, "one behind the next slot to look at");
        assert_eq!(ring.refill(&mut mem, iova), None, "no second doorbell without work");
    }

    #[test]
    fn bad_write_backs_are_dropped_with_a_reason_and_never_read_past_the_buffer() {
        let (mut ring, mut mem, mut nic) = setup(16);
        let dd_eop = RxStatus::DD | RxStatus::EOP;
        let none = RxErrors::empty();
        nic.receive(&mut mem, 0, dd_eop, none);
        nic.receive(&mut mem, 13, dd_eop, none);
        nic.receive(&mut mem, BUF + 1, dd_eop, none);
        nic.receive(&mut mem, u16::MAX, dd_eop, none);
        nic.receive(&mut mem, 100, dd_eop, RxErrors::CE);
        nic.receive(&mut mem, 100, dd_eop, RxErrors::RXE);
        // A frame over three descriptors: dropped whole.
        nic.receive(&mut mem, BUF, RxStatus::DD, none);
        nic.receive(&mut mem, BUF, RxStatus::DD, none);
        nic.receive(&mut mem, 10, dd_eop, none);
        // Then a good one, which must still come through.
        nic.receive(&mut mem, 200, dd_eop, none);
        let got: Vec<_> = std::iter::from_fn(|| ring.next_completed(&mem)).collect();
        use RxCompletion::*;
        use RxDrop::*;
        assert_eq!(
            got,
            vec![
                Dropped { slot: 0, reason: BadLength },
                Dropped { slot: 1, reason: BadLength },
                Dropped { slot: 2, reason: BadLength },
                Dropped { slot: 3, reason: BadLength },
                Dropped { slot: 4, reason: FrameError },
                Dropped { slot: 5, reason: FrameError },
                Dropped { slot: 6, reason: MultiDescriptor },
                Dropped { slot: 7, reason: MultiDescriptor },
                Dropped { slot: 8, reason: MultiDescriptor },
                Frame { slot: 9, len: 200 },
            ]
        );
    }

    #[test]
    fn a_full_ring_stops_at_the_slot_software_keeps() {
        let (mut ring, mut mem, mut nic) = setup(8);
        while nic.good(&mut mem, 60) {}
        // A device that (wrongly) marks the kept slot done is not believed.
        mem.descs[7].status = RxStatus::DD | RxStatus::EOP;
        mem.descs[7].length = 60;
        let n = std::iter::from_fn(|| ring.next_completed(&mem)).count();
        assert_eq!(n, 7);
        assert!(!ring.has_completed(&mem));
    }

    #[test]
    fn the_status_byte_is_read_alone_first_and_the_rest_only_after_dd() {
        let mut ring = RxRing::new(8, BUF).unwrap();
        let mut mem = RecordingMemory::<LegacyRxDesc>::new(8);
        let mut nic = FakeNic { head: 0, tail: ring.init(&mut mem, iova) };
        mem.take_log();

        assert_eq!(ring.next_completed(&mem), None);
        assert!(!ring.has_completed(&mem));
        assert_eq!(mem.take_log(), vec![Access::Status(0, 0), Access::Status(0, 0)], "no whole read without DD");

        nic.good(&mut mem.inner, 60);
        assert!(ring.has_completed(&mem));
        assert_eq!(mem.take_log(), vec![Access::Status(0, 0x03)], "has_completed reads the status byte only");
        assert_eq!(ring.next_completed(&mem), Some(RxCompletion::Frame { slot: 0, len: 60 }));
        assert_eq!(mem.take_log(), vec![Access::Status(0, 0x03), Access::Full(0)]);
    }

    /// DMA memory as a weakly ordered CPU may see it while the NIC writes
    /// descriptor 0 back: the write-back becomes visible at access number
    /// `lands_at`, and a whole-descriptor read is several loads, of which the
    /// length and errors may be satisfied one access earlier than the status
    /// byte. A status byte read alone is one load and never torn.
    struct LandingWriteBack {
        before: LegacyRxDesc,
        after: LegacyRxDesc,
        lands_at: usize,
        clock: std::cell::Cell<usize>,
    }

    impl LandingWriteBack {
        fn tick(&self) -> usize {
            let now = self.clock.get();
            self.clock.set(now + 1);
            now
        }
        fn as_of(&self, index: usize, time: usize) -> LegacyRxDesc {
            assert!(index < 8);
            if index == 0 && time >= self.lands_at {
                self.after
            } else {
                self.before
            }
        }
    }

    impl DescriptorMemory<LegacyRxDesc> for LandingWriteBack {
        fn len(&self) -> usize {
            8
        }
        fn read(&self, index: usize) -> LegacyRxDesc {
            let now = self.tick();
            let earlier = self.as_of(index, now.saturating_sub(1));
            LegacyRxDesc { length: earlier.length, errors: earlier.errors, ..self.as_of(index, now) }
        }
        fn read_status(&self, index: usize) -> u8 {
            self.as_of(index, self.tick()).status.bits()
        }
        fn write(&mut self, _: usize, _: LegacyRxDesc) {
            unreachable!("polling never writes");
        }
    }

    #[test]
    fn a_write_back_landing_mid_poll_is_never_seen_half_done() {
        // Deciding on DD from a whole-descriptor read fails this test: it
        // pairs a fresh DD with the stale length 0 and drops a good frame.
        for lands_at in 0..6 {
            let mem = LandingWriteBack {
                before: LegacyRxDesc::empty(iova(0)),
                after: LegacyRxDesc {
                    length: 60,
                    status: RxStatus::DD | RxStatus::EOP,
                    ..LegacyRxDesc::empty(iova(0))
                },
                lands_at,
                clock: std::cell::Cell::new(0),
            };
            let mut ring = RxRing::new(8, BUF).unwrap();
            let first = (0..10).find_map(|_| ring.next_completed(&mem));
            assert_eq!(
                first,
                Some(RxCompletion::Frame { slot: 0, len: 60 }),
                "write-back landing at access {lands_at}"
            );
        }
    }

    proptest! {
        /// Whatever the mix of arrivals, processing and refills: every frame
        /// the fake NIC wrote is seen exactly once and in order, the tail
        /// written is never the NIC's head unless the NIC has used every
        /// buffer, and a delivered length always fits the buffer.
        #[test]
        fn frames_come_out_once_in_order(
            eighths in 1u16..6,
            ops in proptest::collection::vec((0u8..3, 0u16..3000, 0u8..4), 1..400),
        ) {
            let size = eighths * 8;
            let (mut ring, vec_mem, mut nic) = setup(size);
            // The same memory, logging accesses: every whole read must follow a DD.
            let mut mem = RecordingMemory::wrap(vec_mem);
            let mut written: Vec<u16> = Vec::new();
            let mut seen: Vec<u16> = Vec::new();
            let mut next_len_id = 0u16;
            for (kind, len, n) in ops {
                match kind {
                    0 => {
                        for _ in 0..n {
                            // Tag good frames by a length in 14..=2048 that encodes their order.
                            let l = 14 + (next_len_id % 2000);
                            if nic.good(&mut mem.inner, l) { written.push(l); next_len_id += 1; }
                        }
                    }
                    1 => {
                        // A corrupt write-back: dropped, not counted as written.
                        let bad_len = if len > BUF { len } else { 5 };
                        nic.receive(&mut mem.inner, bad_len, RxStatus::DD | RxStatus::EOP, RxErrors::empty());
                    }
                    _ => {
                        while let Some(c) = ring.next_completed(&mem) {
                            if let RxCompletion::Frame { len, .. } = c {
                                prop_assert!((MIN_RX_FRAME..=BUF).contains(&len));
                                seen.push(len);
                            }
                        }
                        if let Some(t) = ring.refill(&mut mem, iova) {
                            prop_assert!(t < size);
                            prop_assert!(t != nic.head, "RDT written equal to RDH");
                            nic.tail = t;
                        }
                    }
                }
            }
            while let Some(c) = ring.next_completed(&mem) {
                if let RxCompletion::Frame { len, .. } = c { seen.push(len); }
            }
            prop_assert_eq!(seen, written);
            assert_full_reads_follow_dd(&mem.take_log());
        }
    }
}

/// Device-side fuzzing at scale: the NIC writes arbitrary bytes into every
/// descriptor it owns, in any order, and reports arbitrary head indexes. The
/// ring must never panic, never deliver a length outside its buffer or from a
/// slot it does not own, and account for every descriptor it consumed.
#[cfg(test)]
mod fuzz {
    use super::*;
    use crate::desc::{LegacyRxDesc, RxErrors, RxStatus};
    use crate::memory::VecMemory;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 5000, ..ProptestConfig::default() })]
        #[test]
        fn arbitrary_write_backs_never_escape_the_buffer(
            eighths in 1u16..8,
            buffer_len in prop_oneof![Just(2048u16), 1u16..4096],
            rounds in proptest::collection::vec(
                (proptest::collection::vec((any::<u16>(), any::<u8>(), any::<u8>(), any::<u16>()), 0..80), any::<u32>()),
                1..20,
            ),
        ) {
            let size = eighths * 8;
            let mut ring = RxRing::new(size, buffer_len).unwrap();
            let mut mem = VecMemory::<LegacyRxDesc>::new(usize::from(size));
            let iova = |s: u16| 0x20_0000 + u64::from(s) * 4096;
            ring.init(&mut mem, iova);
            let mut consumed = 0u64;
            let mut outcomes = 0u64;
            for (writes, head) in rounds {
                // The device scribbles over descriptors (any slot, any bytes).
                for (slot_sel, status, errors, length) in writes {
                    let slot = usize::from(slot_sel % size);
                    let d = &mut mem.descs[slot];
                    d.status = RxStatus::from_bits_retain(status);
                    d.errors = RxErrors::from_bits_retain(errors);
                    d.length = length;
                    d.csum = slot_sel;
                }
                // An arbitrary RDH read back is bound-checked.
                match ring.check_head(head) {
                    Some(h) => prop_assert!(h < size),
                    None => prop_assert!(head >= u32::from(size)),
                }
                let before = ring.next_to_clean();
                while let Some(c) = ring.next_completed(&mem) {
                    outcomes += 1;
                    match c {
                        RxCompletion::Frame { slot, len } => {
                            prop_assert!(slot < size);
                            prop_assert!(len >= MIN_RX_FRAME && len <= buffer_len, "len {} escapes a {}-byte buffer", len, buffer_len);
                            let d = mem.descs[usize::from(slot)];
                            prop_assert!(d.status.contains(RxStatus::DD | RxStatus::EOP));
                        }
                        RxCompletion::Dropped { slot, .. } => prop_assert!(slot < size),
                    }
                }
                consumed += u64::from((ring.next_to_clean() + size - before) % size);
                if let Some(t) = ring.refill(&mut mem, iova) {
                    prop_assert!(t < size);
                    // The new tail is the last refilled slot: clean, with its own buffer.
                    let d = mem.descs[usize::from(t)];
                    prop_assert_eq!(d.status, RxStatus::empty());
                    prop_assert_eq!(d.buffer_addr, iova(t));
                }
                prop_assert!(ring.pending_refill() == 0);
            }
            // Every completion consumed exactly one descriptor (mod wrap-arounds).
            prop_assert_eq!(consumed % u64::from(size), outcomes % u64::from(size));
        }
    }
}

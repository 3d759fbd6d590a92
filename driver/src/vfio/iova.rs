//! IOVA allocation: where in the device's address space each DMA mapping goes.
//!
//! zcnic never uses a virtual address as an IOVA: a 47-bit user address does
//! not fit an IOMMU that is 39 bits wide (QEMU 7.2's default; many real
//! IOMMUs are 39 or 48 bits), and the IOMMU
//! reserves some ranges (the MSI window at 0xfee00000 on x86). Instead the
//! allocator hands out aligned blocks from the ranges VFIO reports as valid.

use std::ops::Range;

/// Every IOVA below this is kept unused, so that a zeroed or garbage small
/// address in a descriptor is never a valid DMA target.
pub(crate) const IOVA_FLOOR: u64 = 2 << 20;

/// A first-fit allocator over a set of free IOVA ranges.
#[derive(Debug, Clone)]
pub(crate) struct IovaAllocator {
    /// Free ranges, sorted, disjoint, never adjacent (merged on free).
    free: Vec<Range<u64>>,
}

impl IovaAllocator {
    /// An allocator over `valid` ranges (half-open), less everything below [`IOVA_FLOOR`].
    pub(crate) fn new(valid: &[Range<u64>]) -> Self {
        let mut free: Vec<Range<u64>> =
            valid.iter().map(|r| r.start.max(IOVA_FLOOR)..r.end).filter(|r| r.start < r.end).collect();
        free.sort_by_key(|r| r.start);
        let mut merged: Vec<Range<u64>> = Vec::with_capacity(free.len());
        for r in free {
            match merged.last_mut() {
                Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
                _ => merged.push(r),
            }
        }
        IovaAllocator { free: merged }
    }

    /// Take `len` bytes aligned to `align` (a power of two). `None` if no free
    /// range can hold them.
    pub(crate) fn alloc(&mut self, len: u64, align: u64) -> Option<u64> {
        assert!(align.is_power_of_two(), "alignment must be a power of two");
        if len == 0 {
            return None;
        }
        for i in 0..self.free.len() {
            let r = self.free[i].clone();
            let start = r.start.checked_add(align - 1)? & !(align - 1);
            let Some(end) = start.checked_add(len) else {
                continue;
            };
            if end > r.end {
                continue;
            }
            // Split the free range around [start, end).
            let mut pieces = Vec::with_capacity(2);
            if r.start < start {
                pieces.push(r.start..start);
            }
            if end < r.end {
                pieces.push(end..r.end);
            }
            self.free.splice(i..=i, pieces);
            return Some(start);
        }
        None
    }

    /// Give back `len` bytes at `iova`, which must have come from [`alloc`](Self::alloc)
    /// and not been freed since.
    pub(crate) fn free(&mut self, iova: u64, len: u64) {
        let new = iova..iova + len;
        let pos = self.free.partition_point(|r| r.start < new.start);
        debug_assert!(pos == 0 || self.free[pos - 1].end <= new.start, "double free of IOVA {iova:#x}");
        debug_assert!(pos == self.free.len() || new.end <= self.free[pos].start, "double free of IOVA {iova:#x}");
        self.free.insert(pos, new);
        // Merge with the neighbours.
        if pos + 1 < self.free.len() && self.free[pos].end == self.free[pos + 1].start {
            self.free[pos].end = self.free[pos + 1].end;
            self.free.remove(pos + 1);
        }
        if pos > 0 && self.free[pos - 1].end == self.free[pos].start {
            self.free[pos - 1].end = self.free[pos].end;
            self.free.remove(pos);
        }
    }

    /// Total free bytes.
    #[cfg(test)]
    pub(crate) fn free_bytes(&self) -> u64 {
        self.free.iter().map(|r| r.end - r.start).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MIB2: u64 = 2 << 20;

    #[test]
    fn never_hands_out_iova_zero_or_the_msi_window() {
        // The ranges QEMU's intel-iommu reports (inclusive ends made half-open).
        let valid = [0..0xfee0_0000, 0xfef0_0000..(1 << 39)];
        let mut a = IovaAllocator::new(&valid);
        let first = a.alloc(MIB2, MIB2).unwrap();
        assert_eq!(first, IOVA_FLOOR);
        // Fill the low range; the next block must skip the MSI hole.
        let mut last = first;
        while let Some(iova) = a.alloc(MIB2, MIB2) {
            assert!(iova + MIB2 <= 0xfee0_0000 || iova >= 0xfef0_0000, "{iova:#x}");
            assert!(iova + MIB2 <= 1 << 39);
            last = iova;
            if iova > 0x1_0000_0000 {
                break;
            }
        }
        assert!(last >= 0xfef0_0000);
    }

    #[test]
    fn alignment_is_honoured_and_free_merges() {
        let mut a = IovaAllocator::new(&[0..(64 << 20)]);
        let total = a.free_bytes();
        let x = a.alloc(4096, 4096).unwrap();
        let y = a.alloc(MIB2, MIB2).unwrap();
        assert_eq!(y % MIB2, 0);
        assert!(y >= x + 4096);
        a.free(x, 4096);
        a.free(y, MIB2);
        assert_eq!(a.free_bytes(), total);
        assert_eq!(a.free.len(), 1, "freed blocks merge back into one range");
    }

    #[test]
    fn exhaustion_returns_none() {
        let mut a = IovaAllocator::new(&[0..(4 << 20)]);
        assert!(a.alloc(MIB2, MIB2).is_some());
        assert!(a.alloc(MIB2, MIB2).is_none());
        assert!(a.alloc(0, 4096).is_none());
    }

    proptest! {
        /// Live allocations never overlap, stay in the valid ranges, and
        /// freeing everything restores the free space exactly.
        #[test]
        fn allocations_are_disjoint_and_in_range(
            ops in proptest::collection::vec((1u64..64, 0u32..4, any::<bool>()), 1..200)
        ) {
            let valid = [0..(64 << 20), (80 << 20)..(96 << 20)];
            let mut a = IovaAllocator::new(&valid);
            let total = a.free_bytes();
            let mut live: Vec<(u64, u64)> = Vec::new();
            for (pages, align_shift, free_one) in ops {
                if free_one && !live.is_empty() {
                    let (iova, len) = live.swap_remove(0);
                    a.free(iova, len);
                    continue;
                }
                let len = pages * 4096;
                let align = 4096u64 << (align_shift * 3);
                if let Some(iova) = a.alloc(len, align) {
                    prop_assert_eq!(iova % align, 0);
                    prop_assert!(iova >= IOVA_FLOOR);
                    prop_assert!(valid.iter().any(|r| r.start <= iova && iova + len <= r.end));
                    for &(o, ol) in &live {
                        prop_assert!(iova + len <= o || o + ol <= iova, "overlap");
                    }
                    live.push((iova, len));
                }
            }
            for (iova, len) in live {
                a.free(iova, len);
            }
            prop_assert_eq!(a.free_bytes(), total);
        }
    }
}

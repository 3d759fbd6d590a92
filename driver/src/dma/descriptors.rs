//! A ring of descriptors inside a device-writable DMA mapping.

use std::marker::PhantomData;

use zcnic_ring::{Descriptor, DescriptorMemory};

use super::DmaMapping;
use crate::vfio::DmaAccess;

/// `count` descriptors of type `D` at byte `offset` of a mapping, accessed
/// only with volatile reads and writes (the NIC changes them behind our back).
/// A view is cheap: the driver makes one per ring operation, so several rings
/// can share one mapping without sharing ownership of it.
#[derive(Debug)]
pub(crate) struct DescriptorView<'a, D> {
    mapping: &'a DmaMapping,
    offset: usize,
    count: usize,
    _desc: PhantomData<D>,
}

impl<'a, D: Copy> DescriptorView<'a, D> {
    /// Panics if the ring does not fit, is misaligned, or the mapping is
    /// device-read-only (the NIC must be able to write status back).
    pub(crate) fn new(mapping: &'a DmaMapping, offset: usize, count: usize) -> Self {
        assert_eq!(mapping.access, DmaAccess::DeviceReadsWrites, "descriptors must be device-writable");
        assert_eq!(offset % 128, 0, "rings are 128-byte aligned");
        let _ = mapping.span(offset, (count * std::mem::size_of::<D>()) as u32);
        DescriptorView { mapping, offset, count, _desc: PhantomData }
    }

    /// IOVA of the first descriptor (for the base address registers).
    pub(crate) fn iova(&self) -> u64 {
        self.mapping.iova() + self.offset as u64
    }

    /// Size of the ring in bytes (for the length register).
    pub(crate) fn byte_len(&self) -> usize {
        self.count * std::mem::size_of::<D>()
    }

    fn offset_of(&self, index: usize) -> usize {
        assert!(index < self.count, "descriptor index {index} outside a ring of {}", self.count);
        self.offset + index * std::mem::size_of::<D>()
    }
}

impl<D: Descriptor> DescriptorMemory<D> for DescriptorView<'_, D> {
    fn len(&self) -> usize {
        self.count
    }

    fn read_status(&self, index: usize) -> u8 {
        // One single-byte volatile read: the DD bit in it vouches for the rest.
        self.mapping.read_volatile(self.offset_of(index) + D::STATUS_OFFSET)
    }

    fn read(&self, index: usize) -> D {
        self.mapping.read_volatile(self.offset_of(index))
    }

    fn write(&mut self, index: usize, desc: D) {
        // The ring logic writes only slots the NIC does not own.
        self.mapping.write_volatile(self.offset_of(index), desc)
    }
}

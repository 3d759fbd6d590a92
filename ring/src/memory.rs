//! Where descriptors live: the one seam between ring logic and memory.

/// Indexed storage for descriptors of type `D`.
///
/// The driver implements this over DMA memory that the NIC reads and writes,
/// using volatile accesses (the NIC changes status bytes behind the CPU's
/// back, so ordinary references to that memory are never formed). Tests and
/// benchmarks use [`VecMemory`].
///
/// Implementations must panic on an index `>= len()`: an index bug must never
/// turn into an access outside the ring.
pub trait DescriptorMemory<D: Copy> {
    /// Number of descriptors in the ring.
    fn len(&self) -> usize;
    /// Read descriptor `index` as it is now in memory.
    fn read(&self, index: usize) -> D;
    /// Write descriptor `index`.
    fn write(&mut self, index: usize, desc: D);
    /// Whether the ring has no descriptors (never true for a valid ring).
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Descriptors in an ordinary vector: a stand-in for DMA memory in tests and
/// benchmarks, where the test code plays the NIC.
#[derive(Debug, Clone)]
pub struct VecMemory<D> {
    /// The descriptors; public so a test can act as the device.
    pub descs: Vec<D>,
}

impl<D: Copy + Default> VecMemory<D> {
    /// `len` zeroed descriptors.
    pub fn new(len: usize) -> Self {
        VecMemory { descs: vec![D::default(); len] }
    }
}

impl<D: Copy> DescriptorMemory<D> for VecMemory<D> {
    fn len(&self) -> usize {
        self.descs.len()
    }
    fn read(&self, index: usize) -> D {
        self.descs[index]
    }
    fn write(&mut self, index: usize, desc: D) {
        self.descs[index] = desc;
    }
}

//! Where descriptors live: the one seam between ring logic and memory.

use crate::desc::Descriptor;

/// Indexed storage for descriptors of type `D`.
///
/// The driver implements this over DMA memory that the NIC reads and writes,
/// using volatile accesses (the NIC changes status bytes behind the CPU's
/// back, so ordinary references to that memory are never formed). Tests and
/// benchmarks use [`VecMemory`].
///
/// Implementations must panic on an index `>= len()`: an index bug must never
/// turn into an access outside the ring.
pub trait DescriptorMemory<D: Descriptor> {
    /// Number of descriptors in the ring.
    fn len(&self) -> usize;
    /// Read descriptor `index` as it is now in memory.
    ///
    /// Over DMA memory this is several loads in no guaranteed order, so it
    /// may mix bytes from before and after a write-back by the NIC. The ring
    /// calls it on a descriptor the NIC writes back only after
    /// [`read_status`](Self::read_status) has shown DD and an acquire fence.
    fn read(&self, index: usize) -> D;
    /// Read only the status byte of descriptor `index` (at
    /// [`Descriptor::STATUS_OFFSET`]) as it is now in memory: one byte, one
    /// load, so it is never torn.
    ///
    /// The NIC writes DD last, and DD vouches for the rest of the write-back.
    /// Reading the whole descriptor to look at DD could load the other bytes
    /// before the status byte, from before the write-back. There is on purpose
    /// no default built on [`read`](Self::read): that would bring the torn
    /// read back unnoticed.
    fn read_status(&self, index: usize) -> u8;
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

impl<D: Descriptor> DescriptorMemory<D> for VecMemory<D> {
    fn len(&self) -> usize {
        self.descs.len()
    }
    fn read(&self, index: usize) -> D {
        self.descs[index]
    }
    fn read_status(&self, index: usize) -> u8 {
        self.descs[index].status_byte()
    }
    fn write(&mut self, index: usize, desc: D) {
        self.descs[index] = desc;
    }
}

/// Test doubles that observe how the ring reaches descriptor memory.
#[cfg(test)]
pub(crate) mod doubles {
    use super::*;
    use std::cell::RefCell;

    /// One access the ring made, with the descriptor index (and for a
    /// status read, the byte it returned).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) enum Access {
        Status(usize, u8),
        Full(usize),
        Write(usize),
    }

    /// Panics unless every whole-descriptor read comes straight after a
    /// status read of the same descriptor that showed DD (bit 0 in both
    /// descriptor formats).
    pub(crate) fn assert_full_reads_follow_dd(log: &[Access]) {
        for (k, access) in log.iter().enumerate() {
            if let Access::Full(i) = *access {
                let before = k.checked_sub(1).map(|j| log[j]);
                assert!(
                    matches!(before, Some(Access::Status(j, s)) if j == i && s & 1 != 0),
                    "descriptor {i} read whole without a DD status read just before it: {log:?}"
                );
            }
        }
    }

    /// [`VecMemory`] that logs every access in order.
    pub(crate) struct RecordingMemory<D> {
        pub(crate) inner: VecMemory<D>,
        log: RefCell<Vec<Access>>,
    }

    impl<D: Copy + Default> RecordingMemory<D> {
        pub(crate) fn new(len: usize) -> Self {
            Self::wrap(VecMemory::new(len))
        }
    }

    impl<D> RecordingMemory<D> {
        /// Log the accesses to `inner` from now on.
        pub(crate) fn wrap(inner: VecMemory<D>) -> Self {
            RecordingMemory { inner, log: RefCell::new(Vec::new()) }
        }
        /// The accesses since the last call, oldest first.
        pub(crate) fn take_log(&self) -> Vec<Access> {
            self.log.take()
        }
    }

    impl<D: Descriptor> DescriptorMemory<D> for RecordingMemory<D> {
        fn len(&self) -> usize {
            self.inner.len()
        }
        fn read(&self, index: usize) -> D {
            self.log.borrow_mut().push(Access::Full(index));
            self.inner.read(index)
        }
        fn read_status(&self, index: usize) -> u8 {
            let byte = self.inner.read_status(index);
            self.log.borrow_mut().push(Access::Status(index, byte));
            byte
        }
        fn write(&mut self, index: usize, desc: D) {
            self.log.get_mut().push(Access::Write(index));
            self.inner.write(index, desc);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desc::{LegacyRxDesc, RxStatus, TxDesc};

    #[test]
    #[should_panic]
    fn vec_memory_panics_on_a_status_read_outside_the_ring() {
        let mem = VecMemory::<LegacyRxDesc>::new(8);
        mem.read_status(8);
    }

    #[test]
    fn read_status_is_the_byte_at_the_status_offset() {
        let mut mem = VecMemory::<LegacyRxDesc>::new(8);
        mem.descs[3].status = RxStatus::DD | RxStatus::EOP;
        mem.descs[3].length = 0xffff;
        assert_eq!(mem.read_status(3), 0x03);
        assert_eq!(mem.read_status(2), 0);
        let tx = VecMemory::<TxDesc>::new(8);
        assert_eq!(tx.read_status(7), 0);
    }
}

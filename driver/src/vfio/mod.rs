//! VFIO: the container (an IOMMU address space and the allocator of IOVAs in
//! it), the group (the unit the IOMMU isolates), the device (its regions,
//! config space and bus mastering) and its interrupts.
//!
//! Everything here is crate-private but [`IrqMode`] and
//! [`live_dma_mappings`]: no safe public API can map or unmap DMA memory.

mod container;
mod device;
mod group;
mod iova;
mod irq;

pub use container::{live_dma_mappings, time_mapping_dma, locked_memory_peak};
pub(crate) use container::{Container, DmaAccess};
pub(crate) use device::{BusMaster, Device, IoBar};
pub(crate) use group::Group;
pub(crate) use irq::Interrupt;
pub use irq::{IrqChoice, IrqMode};

//! DMA memory: pinned, IOMMU-mapped memory the NIC can reach, and the IOVA
//! allocator that decides where it appears in the NIC's address space.

pub mod iova;
mod region;

pub use region::{DescriptorView, DmaRegion, PageKind};

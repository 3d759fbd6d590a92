//! VFIO: the container (an IOMMU address space), the group (the unit the
//! IOMMU isolates) and the device (regions, config space).

mod container;
mod device;
mod group;
pub(crate) mod ioctl;
mod irq;

pub use container::{parse_iova_ranges, Container, DmaAccess};
pub use device::{Device, RegionInfo};
pub use group::Group;
pub use irq::{Interrupt, IrqMode};

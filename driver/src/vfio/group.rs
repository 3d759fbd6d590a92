//! The VFIO group: the set of devices the IOMMU can isolate, opened as
//! `/dev/vfio/N`, checked viable, attached to a fresh container.

use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::sync::Arc;

use vfio_bindings::bindings::vfio::VFIO_GROUP_FLAGS_VIABLE;

use super::container::{open_vfio_file, Container};
use crate::error::Error;
use crate::pci::sysfs::Sysfs;
use crate::pci::PciAddress;
use crate::sys::vfio as ioctl;

/// An open, viable VFIO group attached to its own container.
#[derive(Debug)]
pub(crate) struct Group {
    fd: OwnedFd,
    id: u32,
    container: Arc<Container>,
}

impl Group {
    /// Open group `id`, check that it is viable and give it a container with
    /// the Type1v2 IOMMU.
    pub(crate) fn open(id: u32, sysfs: &Sysfs) -> Result<Group, Error> {
        let container_fd = Container::open_fd()?;
        let path = PathBuf::from(format!("/dev/vfio/{id}"));
        let fd = open_vfio_file(&path)?;
        let flags = ioctl::group_get_status(fd.as_fd()).map_err(Error::os("VFIO_GROUP_GET_STATUS"))?;
        if flags & VFIO_GROUP_FLAGS_VIABLE == 0 {
            return Err(Error::GroupNotViable { group: id, members: sysfs.group_members(id) });
        }
        ioctl::group_set_container(fd.as_fd(), container_fd.as_fd()).map_err(Error::os("VFIO_GROUP_SET_CONTAINER"))?;
        let container = Arc::new(Container::with_group_attached(container_fd)?);
        Ok(Group { fd, id, container })
    }

    /// The container (IOMMU address space) the group is attached to.
    pub(crate) fn container(&self) -> &Arc<Container> {
        &self.container
    }

    pub(crate) fn device_fd(&self, addr: &PciAddress) -> Result<OwnedFd, Error> {
        let name = CString::new(addr.to_string()).expect("a formatted PCI address has no NUL");
        ioctl::group_get_device_fd(self.fd.as_fd(), &name).map_err(|e| match e.raw_os_error() {
            Some(libc::EBUSY) => Error::GroupBusy { path: PathBuf::from(format!("/dev/vfio/{}", self.id)) },
            _ => Error::Os { what: "VFIO_GROUP_GET_DEVICE_FD", source: e },
        })
    }
}

//! The raw VFIO ioctls: the only place in zcnic that spells one.
//!
//! Every VFIO ioctl is `_IO(';', 100 + n)`: no size or direction is encoded,
//! the structures carry their own `argsz`.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use vfio_bindings::bindings::vfio::{
    vfio_device_info, vfio_group_status, vfio_iommu_type1_dma_map, vfio_iommu_type1_dma_unmap, vfio_region_info,
};

const VFIO_TYPE: u32 = b';' as u32;
const VFIO_BASE: u32 = 100;

const fn vfio_io(n: u32) -> libc::c_ulong {
    ((VFIO_TYPE << 8) | (VFIO_BASE + n)) as libc::c_ulong
}

const GET_API_VERSION: libc::c_ulong = vfio_io(0);
const CHECK_EXTENSION: libc::c_ulong = vfio_io(1);
const SET_IOMMU: libc::c_ulong = vfio_io(2);
const GROUP_GET_STATUS: libc::c_ulong = vfio_io(3);
const GROUP_SET_CONTAINER: libc::c_ulong = vfio_io(4);
const GROUP_GET_DEVICE_FD: libc::c_ulong = vfio_io(6);
const DEVICE_GET_INFO: libc::c_ulong = vfio_io(7);
const DEVICE_GET_REGION_INFO: libc::c_ulong = vfio_io(8);
const IOMMU_GET_INFO: libc::c_ulong = vfio_io(12);
const IOMMU_MAP_DMA: libc::c_ulong = vfio_io(13);
const IOMMU_UNMAP_DMA: libc::c_ulong = vfio_io(14);

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn ioctl_value(fd: BorrowedFd<'_>, request: libc::c_ulong, arg: libc::c_ulong) -> io::Result<libc::c_int> {
    // SAFETY: these requests take an integer argument (or none); the kernel
    // reads nothing through it, so no memory is at stake.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), request, arg) })
}

/// # Safety
/// `arg` must point to a live, initialised value of the structure `request`
/// expects, with its `argsz` (where it has one) no larger than the memory
/// behind `arg`.
unsafe fn ioctl_ptr<T>(fd: BorrowedFd<'_>, request: libc::c_ulong, arg: *mut T) -> io::Result<libc::c_int> {
    // SAFETY: the caller upholds the pointer contract above.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), request, arg) })
}

fn argsz<T>() -> u32 {
    std::mem::size_of::<T>() as u32
}

/// VFIO_GET_API_VERSION on the container.
pub fn get_api_version(container: BorrowedFd<'_>) -> io::Result<i32> {
    ioctl_value(container, GET_API_VERSION, 0)
}

/// VFIO_CHECK_EXTENSION: whether the container supports IOMMU type `ext`.
pub fn check_extension(container: BorrowedFd<'_>, ext: u32) -> io::Result<bool> {
    Ok(ioctl_value(container, CHECK_EXTENSION, ext.into())? > 0)
}

/// VFIO_SET_IOMMU: select the IOMMU model once a group is attached.
pub fn set_iommu(container: BorrowedFd<'_>, iommu_type: u32) -> io::Result<()> {
    ioctl_value(container, SET_IOMMU, iommu_type.into()).map(drop)
}

/// VFIO_GROUP_GET_STATUS: the group's flags (viable, container set).
pub fn group_get_status(group: BorrowedFd<'_>) -> io::Result<u32> {
    let mut status = vfio_group_status { argsz: argsz::<vfio_group_status>(), flags: 0 };
    // SAFETY: `status` is a live vfio_group_status and argsz is its size.
    unsafe { ioctl_ptr(group, GROUP_GET_STATUS, &mut status)? };
    Ok(status.flags)
}

/// VFIO_GROUP_SET_CONTAINER.
pub fn group_set_container(group: BorrowedFd<'_>, container: BorrowedFd<'_>) -> io::Result<()> {
    let mut fd: libc::c_int = container.as_raw_fd();
    // SAFETY: the kernel reads one int, the container fd, from `fd`.
    unsafe { ioctl_ptr(group, GROUP_SET_CONTAINER, &mut fd) }.map(drop)
}

/// VFIO_GROUP_GET_DEVICE_FD for the device named `name` (its PCI address).
pub fn group_get_device_fd(group: BorrowedFd<'_>, name: &CStr) -> io::Result<OwnedFd> {
    // SAFETY: the kernel reads a NUL-terminated string, which a CStr is.
    let fd = unsafe { ioctl_ptr(group, GROUP_GET_DEVICE_FD, name.as_ptr().cast_mut()) }?;
    // SAFETY: on success the ioctl returns a new file descriptor that nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// VFIO_DEVICE_GET_INFO.
pub fn device_get_info(device: BorrowedFd<'_>) -> io::Result<vfio_device_info> {
    let mut info = vfio_device_info { argsz: argsz::<vfio_device_info>(), ..Default::default() };
    // SAFETY: `info` is a live vfio_device_info and argsz is its size.
    unsafe { ioctl_ptr(device, DEVICE_GET_INFO, &mut info)? };
    Ok(info)
}

/// VFIO_DEVICE_GET_REGION_INFO for region `index` (without capabilities).
pub fn device_get_region_info(device: BorrowedFd<'_>, index: u32) -> io::Result<vfio_region_info> {
    let mut info = vfio_region_info { argsz: argsz::<vfio_region_info>(), index, ..Default::default() };
    // SAFETY: `info` is a live vfio_region_info and argsz is its size.
    unsafe { ioctl_ptr(device, DEVICE_GET_REGION_INFO, &mut info)? };
    Ok(info)
}

/// VFIO_IOMMU_GET_INFO into a byte buffer (the structure is followed by a
/// capability chain). The buffer's first four bytes must hold its length as
/// `argsz`; on return the kernel has put the size it wanted there.
pub fn iommu_get_info(container: BorrowedFd<'_>, buf: &mut [u64]) -> io::Result<()> {
    let len = std::mem::size_of_val(buf);
    assert!(len >= 24, "vfio_iommu_type1_info needs 24 bytes");
    // argsz is the first u32 of the buffer (little-endian x86: the low half of buf[0]).
    buf[0] = (buf[0] & !0xffff_ffff) | len as u64;
    // SAFETY: the buffer is live, writable, 8-byte aligned and `len` bytes
    // long, and argsz says exactly `len`, so the kernel writes inside it.
    unsafe { ioctl_ptr(container, IOMMU_GET_INFO, buf.as_mut_ptr()) }.map(drop)
}

/// VFIO_IOMMU_MAP_DMA.
///
/// # Safety
/// `map.vaddr .. map.vaddr + map.size` must be memory of this process that
/// stays mapped, and is not handed to anything else, until the same IOVA range
/// is unmapped with [`iommu_unmap_dma`] (or the container is closed): the
/// device may read it (and write it, with the WRITE flag) at any time until then.
pub unsafe fn iommu_map_dma(container: BorrowedFd<'_>, map: &vfio_iommu_type1_dma_map) -> io::Result<()> {
    let mut map = *map;
    map.argsz = argsz::<vfio_iommu_type1_dma_map>();
    // SAFETY: `map` is a live vfio_iommu_type1_dma_map with its own size as
    // argsz; the memory it names is the caller's promise above.
    unsafe { ioctl_ptr(container, IOMMU_MAP_DMA, &mut map) }.map(drop)
}

/// VFIO_IOMMU_UNMAP_DMA of `size` bytes at `iova`. Returns the bytes unmapped.
pub fn iommu_unmap_dma(container: BorrowedFd<'_>, iova: u64, size: u64) -> io::Result<u64> {
    let mut unmap = vfio_iommu_type1_dma_unmap {
        argsz: argsz::<vfio_iommu_type1_dma_unmap>(),
        flags: 0,
        iova,
        size,
        ..Default::default()
    };
    // SAFETY: `unmap` is live, argsz is its fixed size (no bitmap follows, flags 0).
    unsafe { ioctl_ptr(container, IOMMU_UNMAP_DMA, &mut unmap)? };
    Ok(unmap.size)
}

const DEVICE_GET_IRQ_INFO: libc::c_ulong = vfio_io(9);
const DEVICE_SET_IRQS: libc::c_ulong = vfio_io(10);

/// struct vfio_irq_info.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct IrqInfo {
    /// Size of this structure.
    pub argsz: u32,
    /// VFIO_IRQ_INFO_* flags.
    pub flags: u32,
    /// IRQ index (INTx 0, MSI 1, MSI-X 2).
    pub index: u32,
    /// Vectors available at this index.
    pub count: u32,
}

/// struct vfio_irq_set with room for one eventfd.
#[repr(C)]
struct IrqSetOne {
    argsz: u32,
    flags: u32,
    index: u32,
    start: u32,
    count: u32,
    data: i32,
}

/// VFIO_DEVICE_GET_IRQ_INFO for IRQ index `index`.
pub fn device_get_irq_info(device: BorrowedFd<'_>, index: u32) -> io::Result<IrqInfo> {
    let mut info = IrqInfo { argsz: argsz::<IrqInfo>(), index, ..Default::default() };
    // SAFETY: `info` is a live vfio_irq_info and argsz is its size.
    unsafe { ioctl_ptr(device, DEVICE_GET_IRQ_INFO, &mut info)? };
    Ok(info)
}

/// VFIO_DEVICE_SET_IRQS for vector 0 of `index`: with `eventfd`, the action in
/// `flags` gets DATA_EVENTFD and that fd; without, DATA_NONE and `count`
/// vectors (0 disables the index, 1 with ACTION_UNMASK unmasks INTx).
pub fn device_set_irqs(
    device: BorrowedFd<'_>,
    index: u32,
    action: u32,
    count: u32,
    eventfd: Option<BorrowedFd<'_>>,
) -> io::Result<()> {
    use vfio_bindings::bindings::vfio::{VFIO_IRQ_SET_DATA_EVENTFD, VFIO_IRQ_SET_DATA_NONE};
    let (data_flag, data, size) = match eventfd {
        Some(fd) => (VFIO_IRQ_SET_DATA_EVENTFD, fd.as_raw_fd(), argsz::<IrqSetOne>()),
        // Without data the structure ends before `data`.
        None => (VFIO_IRQ_SET_DATA_NONE, -1, argsz::<IrqSetOne>() - 4),
    };
    let mut set = IrqSetOne { argsz: size, flags: data_flag | action, index, start: 0, count, data };
    // SAFETY: `set` is live and at least `argsz` bytes; with DATA_EVENTFD the
    // kernel reads `count` (1) i32 fds right after the header, which is `data`.
    unsafe { ioctl_ptr(device, DEVICE_SET_IRQS, &mut set) }.map(drop)
}

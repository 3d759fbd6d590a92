//! The VFIO ioctls: the only place in zcnic that spells one. The structures
//! are vfio-bindings' own; request numbers are built from its VFIO_TYPE and
//! VFIO_BASE the way linux/vfio.h builds them: `_IO(VFIO_TYPE, VFIO_BASE + n)`,
//! with no size or direction encoded (the structures carry their own `argsz`).

use std::ffi::CStr;
use std::io;
use std::ops::Range;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use vfio_bindings::bindings::vfio::{
    vfio_device_info, vfio_group_status, vfio_info_cap_header, vfio_iommu_type1_dma_map, vfio_iommu_type1_dma_unmap,
    vfio_iommu_type1_info, vfio_iommu_type1_info_cap_iova_range, vfio_iova_range, vfio_irq_info, vfio_irq_set,
    vfio_region_info, VFIO_BASE, VFIO_IOMMU_INFO_CAPS, VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE,
    VFIO_IRQ_SET_ACTION_TRIGGER, VFIO_IRQ_SET_DATA_EVENTFD, VFIO_IRQ_SET_DATA_NONE, VFIO_TYPE,
};

use super::check;

const fn request(n: u32) -> libc::c_ulong {
    (((VFIO_TYPE as u32) << 8) | (VFIO_BASE + n)) as libc::c_ulong
}

const GET_API_VERSION: libc::c_ulong = request(0);
const CHECK_EXTENSION: libc::c_ulong = request(1);
const SET_IOMMU: libc::c_ulong = request(2);
const GROUP_GET_STATUS: libc::c_ulong = request(3);
const GROUP_SET_CONTAINER: libc::c_ulong = request(4);
const GROUP_GET_DEVICE_FD: libc::c_ulong = request(6);
const DEVICE_GET_INFO: libc::c_ulong = request(7);
const DEVICE_GET_REGION_INFO: libc::c_ulong = request(8);
const DEVICE_GET_IRQ_INFO: libc::c_ulong = request(9);
const DEVICE_SET_IRQS: libc::c_ulong = request(10);
const IOMMU_GET_INFO: libc::c_ulong = request(12);
const IOMMU_MAP_DMA: libc::c_ulong = request(13);
const IOMMU_UNMAP_DMA: libc::c_ulong = request(14);

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
pub(crate) fn get_api_version(container: BorrowedFd<'_>) -> io::Result<i32> {
    ioctl_value(container, GET_API_VERSION, 0)
}

/// VFIO_CHECK_EXTENSION: whether the container supports IOMMU type `ext`.
pub(crate) fn check_extension(container: BorrowedFd<'_>, ext: u32) -> io::Result<bool> {
    Ok(ioctl_value(container, CHECK_EXTENSION, ext.into())? > 0)
}

/// VFIO_SET_IOMMU: select the IOMMU model once a group is attached.
pub(crate) fn set_iommu(container: BorrowedFd<'_>, iommu_type: u32) -> io::Result<()> {
    ioctl_value(container, SET_IOMMU, iommu_type.into()).map(drop)
}

/// VFIO_GROUP_GET_STATUS: the group's flags (viable, container set).
pub(crate) fn group_get_status(group: BorrowedFd<'_>) -> io::Result<u32> {
    let mut status = vfio_group_status { argsz: argsz::<vfio_group_status>(), flags: 0 };
    // SAFETY: `status` is a live vfio_group_status and argsz is its size.
    unsafe { ioctl_ptr(group, GROUP_GET_STATUS, &mut status)? };
    Ok(status.flags)
}

/// VFIO_GROUP_SET_CONTAINER.
pub(crate) fn group_set_container(group: BorrowedFd<'_>, container: BorrowedFd<'_>) -> io::Result<()> {
    let mut fd: libc::c_int = container.as_raw_fd();
    // SAFETY: the kernel reads one int, the container fd, from `fd`.
    unsafe { ioctl_ptr(group, GROUP_SET_CONTAINER, &mut fd) }.map(drop)
}

/// VFIO_GROUP_GET_DEVICE_FD for the device named `name` (its PCI address).
pub(crate) fn group_get_device_fd(group: BorrowedFd<'_>, name: &CStr) -> io::Result<OwnedFd> {
    // SAFETY: the kernel reads a NUL-terminated string, which a CStr is.
    let fd = unsafe { ioctl_ptr(group, GROUP_GET_DEVICE_FD, name.as_ptr().cast_mut()) }?;
    // SAFETY: on success the ioctl returns a new file descriptor that nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// VFIO_DEVICE_GET_INFO.
pub(crate) fn device_get_info(device: BorrowedFd<'_>) -> io::Result<vfio_device_info> {
    let mut info = vfio_device_info { argsz: argsz::<vfio_device_info>(), ..Default::default() };
    // SAFETY: `info` is a live vfio_device_info and argsz is its size.
    unsafe { ioctl_ptr(device, DEVICE_GET_INFO, &mut info)? };
    Ok(info)
}

/// VFIO_DEVICE_GET_REGION_INFO for region `index` (without capabilities).
pub(crate) fn device_get_region_info(device: BorrowedFd<'_>, index: u32) -> io::Result<vfio_region_info> {
    let mut info = vfio_region_info { argsz: argsz::<vfio_region_info>(), index, ..Default::default() };
    // SAFETY: `info` is a live vfio_region_info and argsz is its size.
    unsafe { ioctl_ptr(device, DEVICE_GET_REGION_INFO, &mut info)? };
    Ok(info)
}

/// VFIO_DEVICE_GET_IRQ_INFO for IRQ index `index` (INTx 0, MSI 1, MSI-X 2).
pub(crate) fn device_get_irq_info(device: BorrowedFd<'_>, index: u32) -> io::Result<vfio_irq_info> {
    let mut info = vfio_irq_info { argsz: argsz::<vfio_irq_info>(), index, ..Default::default() };
    // SAFETY: `info` is a live vfio_irq_info and argsz is its size.
    unsafe { ioctl_ptr(device, DEVICE_GET_IRQ_INFO, &mut info)? };
    Ok(info)
}

/// VFIO_DEVICE_SET_IRQS without data (DATA_NONE) for `count` vectors of
/// `index` from 0: with ACTION_TRIGGER and 0 vectors it disables the index;
/// with ACTION_UNMASK and 1 it unmasks INTx.
pub(crate) fn device_set_irqs(device: BorrowedFd<'_>, index: u32, action: u32, count: u32) -> io::Result<()> {
    let mut set = vfio_irq_set {
        argsz: argsz::<vfio_irq_set>(),
        flags: VFIO_IRQ_SET_DATA_NONE | action,
        index,
        start: 0,
        count,
        ..Default::default()
    };
    // SAFETY: `set` is a live vfio_irq_set and argsz is its size: without
    // data the kernel reads nothing after the header.
    unsafe { ioctl_ptr(device, DEVICE_SET_IRQS, &mut set) }.map(drop)
}

/// Largest number of vectors set at once (the 82576's PF has 10; MSI-X allows 2048).
pub(crate) const MAX_IRQ_VECTORS: usize = 64;

/// A `vfio_irq_set` followed by up to [`MAX_IRQ_VECTORS`] eventfds, for
/// wiring several MSI-X vectors in one call (the kernel reads `count` fds).
#[repr(C)]
struct IrqSetFds {
    header: vfio_irq_set,
    fds: [i32; MAX_IRQ_VECTORS],
}

const _: () = assert!(std::mem::offset_of!(IrqSetFds, fds) == std::mem::size_of::<vfio_irq_set>());

/// VFIO_DEVICE_SET_IRQS with ACTION_TRIGGER and DATA_EVENTFD for vectors
/// `0..eventfds.len()` of `index`: vector i signals `eventfds[i]`.
pub(crate) fn device_set_irq_eventfds(
    device: BorrowedFd<'_>,
    index: u32,
    eventfds: &[BorrowedFd<'_>],
) -> io::Result<()> {
    if eventfds.is_empty() || eventfds.len() > MAX_IRQ_VECTORS {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "between 1 and 64 eventfds"));
    }
    let count = eventfds.len() as u32;
    let size = argsz::<vfio_irq_set>() + count * std::mem::size_of::<i32>() as u32;
    let header = vfio_irq_set {
        argsz: size,
        flags: VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
        index,
        start: 0,
        count,
        ..Default::default()
    };
    let mut set = IrqSetFds { header, fds: [-1; MAX_IRQ_VECTORS] };
    for (slot, fd) in set.fds.iter_mut().zip(eventfds) {
        *slot = fd.as_raw_fd();
    }
    // SAFETY: `set` is live and larger than `argsz` (count <= MAX_IRQ_VECTORS
    // fds follow the header with no padding); the kernel reads `count` i32
    // fds right after the header, every one of them a live eventfd we borrow.
    unsafe { ioctl_ptr(device, DEVICE_SET_IRQS, &mut set) }.map(drop)
}

/// VFIO_IOMMU_GET_INFO with its capability chain: the valid IOVA ranges
/// (half-open), or `None` if the kernel reports none (kernels before 5.4).
pub(crate) fn iommu_iova_ranges(container: BorrowedFd<'_>) -> io::Result<Option<Vec<Range<u64>>>> {
    // First ask with room for the fixed part only; the kernel says how much it wants in argsz.
    let mut buf = vec![0u64; std::mem::size_of::<vfio_iommu_type1_info>().div_ceil(8)];
    let mut wanted = iommu_get_info(container, &mut buf)?;
    if wanted > buf.len() * 8 {
        buf = vec![0u64; wanted.div_ceil(8)];
        wanted = iommu_get_info(container, &mut buf)?;
    }
    let bytes: Vec<u8> = buf.iter().flat_map(|w| w.to_ne_bytes()).take(wanted).collect();
    Ok(parse_iova_ranges(&bytes))
}

/// One VFIO_IOMMU_GET_INFO into `buf`; returns the argsz the kernel wanted.
fn iommu_get_info(container: BorrowedFd<'_>, buf: &mut [u64]) -> io::Result<usize> {
    let len = std::mem::size_of_val(buf);
    assert!(len >= std::mem::size_of::<vfio_iommu_type1_info>());
    let info = buf.as_mut_ptr().cast::<vfio_iommu_type1_info>();
    // SAFETY: `buf` is live, writable, 8-byte aligned (vfio_iommu_type1_info
    // needs 8) and at least the structure's size (asserted); we set argsz to
    // the whole buffer, so the kernel writes only inside it.
    unsafe {
        info.write(vfio_iommu_type1_info { argsz: len as u32, ..Default::default() });
        ioctl_ptr(container, IOMMU_GET_INFO, info)?;
        Ok((*info).argsz as usize)
    }
}

/// Kernel structures made only of integers: any bit pattern is a valid value,
/// so one may be read from any bytes of the right length.
trait PlainKernelStruct {}
impl PlainKernelStruct for vfio_iommu_type1_info {}
impl PlainKernelStruct for vfio_info_cap_header {}
impl PlainKernelStruct for vfio_iommu_type1_info_cap_iova_range {}
impl PlainKernelStruct for vfio_iova_range {}

/// Read a `T` at byte `offset` of `bytes`, or `None` if it does not fit.
fn read_struct<T: PlainKernelStruct>(bytes: &[u8], offset: usize) -> Option<T> {
    let end = offset.checked_add(std::mem::size_of::<T>())?;
    let src = bytes.get(offset..end)?;
    // SAFETY: `src` holds exactly size_of::<T>() bytes; T is plain integers
    // (PlainKernelStruct), so every bit pattern is a valid T; read_unaligned
    // makes no alignment assumption.
    Some(unsafe { src.as_ptr().cast::<T>().read_unaligned() })
}

/// Valid IOVA ranges (half-open) from a `vfio_iommu_type1_info` and its
/// capability chain, as the kernel wrote them; `None` without an IOVA-range
/// capability. Every offset is bound-checked: a malformed chain gives `None`,
/// never a panic or a read outside `bytes`.
pub(crate) fn parse_iova_ranges(bytes: &[u8]) -> Option<Vec<Range<u64>>> {
    let info: vfio_iommu_type1_info = read_struct(bytes, 0)?;
    if info.flags & VFIO_IOMMU_INFO_CAPS == 0 {
        return None;
    }
    let mut offset = info.cap_offset as usize;
    // Each hop must move forward, so that a looping chain ends.
    let mut last = 0;
    while offset != 0 && offset > last {
        let header: vfio_info_cap_header = read_struct(bytes, offset)?;
        if u32::from(header.id) == VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE {
            let cap: vfio_iommu_type1_info_cap_iova_range = read_struct(bytes, offset)?;
            let first = offset + std::mem::size_of::<vfio_iommu_type1_info_cap_iova_range>();
            let step = std::mem::size_of::<vfio_iova_range>();
            return (0..cap.nr_iovas as usize)
                .map(|i| read_struct::<vfio_iova_range>(bytes, first.checked_add(i.checked_mul(step)?)?))
                .filter(|r| r.is_none_or(|r| r.start <= r.end))
                .map(|r| r.map(|r| r.start..r.end.saturating_add(1)))
                .collect();
        }
        last = offset;
        offset = header.next as usize;
    }
    None
}

/// VFIO_IOMMU_MAP_DMA.
///
/// # Safety
/// `map.vaddr .. map.vaddr + map.size` must be memory of this process that
/// stays mapped, and is not handed to anything else, until the same IOVA range
/// is unmapped with [`iommu_unmap_dma`] (or the container is closed): the
/// device may read it (and write it, with the WRITE flag) at any time until then.
pub(crate) unsafe fn iommu_map_dma(container: BorrowedFd<'_>, map: &vfio_iommu_type1_dma_map) -> io::Result<()> {
    let mut map = *map;
    map.argsz = argsz::<vfio_iommu_type1_dma_map>();
    // SAFETY: `map` is a live vfio_iommu_type1_dma_map with its own size as
    // argsz; the memory it names is the caller's promise above.
    unsafe { ioctl_ptr(container, IOMMU_MAP_DMA, &mut map) }.map(drop)
}

/// VFIO_IOMMU_UNMAP_DMA of `size` bytes at `iova`. Returns the bytes unmapped.
pub(crate) fn iommu_unmap_dma(container: BorrowedFd<'_>, iova: u64, size: u64) -> io::Result<u64> {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes of a vfio_iommu_type1_info with a chain of two capabilities,
    /// built from vfio-bindings' structures the way the kernel lays them out.
    fn info_with_ranges(ranges: &[(u64, u64)]) -> Vec<u8> {
        fn push<T>(b: &mut Vec<u8>, v: &T) {
            // SAFETY: reads the bytes of a live, plain-integer value.
            let s = unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), std::mem::size_of::<T>()) };
            b.extend_from_slice(s);
        }
        let info_len = std::mem::size_of::<vfio_iommu_type1_info>();
        let other_cap = info_len;
        let iova_cap = other_cap + 16;
        let mut b = Vec::new();
        let info =
            vfio_iommu_type1_info { flags: VFIO_IOMMU_INFO_CAPS, cap_offset: other_cap as u32, ..Default::default() };
        push(&mut b, &info);
        // A first capability of another kind (id 2, migration), 16 bytes, to exercise the walk.
        push(&mut b, &vfio_info_cap_header { id: 2, version: 1, next: iova_cap as u32 });
        b.extend_from_slice(&[0u8; 8]);
        let cap = vfio_iommu_type1_info_cap_iova_range {
            header: vfio_info_cap_header { id: VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE as u16, version: 1, next: 0 },
            nr_iovas: ranges.len() as u32,
            ..Default::default()
        };
        push(&mut b, &cap);
        for &(start, end) in ranges {
            push(&mut b, &vfio_iova_range { start, end });
        }
        b
    }

    #[test]
    fn parses_the_ranges_qemu_intel_iommu_reports() {
        let b = info_with_ranges(&[(0, 0xfedf_ffff), (0xfef0_0000, (1 << 39) - 1)]);
        assert_eq!(parse_iova_ranges(&b).unwrap(), vec![0..0xfee0_0000, 0xfef0_0000..(1 << 39)]);
    }

    #[test]
    fn truncated_or_looping_chains_give_none() {
        let b = info_with_ranges(&[(0, 0xffff)]);
        for cut in [0, 8, 20, 30, 50, 60] {
            assert_eq!(parse_iova_ranges(&b[..cut]), None, "cut at {cut}");
        }
        let mut looping = b.clone();
        // The first capability's `next` (bytes 4..8 of its header) points at itself.
        looping[28..32].copy_from_slice(&24u32.to_ne_bytes());
        assert_eq!(parse_iova_ranges(&looping), None);
        let mut no_caps = b;
        no_caps[4..8].copy_from_slice(&0u32.to_ne_bytes());
        assert_eq!(parse_iova_ranges(&no_caps), None);
    }
}

//! What the process read and faulted while it sent, as the kernel counts it:
//! the independent check behind "the CPU never read the payload".

use crate::sys::host::IoCounters;

/// A snapshot of this process's I/O and fault counters.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ProcessIo(IoCounters);

/// What changed between two snapshots, measured by the kernel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcessIoDelta {
    /// Bytes this process read through read-like system calls (`rchar` of
    /// /proc/self/io), less the reads of /proc/self/io and /proc/self/status
    /// (the memory figures) themselves. A sender that
    /// copied the file through read(2) would show its whole length here.
    pub bytes_read_by_syscalls: u64,
    /// Bytes the kernel fetched from storage for this process (`read_bytes`):
    /// page cache filled by the disk's DMA when the file was not cached; not
    /// a CPU copy. `None` without task I/O accounting.
    pub bytes_fetched_from_storage: Option<u64>,
    /// Minor page faults, including those taken while pinning file pages for
    /// the IOMMU (about one per 4 KiB page not yet mapped).
    pub minor_faults: u64,
    /// Major page faults (a page had to be read from storage).
    pub major_faults: u64,
}

impl ProcessIo {
    /// Now; `None` where /proc/self/io cannot be read.
    pub(crate) fn now() -> Option<ProcessIo> {
        IoCounters::now().map(ProcessIo)
    }

    /// The change from `earlier` to `self`.
    pub(crate) fn since(&self, earlier: &ProcessIo) -> ProcessIoDelta {
        let (a, b) = (&self.0, &earlier.0);
        ProcessIoDelta {
            bytes_read_by_syscalls: a
                .rchar
                .saturating_sub(b.rchar)
                .saturating_sub(b.own_read_len)
                .saturating_sub(a.status_reads.saturating_sub(b.status_reads)),
            bytes_fetched_from_storage: a.read_bytes.zip(b.read_bytes).map(|(x, y)| x.saturating_sub(y)),
            minor_faults: a.minor_faults.saturating_sub(b.minor_faults),
            major_faults: a.major_faults.saturating_sub(b.major_faults),
        }
    }
}

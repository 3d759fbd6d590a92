//! What the driver asks of the host system beyond VFIO: network interface
//! addresses (getifaddrs), the memlock limit, and this process's own I/O and
//! page-fault counters (the independent measurements behind the file sender's
//! "the CPU did not read the file" figure).

use std::ffi::CStr;
use std::net::IpAddr;

/// Every (interface name, address) pair of the running system, IPv4 and IPv6.
pub(crate) fn interface_addresses() -> Vec<(String, IpAddr)> {
    let mut out = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs allocates a list and stores its head in `head`.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return out;
    }
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned, alive until freeifaddrs.
        let ifa = unsafe { &*cur };
        if !ifa.ifa_addr.is_null() && !ifa.ifa_name.is_null() {
            // SAFETY: ifa_name is a NUL-terminated string owned by the list.
            let name = unsafe { CStr::from_ptr(ifa.ifa_name) }.to_string_lossy().into_owned();
            // SAFETY: ifa_addr is non-null and points to a sockaddr of the list.
            let family = i32::from(unsafe { (*ifa.ifa_addr).sa_family });
            if family == libc::AF_INET {
                // SAFETY: family AF_INET means the sockaddr is a sockaddr_in.
                let sin = unsafe { &*ifa.ifa_addr.cast::<libc::sockaddr_in>() };
                out.push((name, IpAddr::from(u32::from_be(sin.sin_addr.s_addr).to_be_bytes())));
            } else if family == libc::AF_INET6 {
                // SAFETY: family AF_INET6 means the sockaddr is a sockaddr_in6.
                let sin6 = unsafe { &*ifa.ifa_addr.cast::<libc::sockaddr_in6>() };
                out.push((name, IpAddr::from(sin6.sin6_addr.s6_addr)));
            }
        }
        cur = ifa.ifa_next;
    }
    // SAFETY: frees the list getifaddrs allocated, once; no pointer into it survives.
    unsafe { libc::freeifaddrs(head) };
    out
}

/// The soft RLIMIT_MEMLOCK, if it can be read.
pub(crate) fn memlock_limit() -> Option<u64> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes one rlimit into the live struct we pass.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut lim) } == 0;
    ok.then_some(lim.rlim_cur)
}

/// This process's memory as the kernel accounts it (/proc/self/status).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryStatus {
    /// Locked memory, bytes (VmLck: mlock and, for VFIO, pinned DMA pages).
    pub locked: u64,
    /// Peak resident set, bytes (VmHWM): file pages touched through a mapping count too.
    pub peak_resident: u64,
}

impl MemoryStatus {
    /// Now; `None` where /proc/self/status cannot be read.
    pub fn now() -> Option<MemoryStatus> {
        let text = std::fs::read_to_string("/proc/self/status").ok()?;
        STATUS_BYTES_READ.fetch_add(text.len() as u64, std::sync::atomic::Ordering::Relaxed);
        parse_proc_status(&text)
    }
}

/// Bytes this process has read from /proc/self/status for [`MemoryStatus`]:
/// they count in `rchar` like any read, and [`IoCounters`] takes them out so
/// that "bytes read through system calls" stays the file data read.
static STATUS_BYTES_READ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// VmLck and VmHWM (given in kB) from the text of `/proc/<pid>/status`.
pub(crate) fn parse_proc_status(text: &str) -> Option<MemoryStatus> {
    let kib = |name: &str| {
        text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(':')?.trim().strip_suffix("kB")?.trim().parse::<u64>().ok())
    };
    Some(MemoryStatus { locked: kib("VmLck")? * 1024, peak_resident: kib("VmHWM")? * 1024 })
}

/// This process's counters that show whether it touched file data: bytes it
/// read through read-like system calls (`rchar` of /proc/self/io), bytes the
/// kernel fetched from storage on its behalf (`read_bytes`), and page faults.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct IoCounters {
    pub(crate) rchar: u64,
    pub(crate) read_bytes: Option<u64>,
    pub(crate) minor_faults: u64,
    pub(crate) major_faults: u64,
    /// Bytes the read of /proc/self/io itself added to `rchar` of the next snapshot.
    pub(crate) own_read_len: u64,
    /// Bytes read from /proc/self/status so far (see [`MemoryStatus::now`]).
    pub(crate) status_reads: u64,
}

impl IoCounters {
    /// A snapshot now; `None` if /proc/self/io cannot be read (no procfs, or
    /// a kernel without task I/O accounting).
    pub(crate) fn now() -> Option<IoCounters> {
        let text = std::fs::read_to_string("/proc/self/io").ok()?;
        let (rchar, read_bytes) = parse_proc_io(&text)?;
        // SAFETY: rusage is plain integers; all-zero is a valid value.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: getrusage writes one rusage into the live struct we pass.
        if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
            return None;
        }
        Some(IoCounters {
            rchar,
            read_bytes,
            minor_faults: u64::try_from(ru.ru_minflt).unwrap_or(0),
            major_faults: u64::try_from(ru.ru_majflt).unwrap_or(0),
            own_read_len: text.len() as u64,
            status_reads: STATUS_BYTES_READ.load(std::sync::atomic::Ordering::Relaxed),
        })
    }
}

/// Fill `buf` from the kernel's random pool. Without /dev/urandom (a bare
/// chroot), log that `what` falls back to the clock and fill it from the
/// current time: unpredictable enough to differ between runs, no more.
pub(crate) fn random_bytes(buf: &mut [u8], what: &str) {
    use std::io::Read;
    if let Err(e) = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(buf)) {
        log::warn!("no /dev/urandom ({e}): {what} falls back to the clock");
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (nanos >> (8 * (i % 16))) as u8 ^ i as u8;
        }
    }
}

/// The CPUs this thread may run on (sched_getaffinity), in order.
pub(crate) fn usable_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is a plain bit array; all-zero is a valid (empty) set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: we pass the size of the live set the kernel writes into.
    if unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) } != 0 {
        return Vec::new();
    }
    // SAFETY: CPU_ISSET only reads the set, for CPU numbers below CPU_SETSIZE.
    (0..libc::CPU_SETSIZE as usize).filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) }).collect()
}

/// Let the calling thread run on `cpu` only (sched_setaffinity).
pub(crate) fn pin_current_thread(cpu: usize) -> std::io::Result<()> {
    // SAFETY: as above: an all-zero cpu_set_t is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(std::io::Error::other("CPU number out of range"));
    }
    // SAFETY: CPU_SET writes one bit of the live set; cpu is below CPU_SETSIZE (checked above).
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: the set is live and we pass its size; 0 means this thread.
    if unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// `rchar` and (when task I/O accounting is on) `read_bytes` from the text of `/proc/<pid>/io`.
pub(crate) fn parse_proc_io(text: &str) -> Option<(u64, Option<u64>)> {
    let field =
        |name: &str| text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(':')?.trim().parse::<u64>().ok());
    Some((field("rchar")?, field("read_bytes")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_status_memory_is_read_in_bytes() {
        let text = "Name:\tzcnic\nVmPeak:\t  9000 kB\nVmLck:\t   4096 kB\nVmHWM:\t  1234 kB\nVmRSS:\t 1000 kB\n";
        assert_eq!(parse_proc_status(text), Some(MemoryStatus { locked: 4096 * 1024, peak_resident: 1234 * 1024 }));
        assert_eq!(parse_proc_status("VmHWM:\t1 kB\n"), None, "no VmLck, no figure");
        let own = MemoryStatus::now().expect("this test runs on Linux with procfs");
        assert!(own.peak_resident > 0);
    }

    #[test]
    fn proc_io_fields_are_read_by_name() {
        let text =
            "rchar: 1234\nwchar: 5\nsyscr: 7\nsyscw: 1\nread_bytes: 4096\nwrite_bytes: 0\ncancelled_write_bytes: 0\n";
        assert_eq!(parse_proc_io(text), Some((1234, Some(4096))));
        assert_eq!(parse_proc_io("wchar: 5\n"), None);
        assert_eq!(parse_proc_io("rchar: 9\n"), Some((9, None)));
    }

    #[test]
    fn reading_counts_in_rchar() {
        let before = IoCounters::now().expect("/proc/self/io is readable on Linux");
        let data = std::fs::read("/proc/self/stat").unwrap();
        let after = IoCounters::now().unwrap();
        // Our own read of /proc/self/io is counted too: the measurement must see both.
        assert!(after.rchar - before.rchar >= data.len() as u64 + before.own_read_len);
    }
}

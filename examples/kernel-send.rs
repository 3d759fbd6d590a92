//! kernel-send: send a file as UDP datagrams through the kernel's network
//! stack, by one of the classic methods, and measure it. It is the baseline
//! zcnic is compared against in the benchmark (scripts/bench.sh).
//!
//! Methods (every datagram carries at most 1472 bytes of the file, in order):
//!
//! | method          | per datagram                                   | CPU copies of the payload |
//! |-----------------|------------------------------------------------|---------------------------|
//! | `read-write`    | read(file, buf) + write(socket, buf)           | 2 (page cache -> buf -> skb) |
//! | `mmap-write`    | write(socket, mapping + offset)                | 1 (mapping -> skb)        |
//! | `sendfile`      | sendfile(socket, file, offset, 1472)           | 0 with a scatter-gather, checksum-offloading NIC (e1000 is) |
//! | `splice`        | splice(file -> pipe) + splice(pipe -> socket)  | 0 (same condition)        |
//! | `odirect-write` | write(socket, buf); buf filled by O_DIRECT reads of ~1 MiB | 1 (buf -> skb; disk -> buf is DMA) |
//! | `sendmmsg`      | sendmmsg() of 64 datagrams from an mmap of the file | 1 (mapping -> skb) |
//! | `udp-gso`       | write() of 44 datagrams at once from the mmap, UDP_SEGMENT=1472: the kernel cuts them in software on the e1000 and e1000e; on the igb (82576) Linux hands the whole send to the NIC to cut (UDP segmentation offload) | 1 (mapping -> skb) |
//! | `io-uring-zc`   | IORING_OP_SEND_ZC per datagram from the mmap, 64 submitted per io_uring_enter; each send's buffer notification awaited | 0 where the kernel pinned the pages (Linux 6.1 cannot say when it copied) |
//! | `msg-zerocopy`  | send(MSG_ZEROCOPY) per datagram from the mmap, SO_ZEROCOPY; completions reaped from the error queue | 0 where the kernel pinned the pages; the completions say when it copied instead, and those are counted |
//!
//! `--batch N` changes the batch of `sendmmsg` (64), `udp-gso` (44, the most) and `io-uring-zc` (64).
//! The copy counts are what each path implies in Linux 6.1, not measured.
//! Wall time runs until the NIC has sent the last frame: after the last call
//! returns, the interface's `tx_packets` counter is polled until it has grown
//! by the number of datagrams.
//!
//! Prints one `bench-result key=value ...` line.

use std::fs::File;
use std::io::Read;
use std::net::{SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};

const DATAGRAM: usize = 1472;
/// Datagrams per sendmmsg() call, and sends per io_uring_enter, by default:
/// a realistic batch (what a busy sender would use).
const DEFAULT_BATCH: usize = 64;
/// Datagrams per UDP_SEGMENT send at most: the most whose total fits a UDP length (65507 bytes).
const GSO_SEGMENTS: usize = 44;
/// Socket options and error-queue codes from Linux's uapi headers (not all in the libc crate).
const UDP_SEGMENT: libc::c_int = 103;
const SO_ZEROCOPY: libc::c_int = 60;
const SO_EE_ORIGIN_ZEROCOPY: u8 = 5;
const SO_EE_CODE_ZEROCOPY_COPIED: u8 = 1;

/// A read-only shared mapping of a whole file, unmapped on drop.
struct FileMap {
    ptr: *mut libc::c_void,
    len: usize,
}

impl FileMap {
    fn new(file: &File, len: usize) -> std::io::Result<FileMap> {
        // SAFETY: a fresh read-only shared mapping of the whole file; checked below.
        let p =
            unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_SHARED, file.as_raw_fd(), 0) };
        if p == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(FileMap { ptr: p, len })
    }

    /// Bytes `off..off + n` (inside the file) as an iovec.
    fn iovec(&self, off: usize, n: usize) -> libc::iovec {
        assert!(off + n <= self.len);
        // SAFETY: off + n <= len (asserted), inside the mapping.
        libc::iovec { iov_base: unsafe { self.ptr.cast::<u8>().add(off).cast() }, iov_len: n }
    }
}

impl Drop for FileMap {
    fn drop(&mut self) {
        // SAFETY: unmapping our own mapping, which nothing uses any more.
        unsafe { libc::munmap(self.ptr, self.len) };
    }
}

/// MSG_ZEROCOPY completions read so far: sends the kernel reports done, and
/// of them the ones where it copied the data after all.
#[derive(Default)]
struct ZeroCopyCompletions {
    done: u64,
    copied: u64,
    calls: u64,
}

impl ZeroCopyCompletions {
    /// Read every completion waiting on `s`'s error queue (non-blocking).
    fn reap(&mut self, s: libc::c_int) -> std::io::Result<()> {
        loop {
            let mut control = [0u64; 16];
            // SAFETY: msghdr is plain data; all-zero is a valid empty header.
            let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = std::mem::size_of_val(&control);
            // SAFETY: the header and its control buffer are live for the call.
            let r = unsafe { libc::recvmsg(s, &mut msg, libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT) };
            self.calls += 1;
            if r < 0 {
                let e = std::io::Error::last_os_error();
                return if e.kind() == std::io::ErrorKind::WouldBlock { Ok(()) } else { Err(e) };
            }
            // SAFETY: walking the control messages the kernel wrote into our buffer.
            let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
            while !cmsg.is_null() {
                // SAFETY: cmsg points into `control`; an IP_RECVERR message carries a sock_extended_err.
                let (level, kind) = unsafe { ((*cmsg).cmsg_level, (*cmsg).cmsg_type) };
                if level == libc::SOL_IP && kind == libc::IP_RECVERR {
                    // SAFETY: as above; read_unaligned because control data need not be aligned for it.
                    let err: libc::sock_extended_err =
                        unsafe { libc::CMSG_DATA(cmsg).cast::<libc::sock_extended_err>().read_unaligned() };
                    if err.ee_origin == SO_EE_ORIGIN_ZEROCOPY {
                        // Sends ee_info..=ee_data completed.
                        let n = u64::from(err.ee_data.wrapping_sub(err.ee_info)) + 1;
                        self.done += n;
                        if err.ee_code == SO_EE_CODE_ZEROCOPY_COPIED {
                            self.copied += n;
                        }
                    }
                }
                // SAFETY: stepping to the next control message of the same header.
                cmsg = unsafe { libc::CMSG_NXTHDR(&msg, cmsg) };
            }
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum Method {
    ReadWrite,
    MmapWrite,
    Sendfile,
    Splice,
    OdirectWrite,
    Sendmmsg,
    UdpGso,
    MsgZerocopy,
    IoUringZc,
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Method::ReadWrite => "read-write",
            Method::MmapWrite => "mmap-write",
            Method::Sendfile => "sendfile",
            Method::Splice => "splice",
            Method::OdirectWrite => "odirect-write",
            Method::Sendmmsg => "sendmmsg",
            Method::UdpGso => "udp-gso",
            Method::MsgZerocopy => "msg-zerocopy",
            Method::IoUringZc => "io-uring-zc",
        }
    }
    fn copies(self) -> u32 {
        match self {
            Method::ReadWrite => 2,
            Method::MmapWrite | Method::OdirectWrite | Method::Sendmmsg | Method::UdpGso => 1,
            Method::Sendfile | Method::Splice | Method::MsgZerocopy | Method::IoUringZc => 0,
        }
    }
}

/// Send a file as UDP datagrams through the kernel, by one method, and measure it.
#[derive(Parser, Debug)]
struct Args {
    /// How to move the file into the socket
    #[arg(long, value_enum)]
    method: Method,
    /// The file
    #[arg(long)]
    file: std::path::PathBuf,
    /// Destination address and port
    #[arg(long, value_name = "IPV4:PORT")]
    dst: SocketAddrV4,
    /// The interface the datagrams leave by (its tx_packets counter marks the end)
    #[arg(long)]
    iface: String,
    /// Datagrams per call for the batching methods: per sendmmsg() (default 64), per
    /// UDP_SEGMENT send (default and most: 44), per io_uring_enter (default 64)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    batch: Option<u16>,
}

/// This process's locked memory (VmLck; nothing in this program locks any,
/// and the kernel's own zero-copy pinning is not charged to it) and peak
/// resident set (VmHWM; every page of the file touched through the mapping
/// counts), bytes, from /proc/self/status.
fn memory_peaks() -> (u64, u64) {
    zcnic_driver::MemoryStatus::now().map_or((0, 0), |m| (m.locked, m.peak_resident))
}

struct Usage {
    user: f64,
    sys: f64,
    vcsw: i64,
    ivcsw: i64,
}

fn usage() -> Usage {
    // SAFETY: rusage is plain data; getrusage fills the live struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Usage { user: secs(ru.ru_utime), sys: secs(ru.ru_stime), vcsw: ru.ru_nvcsw, ivcsw: ru.ru_nivcsw }
}

fn tx_packets(iface: &str) -> u64 {
    std::fs::read_to_string(format!("/sys/class/net/{iface}/statistics/tx_packets"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

fn check(ret: isize, what: &str) -> std::io::Result<usize> {
    if ret < 0 {
        let e = std::io::Error::last_os_error();
        return Err(std::io::Error::new(e.kind(), format!("{what}: {e}")));
    }
    Ok(ret as usize)
}

/// Every datagram of `map` through io_uring's zero-copy send: submitted a
/// batch at a time; a send is done when its result has come back and, if the
/// kernel kept the pages, the notification that it let them go. Returns the
/// system calls made (io_uring setup and enters).
fn send_zc_io_uring(s: libc::c_int, map: &FileMap, len: usize, batch: u32) -> std::io::Result<u64> {
    use io_uring::{cqueue, opcode, types, IoUring};
    let mut ring = IoUring::new((4 * batch).next_power_of_two())?;
    let mut calls = 1u64;
    let (mut off, mut in_flight) = (0usize, 0u32);
    // Notifications owed (results flagged MORE) and received, counted apart:
    // their order between batches is the kernel's business.
    let (mut owed, mut notified) = (0u64, 0u64);
    while off < len || in_flight > 0 || notified < owed {
        let mut queued = 0;
        while off < len && in_flight < 2 * batch && queued < batch {
            let n = DATAGRAM.min(len - off);
            let iov = map.iovec(off, n);
            let sqe = opcode::SendZc::new(types::Fd(s), iov.iov_base.cast(), n as u32).build();
            // SAFETY: the buffer is the file's mapping, which outlives the ring's use of it
            // (this function waits for every notification before it returns).
            if unsafe { ring.submission().push(&sqe) }.is_err() {
                break;
            }
            off += n;
            in_flight += 1;
            queued += 1;
        }
        ring.submit_and_wait(1)?;
        calls += 1;
        for cqe in ring.completion() {
            if cqueue::notif(cqe.flags()) {
                notified += 1;
                continue;
            }
            if cqe.result() < 0 {
                return Err(std::io::Error::from_raw_os_error(-cqe.result()));
            }
            in_flight -= 1;
            if cqueue::more(cqe.flags()) {
                owed += 1;
            }
        }
    }
    Ok(calls)
}

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let sock = UdpSocket::bind("0.0.0.0:0")?;
    sock.connect(args.dst)?;
    let s = sock.as_raw_fd();
    let len = std::fs::metadata(&args.file)?.len() as usize;
    let datagrams = len.div_ceil(DATAGRAM) as u64;
    let batch = args.batch.map_or(DEFAULT_BATCH, usize::from);
    let gso_segments = args.batch.map_or(GSO_SEGMENTS, |b| usize::from(b).min(GSO_SEGMENTS));

    let tx_before = tx_packets(&args.iface);
    let before = usage();
    let busy_before = zcnic::usage::system_busy_seconds();
    let start = Instant::now();
    let mut syscalls = 0u64;
    let mut zerocopy_copied: Option<u64> = None;
    match args.method {
        Method::ReadWrite => {
            let mut f = File::open(&args.file)?;
            let mut buf = [0u8; DATAGRAM];
            loop {
                let n = f.read(&mut buf)?;
                syscalls += 1;
                if n == 0 {
                    break;
                }
                // SAFETY: writes n initialised bytes of buf to our socket.
                check(unsafe { libc::write(s, buf.as_ptr().cast(), n) }, "write")?;
                syscalls += 1;
            }
        }
        Method::MmapWrite => {
            let f = File::open(&args.file)?;
            // SAFETY: a fresh read-only shared mapping of the whole file; checked below.
            let p =
                unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_SHARED, f.as_raw_fd(), 0) };
            if p == libc::MAP_FAILED {
                return Err(std::io::Error::last_os_error());
            }
            syscalls += 1;
            let mut off = 0;
            while off < len {
                let n = DATAGRAM.min(len - off);
                // SAFETY: off + n <= len, inside the mapping.
                check(unsafe { libc::write(s, p.cast::<u8>().add(off).cast(), n) }, "write")?;
                syscalls += 1;
                off += n;
            }
            // SAFETY: unmapping our own mapping.
            unsafe { libc::munmap(p, len) };
            syscalls += 1;
        }
        Method::Sendfile => {
            let f = File::open(&args.file)?;
            let mut off: libc::off_t = 0;
            while (off as usize) < len {
                let n = DATAGRAM.min(len - off as usize);
                // SAFETY: valid fds and a live offset.
                check(unsafe { libc::sendfile(s, f.as_raw_fd(), &mut off, n) }, "sendfile")?;
                syscalls += 1;
            }
        }
        Method::Splice => {
            let f = File::open(&args.file)?;
            let mut pipe = [0; 2];
            // SAFETY: pipe() fills two fds into the live array.
            check(unsafe { libc::pipe(pipe.as_mut_ptr()) } as isize, "pipe")?;
            syscalls += 1;
            let mut off: libc::loff_t = 0;
            while (off as usize) < len {
                let n = DATAGRAM.min(len - off as usize);
                // SAFETY: valid fds; the kernel updates `off`.
                let r = unsafe {
                    libc::splice(f.as_raw_fd(), &mut off, pipe[1], std::ptr::null_mut(), n, libc::SPLICE_F_MOVE)
                };
                let got = check(r, "splice file->pipe")?;
                // SAFETY: valid fds; moves what is in the pipe to the socket.
                let r = unsafe { libc::splice(pipe[0], std::ptr::null_mut(), s, std::ptr::null_mut(), got, 0) };
                check(r, "splice pipe->socket")?;
                syscalls += 2;
            }
        }
        Method::OdirectWrite => {
            let mut f = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_DIRECT).open(&args.file)?;
            syscalls += 1;
            // O_DIRECT wants 4 KiB-aligned reads; a block that is a multiple of
            // both 4096 and 1472 (their lcm is 94208) keeps datagrams the same
            // as in the other methods with no carry-over between reads.
            const BLOCK: usize = 94208 * 11;
            let mut backing = vec![0u8; BLOCK + 4096];
            let pad = backing.as_ptr().align_offset(4096);
            let buf = &mut backing[pad..pad + BLOCK];
            loop {
                let n = f.read(buf)?;
                syscalls += 1;
                if n == 0 {
                    break;
                }
                for chunk in buf[..n].chunks(DATAGRAM) {
                    // SAFETY: writes the chunk's initialised bytes to our socket.
                    check(unsafe { libc::write(s, chunk.as_ptr().cast(), chunk.len()) }, "write")?;
                    syscalls += 1;
                }
            }
        }
        Method::Sendmmsg => {
            let f = File::open(&args.file)?;
            let map = FileMap::new(&f, len)?;
            syscalls += 1;
            let mut off = 0;
            while off < len {
                let mut iovs: Vec<libc::iovec> = Vec::with_capacity(batch);
                while iovs.len() < batch && off < len {
                    let n = DATAGRAM.min(len - off);
                    iovs.push(map.iovec(off, n));
                    off += n;
                }
                let mut msgs: Vec<libc::mmsghdr> = iovs
                    .iter_mut()
                    .map(|iov| {
                        // SAFETY: mmsghdr is plain data; all-zero is valid, then one iovec is set.
                        let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
                        m.msg_hdr.msg_iov = iov;
                        m.msg_hdr.msg_iovlen = 1;
                        m
                    })
                    .collect();
                let mut sent = 0;
                while sent < msgs.len() {
                    // SAFETY: the headers and the iovecs they point at are live; the socket is connected.
                    let r = unsafe { libc::sendmmsg(s, msgs[sent..].as_mut_ptr(), (msgs.len() - sent) as u32, 0) };
                    sent += check(r as isize, "sendmmsg")?;
                    syscalls += 1;
                }
            }
            syscalls += 1; // munmap
        }
        Method::UdpGso => {
            let f = File::open(&args.file)?;
            let map = FileMap::new(&f, len)?;
            let seg: libc::c_int = DATAGRAM as libc::c_int;
            // SAFETY: an int option of the live length.
            let r = unsafe {
                libc::setsockopt(
                    s,
                    libc::SOL_UDP,
                    UDP_SEGMENT,
                    (&seg as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as u32,
                )
            };
            check(r as isize, "setsockopt(UDP_SEGMENT)")?;
            syscalls += 2;
            let mut off = 0;
            while off < len {
                let n = (gso_segments * DATAGRAM).min(len - off);
                let iov = map.iovec(off, n);
                // SAFETY: writes n mapped bytes of the file to our socket.
                check(unsafe { libc::write(s, iov.iov_base, iov.iov_len) }, "write (UDP_SEGMENT)")?;
                syscalls += 1;
                off += n;
            }
            syscalls += 1; // munmap
        }
        Method::MsgZerocopy => {
            let f = File::open(&args.file)?;
            let map = FileMap::new(&f, len)?;
            let one: libc::c_int = 1;
            // SAFETY: an int option of the live length.
            let r = unsafe {
                libc::setsockopt(
                    s,
                    libc::SOL_SOCKET,
                    SO_ZEROCOPY,
                    (&one as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as u32,
                )
            };
            check(r as isize, "setsockopt(SO_ZEROCOPY)")?;
            syscalls += 2;
            let mut completions = ZeroCopyCompletions::default();
            let mut sends = 0u64;
            let mut off = 0;
            while off < len {
                let n = DATAGRAM.min(len - off);
                let iov = map.iovec(off, n);
                // SAFETY: sends n mapped bytes; the pages stay mapped until every completion is in.
                let r = unsafe { libc::send(s, iov.iov_base, iov.iov_len, libc::MSG_ZEROCOPY) };
                let full = r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOBUFS);
                if full {
                    // The socket's budget for pinned pages (optmem) is spent
                    // until completions come back: reap them, then send again.
                    std::thread::sleep(Duration::from_micros(50));
                } else {
                    check(r, "send(MSG_ZEROCOPY)")?;
                    off += n;
                    sends += 1;
                }
                syscalls += 1;
                if sends % 64 == 0 || r < 0 {
                    completions.reap(s)?;
                }
            }
            let deadline = Instant::now() + Duration::from_secs(30);
            while completions.done < sends && Instant::now() < deadline {
                completions.reap(s)?;
                std::thread::sleep(Duration::from_micros(100));
            }
            syscalls += completions.calls + 1;
            eprintln!(
                "msg-zerocopy: {sends} sends, {} completions, {} of them copied by the kernel after all",
                completions.done, completions.copied
            );
            zerocopy_copied = Some(completions.copied);
        }
        Method::IoUringZc => {
            let f = File::open(&args.file)?;
            let map = FileMap::new(&f, len)?;
            syscalls += 1;
            syscalls += send_zc_io_uring(s, &map, len, batch as u32)?;
            syscalls += 1; // munmap
        }
    }
    let cpu = usage();
    // The last call returned; now wait until the NIC has put the last frame out.
    let deadline = Instant::now() + Duration::from_secs(60);
    while tx_packets(&args.iface) < tx_before + datagrams && Instant::now() < deadline {
        std::thread::sleep(Duration::from_micros(200));
    }
    let wall = start.elapsed().as_secs_f64();
    let busy = zcnic::usage::system_busy_seconds().zip(busy_before).map(|(after, before)| after - before);
    let sent = tx_packets(&args.iface) - tx_before;
    let (locked, resident) = memory_peaks();
    let batch_used = match args.method {
        Method::Sendmmsg | Method::IoUringZc => batch,
        Method::UdpGso => gso_segments,
        _ => 1,
    };
    println!(
        "bench-result method={} wall_s={wall:.6} user_s={:.6} sys_s={:.6} vcsw={} ivcsw={} syscalls={syscalls} \
         frames={sent} bytes={len} copies_per_frame={} batch={batch_used} pinned_peak={locked} rss_peak={resident} busy_s={}{}",
        args.method.name(),
        cpu.user - before.user,
        cpu.sys - before.sys,
        cpu.vcsw - before.vcsw,
        cpu.ivcsw - before.ivcsw,
        args.method.copies(),
        busy.map_or_else(|| "-".to_string(), |b| format!("{b:.2}")),
        zerocopy_copied.map_or(String::new(), |c| format!(" zerocopy_copied_sends={c}"))
    );
    Ok(())
}

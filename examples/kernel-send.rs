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
//!
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

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum Method {
    ReadWrite,
    MmapWrite,
    Sendfile,
    Splice,
    OdirectWrite,
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Method::ReadWrite => "read-write",
            Method::MmapWrite => "mmap-write",
            Method::Sendfile => "sendfile",
            Method::Splice => "splice",
            Method::OdirectWrite => "odirect-write",
        }
    }
    fn copies(self) -> u32 {
        match self {
            Method::ReadWrite => 2,
            Method::MmapWrite | Method::OdirectWrite => 1,
            Method::Sendfile | Method::Splice => 0,
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

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let sock = UdpSocket::bind("0.0.0.0:0")?;
    sock.connect(args.dst)?;
    let s = sock.as_raw_fd();
    let len = std::fs::metadata(&args.file)?.len() as usize;
    let datagrams = len.div_ceil(DATAGRAM) as u64;

    let tx_before = tx_packets(&args.iface);
    let before = usage();
    let start = Instant::now();
    let mut syscalls = 0u64;
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
    }
    let cpu = usage();
    // The last call returned; now wait until the NIC has put the last frame out.
    let deadline = Instant::now() + Duration::from_secs(60);
    while tx_packets(&args.iface) < tx_before + datagrams && Instant::now() < deadline {
        std::thread::sleep(Duration::from_micros(200));
    }
    let wall = start.elapsed().as_secs_f64();
    let sent = tx_packets(&args.iface) - tx_before;
    println!(
        "bench-result method={} wall_s={wall:.6} user_s={:.6} sys_s={:.6} vcsw={} ivcsw={} syscalls={syscalls} \
         frames={sent} bytes={len} copies_per_frame={}",
        args.method.name(),
        cpu.user - before.user,
        cpu.sys - before.sys,
        cpu.vcsw - before.vcsw,
        cpu.ivcsw - before.ivcsw,
        args.method.copies()
    );
    Ok(())
}

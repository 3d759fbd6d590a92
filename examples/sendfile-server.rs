//! sendfile-server: the kernel's answer to `zcnic serve`, for the TCP
//! benchmark: a minimal HTTP/1.0-style file server on an ordinary socket. One
//! connection at a time, `Connection: close`. Two ways to send the file
//! (`--method`):
//!
//! - `sendfile` (default): sendfile(2); 0 CPU copies of the payload: the page
//!   cache pages are referenced into the skbs, and the kernel's e1000 driver
//!   segments them with TSO.
//! - `msg-zerocopy`: send(MSG_ZEROCOPY) of 64 KiB at a time from a read-only
//!   mmap of the file, SO_ZEROCOPY; 0 copies where the kernel pinned the user
//!   pages, and the completions (reaped from the error queue) say when it copied.
//!
//! On SIGINT/SIGTERM it prints the bytes it sent and its CPU time (getrusage),
//! and for msg-zerocopy its sends, completions and copied sends.
//!
//! ```text
//! sendfile-server --bind 10.0.0.3:80 --root /disk [--method msg-zerocopy]
//! ```

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};

/// Socket option and error-queue codes from Linux's uapi headers.
const SO_ZEROCOPY: libc::c_int = 60;
const SO_EE_ORIGIN_ZEROCOPY: u8 = 5;
const SO_EE_CODE_ZEROCOPY_COPIED: u8 = 1;
/// Bytes per MSG_ZEROCOPY send. Big sends are the kernel's best setting: each
/// call builds skbs of up to 64 KiB that the NIC cuts with TSO, and each costs
/// one page-pinning pass, one completion and one syscall; small sends would
/// pay those per few segments and hand the NIC small packets.
const ZC_CHUNK: usize = 64 * 1024;
/// How long to wait for outstanding completions (or for optmem to free up).
const ZC_PATIENCE: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum Method {
    /// sendfile(2) from the page cache
    Sendfile,
    /// send(MSG_ZEROCOPY) from an mmap of the file
    MsgZerocopy,
}

/// Serve files with sendfile(2) or MSG_ZEROCOPY.
#[derive(Parser, Debug)]
struct Args {
    /// Address and port to listen on
    #[arg(long)]
    bind: SocketAddrV4,
    /// Directory to serve (paths with `..` are refused)
    #[arg(long)]
    root: PathBuf,
    /// How to send each file
    #[arg(long, value_enum, default_value_t = Method::Sendfile)]
    method: Method,
}

fn cpu_seconds() -> (f64, f64) {
    // SAFETY: rusage is plain integers; all-zero is a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes one rusage into the live struct we pass.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let s = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (s(ru.ru_utime), s(ru.ru_stime))
}

/// MSG_ZEROCOPY counts over the whole run: successful sends, sends the kernel
/// reported complete, and of those the ones it copied after all.
#[derive(Default)]
struct ZeroCopy {
    sends: u64,
    done: u64,
    copied: u64,
}

impl ZeroCopy {
    /// Read every completion waiting on `s`'s error queue (non-blocking).
    fn reap(&mut self, s: libc::c_int) {
        loop {
            let mut control = [0u64; 16];
            // SAFETY: msghdr is plain data; all-zero is a valid empty header.
            let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = std::mem::size_of_val(&control);
            // SAFETY: the header and its control buffer are live for the call.
            if unsafe { libc::recvmsg(s, &mut msg, libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT) } < 0 {
                return; // EAGAIN: nothing (more) queued; anything else: the caller's wait is bounded.
            }
            // SAFETY: `msg` describes our control buffer, which the kernel filled.
            let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
            while !cmsg.is_null() {
                // SAFETY: CMSG_FIRSTHDR/NXTHDR only return headers that lie inside `control`.
                let (level, kind) = unsafe { ((*cmsg).cmsg_level, (*cmsg).cmsg_type) };
                if level == libc::SOL_IP && kind == libc::IP_RECVERR {
                    // SAFETY: an IP_RECVERR message's data is a sock_extended_err,
                    // inside `control`; read_unaligned as control data need not be aligned for it.
                    let err = unsafe { libc::CMSG_DATA(cmsg).cast::<libc::sock_extended_err>().read_unaligned() };
                    if err.ee_origin == SO_EE_ORIGIN_ZEROCOPY {
                        // Sends ee_info..=ee_data (a wrapping 32-bit counter) completed.
                        let n = u64::from(err.ee_data.wrapping_sub(err.ee_info)) + 1;
                        self.done += n;
                        if err.ee_code == SO_EE_CODE_ZEROCOPY_COPIED {
                            self.copied += n;
                        }
                    }
                }
                // SAFETY: `cmsg` is a header of `msg`'s control buffer.
                cmsg = unsafe { libc::CMSG_NXTHDR(&msg, cmsg) };
            }
        }
    }

    /// Sleep until `s` has something on its error queue (POLLERR), at most `ms`.
    fn wait(s: libc::c_int, ms: libc::c_int) {
        let mut pfd = libc::pollfd { fd: s, events: 0, revents: 0 };
        // SAFETY: one live pollfd for the call.
        unsafe { libc::poll(&mut pfd, 1, ms) };
    }
}

/// A read-only shared mapping of a whole (non-empty) file, unmapped on drop.
struct FileMap {
    ptr: *mut libc::c_void,
    len: usize,
}

impl FileMap {
    fn new(file: &File, len: usize) -> std::io::Result<FileMap> {
        // SAFETY: a fresh read-only shared mapping that aliases no Rust memory; checked below.
        let p =
            unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_SHARED, file.as_raw_fd(), 0) };
        if p == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(FileMap { ptr: p, len })
    }
}

impl Drop for FileMap {
    fn drop(&mut self) {
        // SAFETY: unmapping our own mapping; the kernel holds its own
        // references on any pages still in flight.
        unsafe { libc::munmap(self.ptr, self.len) };
    }
}

/// Send the whole file on `conn` with MSG_ZEROCOPY; returns the bytes sent.
/// Waits (bounded) for every send's completion before returning, since the
/// pages must stay mapped until then.
fn send_zerocopy(conn: &TcpStream, file: &File, len: usize, zc: &mut ZeroCopy) -> std::io::Result<usize> {
    if len == 0 {
        return Ok(0); // nothing to map (mmap refuses length 0) or send
    }
    let s = conn.as_raw_fd();
    let one: libc::c_int = 1;
    // SAFETY: `one` is a live c_int for the call, its size passed.
    let r = unsafe {
        libc::setsockopt(
            s,
            libc::SOL_SOCKET,
            SO_ZEROCOPY,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of_val(&one) as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let map = FileMap::new(file, len)?;
    // This socket's completions number its own sends only.
    let (sends_before, done_before) = (zc.sends, zc.done);
    let outstanding = |zc: &ZeroCopy| (zc.sends - sends_before).saturating_sub(zc.done - done_before);
    let mut off = 0usize;
    let mut progress = Instant::now();
    while off < len {
        let n = ZC_CHUNK.min(len - off);
        // SAFETY: off + n <= len, inside the mapping, which stays mapped until
        // every completion is in (or the bounded wait below gives up).
        let r =
            unsafe { libc::send(s, map.ptr.cast::<u8>().add(off).cast(), n, libc::MSG_ZEROCOPY | libc::MSG_NOSIGNAL) };
        if r > 0 {
            // A partial send (a signal, or a timeout) still counts as one send.
            off += r as usize;
            zc.sends += 1;
            progress = Instant::now();
            if zc.sends % 16 == 0 {
                zc.reap(s);
            }
            continue;
        }
        if r == 0 {
            break;
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            // The socket's budget for zero-copy state (optmem) is spent until
            // completions come back: take them, then send again.
            Some(libc::ENOBUFS) if progress.elapsed() < ZC_PATIENCE => {
                zc.reap(s);
                ZeroCopy::wait(s, 10);
                zc.reap(s);
            }
            Some(libc::EINTR) => {}
            _ => {
                eprintln!("sendfile-server: send(MSG_ZEROCOPY) at {off} of {len} bytes: {e}");
                break;
            }
        }
    }
    let deadline = Instant::now() + ZC_PATIENCE;
    loop {
        zc.reap(s);
        if outstanding(zc) == 0 || Instant::now() >= deadline {
            break;
        }
        ZeroCopy::wait(s, 100);
    }
    if outstanding(zc) > 0 {
        eprintln!("sendfile-server: {} MSG_ZEROCOPY sends still outstanding after {ZC_PATIENCE:?}", outstanding(zc));
    }
    drop(map);
    Ok(off)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let stop = zcnic::signals::install();
    let listener = TcpListener::bind(args.bind)?;
    listener.set_nonblocking(true)?;
    println!("listening on {}", args.bind);
    let mut sent = 0u64;
    let mut requests = 0u64;
    let mut zc = ZeroCopy::default();
    while !stop.is_set() {
        let (mut conn, _) = match listener.accept() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                // Sleep until a connection arrives, SIGINT interrupts the
                // wait (EINTR: the handler has no SA_RESTART) or a second
                // passes (a signal just before the poll): two system calls
                // a second while idle, so the count pass counts the serving.
                let mut pfd = libc::pollfd { fd: listener.as_raw_fd(), events: libc::POLLIN, revents: 0 };
                // SAFETY: one live pollfd for the duration of the call.
                unsafe { libc::poll(&mut pfd, 1, 1000) };
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        conn.set_nonblocking(false)?;
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
            let n = conn.read(&mut buf)?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        let line = String::from_utf8_lossy(&head);
        let path = line.split_whitespace().nth(1).unwrap_or("/").trim_start_matches('/').to_string();
        let file = if path.contains("..") { None } else { File::open(args.root.join(&path)).ok() };
        let Some(file) = file else {
            conn.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
            continue;
        };
        let len = file.metadata()?.len();
        conn.write_all(format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n").as_bytes())?;
        match args.method {
            Method::Sendfile => {
                let mut offset: libc::off_t = 0;
                while (offset as u64) < len {
                    let left = (len - offset as u64).min(1 << 30) as usize;
                    // SAFETY: both fds are open for the call; `offset` is a live
                    // off_t the kernel advances; no Rust memory is touched.
                    let n = unsafe { libc::sendfile(conn.as_raw_fd(), file.as_raw_fd(), &mut offset, left) };
                    if n <= 0 {
                        break;
                    }
                }
                sent += offset as u64;
            }
            Method::MsgZerocopy => sent += send_zerocopy(&conn, &file, len as usize, &mut zc)? as u64,
        }
        requests += 1;
    }
    let (user, system) = cpu_seconds();
    print!("sendfile-server: {requests} requests, {sent} bytes sent; cpu (getrusage): user {user:.3} s, system {system:.3} s");
    if args.method == Method::MsgZerocopy {
        print!(" method msg-zerocopy: {} sends, {} completions, {} copied", zc.sends, zc.done, zc.copied);
    }
    println!();
    Ok(())
}

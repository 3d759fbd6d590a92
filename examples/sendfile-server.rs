//! sendfile-server: the kernel's answer to `zcnic serve`, for the TCP
//! benchmark: a minimal HTTP/1.0-style file server on an ordinary socket that
//! sends each file with sendfile(2) (zero-copy from the page cache to the
//! socket; the kernel's e1000 driver segments with TSO). One connection at a
//! time, `Connection: close`. On SIGINT/SIGTERM it prints the bytes it sent
//! and its CPU time (getrusage).
//!
//! ```text
//! sendfile-server --bind 10.0.0.3:80 --root /disk
//! ```

use std::io::{Read, Write};
use std::net::{SocketAddrV4, TcpListener};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

/// Serve files with sendfile(2).
#[derive(Parser, Debug)]
struct Args {
    /// Address and port to listen on
    #[arg(long)]
    bind: SocketAddrV4,
    /// Directory to serve (paths with `..` are refused)
    #[arg(long)]
    root: PathBuf,
}

fn cpu_seconds() -> (f64, f64) {
    // SAFETY: rusage is plain integers; all-zero is a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes one rusage into the live struct we pass.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let s = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (s(ru.ru_utime), s(ru.ru_stime))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let stop = zcnic::signals::install();
    let listener = TcpListener::bind(args.bind)?;
    listener.set_nonblocking(true)?;
    println!("listening on {}", args.bind);
    let mut sent = 0u64;
    let mut requests = 0u64;
    while !stop.is_set() {
        let (mut conn, _) = match listener.accept() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
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
        let file = if path.contains("..") { None } else { std::fs::File::open(args.root.join(&path)).ok() };
        let Some(file) = file else {
            conn.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
            continue;
        };
        let len = file.metadata()?.len();
        conn.write_all(format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n").as_bytes())?;
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
        requests += 1;
    }
    let (user, system) = cpu_seconds();
    println!("sendfile-server: {requests} requests, {sent} bytes sent; cpu (getrusage): user {user:.3} s, system {system:.3} s");
    Ok(())
}

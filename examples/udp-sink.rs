//! udp-sink: an ordinary kernel UDP socket that receives datagrams and says
//! what arrived. It is the far end of `zcnic send` in the tests: if the
//! kernel hands a datagram to the socket, its IP and UDP checksums were right
//! (the kernel drops datagrams with bad ones).
//!
//! ```text
//! udp-sink --bind 10.0.0.2:9000 --out /tmp/received --idle 3
//! ```
//!
//! Prints a line `listening on ...` once the socket is bound, then, after
//! `--idle` seconds without a datagram (or `--wait` seconds if none came):
//! `received N datagrams, B bytes, sha256 HEX`.

use std::fs::File;
use std::io::Write;
use std::net::{SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use clap::Parser;
use sha2::{Digest, Sha256};

/// Receive UDP datagrams with a kernel socket and report what arrived.
#[derive(Parser, Debug)]
struct Args {
    /// Address and port to bind
    #[arg(long, value_name = "IPV4:PORT")]
    bind: SocketAddrV4,
    /// Append every payload to this file
    #[arg(long, value_name = "FILE")]
    out: Option<std::path::PathBuf>,
    /// Stop after this many seconds without a datagram, once one has arrived
    #[arg(long, value_name = "SECS", default_value_t = 3.0)]
    idle: f64,
    /// Stop after this many seconds if nothing arrives at all
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    wait: f64,
}

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let sock = UdpSocket::bind(args.bind)?;
    // A large receive buffer, so a burst is not dropped while we write the file.
    // SO_RCVBUFFORCE ignores rmem_max (root only); fall back to SO_RCVBUF.
    let size: libc::c_int = 32 << 20;
    for opt in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
        // SAFETY: passes a pointer to a live c_int and its size.
        let r = unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                (&size as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r == 0 {
            break;
        }
    }
    let mut out = args.out.as_ref().map(File::create).transpose()?;
    println!("listening on {}", args.bind);
    std::io::stdout().flush()?;

    let mut hash = Sha256::new();
    let (mut datagrams, mut bytes) = (0u64, 0u64);
    let mut buf = vec![0u8; 65536];
    let start = Instant::now();
    let mut last = None::<Instant>;
    loop {
        let left = match last {
            Some(t) => Duration::from_secs_f64(args.idle).saturating_sub(t.elapsed()),
            None => Duration::from_secs_f64(args.wait).saturating_sub(start.elapsed()),
        };
        if left.is_zero() {
            break;
        }
        sock.set_read_timeout(Some(left))?;
        match sock.recv(&mut buf) {
            Ok(n) => {
                hash.update(&buf[..n]);
                if let Some(f) = out.as_mut() {
                    f.write_all(&buf[..n])?;
                }
                datagrams += 1;
                bytes += n as u64;
                last = Some(Instant::now());
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => continue,
            Err(e) => return Err(e),
        }
    }
    let digest: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    println!("received {datagrams} datagrams, {bytes} bytes, sha256 {digest}");
    Ok(())
}

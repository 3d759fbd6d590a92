//! malformed-frames: send frames that lie, from an ordinary Linux interface
//! through a raw socket, at an address zcnic owns: a hostile peer for the
//! tests. Truncated headers, lengths past the end, bad checksums, fragments,
//! a TCP header with absurd options, runts and junk.
//!
//! ```text
//! malformed-frames --iface eth1 --dst-mac 52:54:00:12:34:50 --dst-ip 10.0.0.1 --src-ip 10.0.0.2
//! ```

use std::net::Ipv4Addr;

use clap::Parser;
use zcnic_driver::MacAddress;

/// Send malformed frames at an address.
#[derive(Parser, Debug)]
struct Args {
    /// The Linux interface to send from
    #[arg(long)]
    iface: String,
    /// The victim's MAC
    #[arg(long)]
    dst_mac: MacAddress,
    /// The victim's IPv4 address
    #[arg(long)]
    dst_ip: Ipv4Addr,
    /// Our IPv4 address
    #[arg(long)]
    src_ip: Ipv4Addr,
    /// Instead of malformed frames, send this many well-formed SYNs to
    /// --syn-port from --src-ip (a SYN flood: nobody will complete them)
    #[arg(long, value_name = "N")]
    syn_flood: Option<u32>,
    /// The port the SYNs go to
    #[arg(long, default_value_t = 80)]
    syn_port: u16,
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// A well-formed Ethernet + IPv4 packet of `protocol` carrying `payload`.
fn ipv4(args: &Args, src_mac: [u8; 6], protocol: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&args.dst_mac.0);
    f.extend_from_slice(&src_mac);
    f.extend_from_slice(&[0x08, 0x00]);
    let total = (20 + payload.len()) as u16;
    let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, protocol, 0, 0];
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&args.src_ip.octets());
    ip.extend_from_slice(&args.dst_ip.octets());
    let sum = checksum(&ip);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(payload);
    f
}

fn frames(args: &Args, src_mac: [u8; 6]) -> Vec<(&'static str, Vec<u8>)> {
    let tcp_syn = {
        let mut t = vec![0u8; 20];
        t[0..2].copy_from_slice(&40000u16.to_be_bytes());
        t[2..4].copy_from_slice(&80u16.to_be_bytes());
        t[12] = 5 << 4;
        t[13] = 0x02;
        t
    };
    let good = ipv4(args, src_mac, 6, &tcp_syn);
    let mut out = vec![("runt: 10 bytes", good[..10].to_vec()), ("truncated IPv4 header", good[..30].to_vec())];
    let mut lying = good.clone();
    lying[16..18].copy_from_slice(&1400u16.to_be_bytes());
    out.push(("IPv4 total length past the end", lying));
    let mut bad_sum = good.clone();
    bad_sum[24] ^= 0x55;
    out.push(("bad IPv4 header checksum", bad_sum));
    let mut ihl = good.clone();
    ihl[14] = 0x4f;
    out.push(("IHL past the end", ihl));
    let mut frag = good.clone();
    frag[20] = 0x20;
    let sum = {
        frag[24] = 0;
        frag[25] = 0;
        checksum(&frag[14..34])
    };
    frag[24..26].copy_from_slice(&sum.to_be_bytes());
    out.push(("a fragment", frag));
    // TCP with a data offset past the segment and options that lie about their length.
    let mut opts = tcp_syn.clone();
    opts[12] = 15 << 4;
    opts.extend_from_slice(&[2, 0, 3, 255, 8, 1, 0, 0]);
    out.push(("TCP data offset past the end, absurd options", ipv4(args, src_mac, 6, &opts)));
    let mut junk = vec![0u8; 300];
    for (i, b) in junk.iter_mut().enumerate() {
        *b = (i * 151 % 251) as u8;
    }
    junk[..6].copy_from_slice(&args.dst_mac.0);
    junk[12..14].copy_from_slice(&[0x08, 0x00]);
    out.push(("junk after an IPv4 ethertype", junk));
    out.push(("ICMP echo with a bad checksum", ipv4(args, src_mac, 1, &[8, 0, 0x12, 0x34, 0, 1, 0, 1, 1, 2, 3])));
    out
}

/// `n` SYNs from distinct source ports, with valid checksums.
fn syn_flood(args: &Args, src_mac: [u8; 6], n: u32) -> Vec<(&'static str, Vec<u8>)> {
    (0..n)
        .map(|i| {
            let mut t = vec![0u8; 20];
            t[0..2].copy_from_slice(&(20000 + i as u16).to_be_bytes());
            t[2..4].copy_from_slice(&args.syn_port.to_be_bytes());
            t[4..8].copy_from_slice(&(i.wrapping_mul(7919)).to_be_bytes());
            t[12] = 5 << 4;
            t[13] = 0x02;
            t[14..16].copy_from_slice(&65535u16.to_be_bytes());
            let mut pseudo = Vec::new();
            pseudo.extend_from_slice(&args.src_ip.octets());
            pseudo.extend_from_slice(&args.dst_ip.octets());
            pseudo.extend_from_slice(&[0, 6, 0, 20]);
            pseudo.extend_from_slice(&t);
            let sum = checksum(&pseudo);
            t[16..18].copy_from_slice(&sum.to_be_bytes());
            ("a SYN nobody will complete", ipv4(args, src_mac, 6, &t))
        })
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let mac_text = std::fs::read_to_string(format!("/sys/class/net/{}/address", args.iface))?;
    let src_mac: MacAddress = mac_text.trim().parse()?;
    let ifindex = {
        let name = std::ffi::CString::new(args.iface.clone())?;
        // SAFETY: if_nametoindex reads a NUL-terminated string, which a CString is.
        unsafe { libc::if_nametoindex(name.as_ptr()) }
    };
    if ifindex == 0 {
        return Err(format!("no interface {}", args.iface).into());
    }
    // SAFETY: socket(2) takes no pointers; the result is checked.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    // SAFETY: sockaddr_ll is plain integers; all-zero is a valid value.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_ifindex = ifindex as i32;
    addr.sll_halen = 6;
    addr.sll_addr[..6].copy_from_slice(&args.dst_mac.0);
    let list = match args.syn_flood {
        Some(n) => syn_flood(&args, src_mac.0, n),
        None => frames(&args, src_mac.0),
    };
    for (what, frame) in &list {
        // SAFETY: `frame` is a live buffer of frame.len() bytes and `addr` a
        // live sockaddr_ll whose size we pass; the fd is ours.
        let n = unsafe {
            libc::sendto(
                fd,
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&addr as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        println!(
            "sent {what}: {}",
            if n < 0 { std::io::Error::last_os_error().to_string() } else { format!("{n} bytes") }
        );
    }
    // SAFETY: closes our own fd once.
    unsafe { libc::close(fd) };
    println!("sent {} {} frames", list.len(), if args.syn_flood.is_some() { "SYN" } else { "malformed" });
    Ok(())
}

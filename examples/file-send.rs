//! file-send: the zero-copy file sender in a page of code.
//!
//! Sends a file as UDP/IPv4 datagrams through an e1000/e1000e bound to
//! vfio-pci. The NIC reads the payload straight from the file's page cache
//! (mapped read-only through the IOMMU); the CPU writes only the 42 bytes of
//! headers per datagram and the descriptors. Checksums are the NIC's job.
//!
//! ```text
//! cargo run --release --example file-send -- 0000:00:02.0 big.iso 10.0.0.1 10.0.0.2:9000
//! ```

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use zcnic_driver::net::udp::UdpFlow;
use zcnic_driver::pci::binding::{self, StateDir};
use zcnic_driver::pci::sysfs::Sysfs;
use zcnic_driver::{FileSendConfig, FileSource, Nic, NicConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, pci, file, src, dst] = args.as_slice() else {
        return Err("usage: file-send <PCI address> <file> <our IPv4> <destination IPv4:port>".into());
    };
    let (src, dst): (Ipv4Addr, SocketAddrV4) = (src.parse()?, dst.parse()?);
    // A PCI address, or the interface name the NIC had before `zcnic bind`.
    let pci = binding::resolve_nic(pci, &Sysfs::default(), &StateDir::default())?;

    // 1. The file: checked to be a regular, readable file before anything is sent.
    let source = FileSource::open(Path::new(file))?;

    // 2. The NIC: VFIO, DMA memory, bring-up.
    let mut nic = Nic::open(&pci, &NicConfig::default())?;

    // 3. Who to send to: ARP for the destination's MAC.
    let dst_mac = nic.resolve_mac(src, *dst.ip(), 3, Duration::from_secs(1))?;
    let flow =
        UdpFlow { src_mac: nic.mac(), dst_mac, src_ip: src, dst_ip: *dst.ip(), src_port: 47000, dst_port: dst.port() };

    // 4. Send: windows of the file are pinned, sent and released in turn.
    let never = AtomicBool::new(false);
    let report = nic.send_file(&source, &flow, &FileSendConfig::default(), &never, &mut |_| {})?;

    println!(
        "{} bytes in {} datagrams, {:.3} s; payload bytes copied by the CPU: {}",
        report.bytes_sent,
        report.datagrams,
        report.elapsed.as_secs_f64(),
        report.payload_bytes_copied
    );
    Ok(())
    // Dropping `nic` stops its DMA before its memory is released.
}

//! file-send: the zero-copy file sender in a page of code.
//!
//! Sends a file as UDP/IPv4 datagrams through an e1000/e1000e bound to
//! vfio-pci. The NIC reads the payload straight from the file's page cache
//! (mapped read-only through the IOMMU); the CPU writes only the 42 bytes of
//! headers per datagram and the descriptors. Checksums are the NIC's job.
//!
//! ```text
//! cargo run --release --example file-send -- 0000:00:02.0 big.iso 10.0.0.1:47000 10.0.0.2:9000
//! ```

use std::net::SocketAddrV4;
use std::path::Path;
use std::time::Duration;

use zcnic_driver::binding::{resolve_nic, StateDir};
use zcnic_driver::pci::sysfs::Sysfs;
use zcnic_driver::{resolve_mac, FileSend, FileSource, Nic, NicConfig, UdpFlow};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, pci, file, src, dst] = args.as_slice() else {
        return Err("usage: file-send <PCI address> <file> <our IPv4:port> <destination IPv4:port>".into());
    };
    let (src, dst): (SocketAddrV4, SocketAddrV4) = (src.parse()?, dst.parse()?);
    // A PCI address, or the interface name the NIC had before `zcnic bind`.
    let pci = resolve_nic(pci, &Sysfs::default(), &StateDir::default())?;

    // 1. The file: checked to be a regular, readable file before anything is sent.
    let source = FileSource::open(Path::new(file))?;

    // 2. The NIC: VFIO, DMA memory, bring-up.
    let mut nic = Nic::open(&pci, &NicConfig::default())?;

    // 3. Who to send to: ARP for the destination's MAC.
    let dst_mac = resolve_mac(&mut nic, *src.ip(), *dst.ip(), 3, Duration::from_secs(1))?;
    let flow = UdpFlow::new(nic.mac(), src, dst_mac, dst);

    // 4. Send: windows of the file are pinned, sent and released in turn.
    let report = FileSend::new(&source, flow).send(&mut nic)?;

    println!(
        "{} bytes in {} datagrams, {:.3} s; header bytes written by the CPU: {}",
        report.bytes_sent,
        report.datagrams,
        report.elapsed.as_secs_f64(),
        report.header_bytes_written
    );
    Ok(())
    // Dropping `nic` stops its DMA before its memory is released.
}

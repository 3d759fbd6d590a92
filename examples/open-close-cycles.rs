//! open-close-cycles: open a NIC, send a file, close it, N times in one
//! process, and print after each cycle what the process holds: locked and
//! pinned memory (/proc/self/status), open file descriptors, and the IOMMU
//! mappings the driver keeps. A driver that leaks shows numbers that grow.
//! Used by the fault tests; handy to check a real machine too.
//!
//! ```text
//! open-close-cycles --pci 0000:00:02.0 --file /tmp/f --cycles 50
//! ```

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;

use clap::Parser;
use zcnic::args::NicArg;
use zcnic_driver::{FileSend, FileSource, MacAddress, Nic, UdpFlow};

/// Open, send, close a NIC N times and report what the process holds after each cycle.
#[derive(Parser, Debug)]
struct Args {
    #[command(flatten)]
    nic: NicArg,
    /// The file to send each cycle
    #[arg(long)]
    file: PathBuf,
    /// Cycles
    #[arg(long, default_value_t = 50)]
    cycles: u32,
}

fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix(field).map(|v| v.trim().trim_end_matches(" kB").trim().parse().ok()))
        })
        .flatten()
        .unwrap_or(0)
}

fn holdings() -> String {
    let fds = std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0);
    let (maps, bytes) = zcnic_driver::live_dma_mappings();
    format!(
        "locked_kb={} pinned_kb={} fds={fds} dma_mappings={maps} dma_bytes={bytes}",
        status_kb("VmLck:"),
        status_kb("VmPin:")
    )
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let pci = args.nic.resolve()?;
    println!("before: {}", holdings());
    for cycle in 1..=args.cycles {
        let source = FileSource::open(&args.file)?;
        let mut nic = Nic::open(&pci, &args.nic.config())?;
        let flow = UdpFlow::new(
            nic.mac(),
            SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 47000),
            MacAddress([0x02, 0, 0, 0, 0, 0x01]),
            SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 9), 9),
        );
        let report = FileSend::new(&source, flow).send(&mut nic)?;
        if cycle == 1 {
            println!("while open: {}", holdings());
        }
        drop(nic);
        drop(source);
        println!("cycle {cycle}: sent {} datagrams; after close: {}", report.datagrams, holdings());
    }
    println!("after: {}", holdings());
    Ok(())
}

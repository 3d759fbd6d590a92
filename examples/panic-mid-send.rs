//! panic-mid-send: what the panic-safety test runs (needs the
//! `fault-injection` feature, which the test bed's build turns on).
//!
//! Sends a file with a test hook that panics after `--after` datagrams,
//! while the NIC still owns descriptors pointing into the file's pinned
//! windows. The panic is caught here, as a program embedding zcnic might.
//! Then it prints what the process holds (the NIC must have refused to go on,
//! its bus mastering must be off, the file windows unmapped), brings the NIC
//! back with `recover`, and sends the whole file again.
//!
//! ```text
//! panic-mid-send --pci 0000:00:02.0 --file /tmp/f --dst-mac 52:54:00:12:34:51 --after 100
//! ```

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use zcnic::args::NicArg;
use zcnic_driver::{live_dma_mappings, FileSend, FileSource, MacAddress, Nic, UdpFlow};

/// Panic mid-send, catch it, recover the NIC, send again.
#[derive(Parser, Debug)]
struct Args {
    #[command(flatten)]
    nic: NicArg,
    /// The file to send
    #[arg(long)]
    file: PathBuf,
    /// The receiver's MAC
    #[arg(long)]
    dst_mac: MacAddress,
    /// Panic once this many datagrams have been handed to the NIC
    #[arg(long, default_value_t = 100)]
    after: u64,
}

/// Bus Master Enable, read from the device's config space in sysfs (the
/// driver's own view is not trusted for this).
fn bus_master_on(pci: &str) -> std::io::Result<bool> {
    let config = std::fs::read(format!("/sys/bus/pci/devices/{pci}/config"))?;
    Ok(config.get(4).is_some_and(|command| command & 0x4 != 0))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args = Args::parse();
    let pci = args.nic.resolve()?;
    let source = FileSource::open(&args.file)?;
    let mut nic = Nic::open(&pci, &args.nic.config())?;
    let flow = UdpFlow::new(
        nic.mac(),
        SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 47000),
        args.dst_mac,
        SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 9000),
    );
    let (maps_open, _) = live_dma_mappings();
    println!("open: dma_mappings={maps_open} bus_master={}", bus_master_on(&pci.to_string())?);

    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        FileSend::new(&source, flow).rate_mbit(50.0).panic_after_datagrams(args.after).send(&mut nic)
    }));
    let message = match &caught {
        Err(p) => p.downcast_ref::<String>().cloned().unwrap_or_else(|| "a panic".into()),
        Ok(r) => return Err(format!("the send did not panic: {r:?}").into()),
    };
    let (maps, _) = live_dma_mappings();
    let refused = match nic.tx_batch() {
        Err(e) => format!("refused ({e})"),
        Ok(_) => "accepted".into(),
    };
    println!(
        "after-panic: caught \"{message}\"; dma_mappings={maps} bus_master={} next_batch={refused}",
        bus_master_on(&pci.to_string())?
    );

    nic.recover()?;
    let report = FileSend::new(&source, flow).send(&mut nic)?;
    nic.wait_tx_done(Duration::from_secs(5))?;
    println!("resend: {} bytes in {} datagrams", report.bytes_sent, report.datagrams);
    Ok(())
}

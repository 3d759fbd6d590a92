//! tso-send: what the TSO guest test runs (needs the `fault-injection`
//! feature, which the test bed's build turns on).
//!
//! Posts ONE TCP frame whose payload is a range of a file, read by the NIC
//! straight from the file's pinned pages, and lets the NIC cut it into
//! MSS-sized segments (TCP segmentation offload). No connection exists: the
//! test reads the segments off the wire.
//!
//! ```text
//! tso-send --pci 0000:00:02.0 --file /data/f --offset 1000 --len 65000 --mss 1460 --dst-mac 02:00:00:00:00:01
//! ```

use std::net::SocketAddrV4;
use std::path::PathBuf;

use clap::Parser;
use zcnic::args::NicArg;
use zcnic_driver::{test_hooks, FileSource, MacAddress, Nic};

/// Send one TSO frame of file payload.
#[derive(Parser, Debug)]
struct Args {
    #[command(flatten)]
    nic: NicArg,
    /// The file whose bytes are the payload
    #[arg(long)]
    file: PathBuf,
    /// First payload byte's offset in the file
    #[arg(long, default_value_t = 0)]
    offset: u64,
    /// Payload bytes (at most 65535 - 54 for one frame)
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=65481))]
    len: u32,
    /// Payload bytes per segment
    #[arg(long, default_value_t = 1460)]
    mss: u16,
    /// Destination MAC
    #[arg(long)]
    dst_mac: MacAddress,
    /// First sequence number
    #[arg(long, default_value_t = 1_000_000)]
    seq: u32,
    /// Source address and port
    #[arg(long, default_value = "10.0.0.1:8080")]
    src: SocketAddrV4,
    /// Destination address and port
    #[arg(long, default_value = "10.0.0.2:40000")]
    dst: SocketAddrV4,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args = Args::parse();
    let pci = args.nic.resolve()?;
    let file = FileSource::open(&args.file)?;
    let mut nic = Nic::open(&pci, &args.nic.config())?;
    test_hooks::send_tso_frame(
        &mut nic,
        &file,
        args.offset,
        args.len,
        args.mss,
        args.dst_mac,
        args.src,
        args.dst,
        args.seq,
    )?;
    let tx = nic.tx_stats();
    println!(
        "posted 1 TSO frame of {} payload bytes; the NIC counted {} packets sent",
        args.len,
        nic.hw_stats().good_packets_tx
    );
    println!("driver: {} frames, {} descriptors' worth of doorbells {}", tx.frames, tx.completed, tx.doorbells);
    Ok(())
}

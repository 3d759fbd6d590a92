//! packet-send: the first thing to run with zcnic.
//!
//! Opens an e1000/e1000e that is bound to vfio-pci, brings it up, and sends
//! `--count` Ethernet frames of `--size` bytes (60 to 1514, header included,
//! FCS excluded) to the broadcast address (or `--dst-mac`), from the NIC's own MAC, with
//! EtherType 0x88B5 (IEEE "local experimental"). Then it waits until the NIC
//! has completed every frame and prints the rate.
//!
//! The frames are laid out as `zcnic::packet_send` documents (a sequence
//! number and a byte pattern that `zcnic verify-capture` checks).
//!
//! ```text
//! cargo run --release --example packet-send -- --pci 0000:00:02.0 --count 1000 --size 1514
//! ```

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use zcnic::args::NicArg;
use zcnic::packet_send;
use zcnic_driver::{MacAddress, Nic};

/// Send numbered broadcast frames through an e1000/e1000e driven by zcnic.
#[derive(Parser, Debug)]
#[command(version, after_help = "Example:\n  packet-send --pci 0000:00:02.0 --count 1000 --size 1514")]
struct Args {
    #[command(flatten)]
    nic: NicArg,

    /// Number of frames to send
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    count: u64,

    /// Frame size in bytes, Ethernet header included, FCS excluded
    #[arg(long, value_name = "BYTES", default_value_t = 60, value_parser = clap::value_parser!(u16).range(60..=1514))]
    size: u16,

    /// Destination MAC (default: broadcast)
    #[arg(long, value_name = "MAC", default_value_t = MacAddress::BROADCAST)]
    dst_mac: MacAddress,

    /// Also print one machine-readable `bench-result key=value...` line
    #[arg(long)]
    kv: bool,

    /// Frames per doorbell (TDT write)
    #[arg(long, value_name = "N", default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..=511))]
    batch: u16,
}

fn run(args: &Args) -> anyhow::Result<()> {
    let pci = args.nic.resolve()?;
    let mut nic = Nic::open(&pci, &args.nic.config()).with_context(|| format!("cannot bring up the NIC at {pci}"))?;
    let (src, size, stall) = (nic.mac(), usize::from(args.size), Duration::from_secs(5));
    eprintln!("{}: {} ({}), MAC {src}", args.nic.pci, nic.model().name, nic.model().family);

    let start = Instant::now();
    let mut seq = 0u64;
    while seq < args.count {
        if nic.wait_tx_room(stall)? == 0 {
            continue;
        }
        let mut batch = nic.tx_batch()?;
        let n = (batch.room() as u64).min(u64::from(args.batch)).min(args.count - seq);
        for _ in 0..n {
            let buf = batch.frame_buffer().context("TX ring full inside a batch")?;
            packet_send::write_frame(buf, args.dst_mac, src, seq, size);
            batch.push(size)?;
            seq += 1;
        }
        batch.send()?;
    }
    nic.wait_tx_done(stall)?;
    let secs = start.elapsed().as_secs_f64();

    let stats = nic.tx_stats();
    println!(
        "sent {} frames of {size} bytes in {secs:.3} s ({:.0} frames/s)",
        stats.completed,
        stats.completed as f64 / secs
    );
    println!(
        "doorbells: {}, NIC's own count of good packets transmitted: {}",
        stats.doorbells,
        nic.hw_stats().good_packets_tx
    );
    if args.kv {
        println!(
            "bench-result method=raw-frames wall_s={secs:.6} frames={} bytes={} doorbells={}",
            stats.completed, stats.bytes, stats.doorbells
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("packet-send: error: {}", zcnic::hints::explain(&e));
            ExitCode::FAILURE
        }
    }
}

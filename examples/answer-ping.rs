//! answer-ping: own an IPv4 address on a NIC and answer ARP and ping for it,
//! until the line has been quiet for `--idle` seconds (or Ctrl-C). The
//! link-level half of a host, on which `zcnic serve` builds.
//!
//! ```text
//! answer-ping --pci 0000:00:02.0 --ip 10.0.0.1 --idle 10
//! ```

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use clap::Parser;
use zcnic::args::NicArg;
use zcnic_driver::net::host::Host;
use zcnic_driver::{Error, Nic, NicConfig};

/// Answer ARP and ping for an address.
#[derive(Parser, Debug)]
struct Args {
    #[command(flatten)]
    nic: NicArg,
    /// The address to own
    #[arg(long)]
    ip: Ipv4Addr,
    /// Stop after this many seconds without a frame
    #[arg(long, default_value_t = 10)]
    idle: u64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args = Args::parse();
    let stop = zcnic::signals::install();
    let pci = args.nic.resolve()?;
    let mut nic = Nic::open(&pci, &NicConfig { stop_flag: Some(stop.clone()), ..args.nic.config() })?;
    let mut host = Host::new(nic.mac(), args.ip);
    println!("{}: answering ARP and ping for {}", pci, args.ip);
    let idle = Duration::from_secs(args.idle);
    let mut last = Instant::now();
    while last.elapsed() < idle && !stop.is_set() {
        match nic.wait_rx(idle - last.elapsed().min(idle)) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(Error::Stopped) => break,
            Err(e) => return Err(e.into()),
        }
        nic.rx_burst(64, |frame| {
            // No protocol served beyond ARP and ping here.
            let _ = host.accept(frame, &[]);
        });
        host.flush(&mut nic)?;
        last = Instant::now();
    }
    let s = host.stats();
    println!(
        "answered {} ARP requests and {} pings; ignored {}, malformed {}",
        s.arp_replies, s.echo_replies, s.ignored, s.malformed
    );
    Ok(())
}

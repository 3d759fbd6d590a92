//! The zcnic command line.

mod recv;
mod send;
mod signals;
mod usage;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use zcnic_driver::{MacAddress, Nic, NicConfig, PciAddress};

/// zcnic: a userspace VFIO driver for Intel e1000/e1000e NICs.
#[derive(Parser, Debug)]
#[command(version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Open a NIC bound to vfio-pci, bring it up, print what it is, stop it
    Info {
        /// PCI address of the NIC (e.g. 0000:00:02.0)
        #[arg(long, value_name = "BDF")]
        pci: PciAddress,
    },
    /// Send a file as UDP/IPv4 datagrams, zero-copy from its page cache
    Send(send::SendArgs),
    /// Receive frames until N have arrived or the line has been quiet for the timeout
    Recv(recv::RecvArgs),
    /// Check that a capture holds every frame packet-send sent, in order, byte for byte
    VerifyCapture {
        /// The pcap file (e.g. from `tcpdump -w` on the peer)
        #[arg(long, value_name = "FILE")]
        pcap: PathBuf,
        /// Frames packet-send was asked to send
        #[arg(long, value_name = "N")]
        count: u64,
        /// Their size in bytes
        #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u16).range(60..=1514))]
        size: u16,
        /// The sender's MAC (default: the first frame's source)
        #[arg(long, value_name = "MAC")]
        src: Option<MacAddress>,
    },
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Info { pci } => {
            let nic =
                Nic::open(&pci, &NicConfig::default()).with_context(|| format!("cannot bring up the NIC at {pci}"))?;
            let m = nic.model();
            println!("pci:    {pci}");
            println!("model:  {:04x}:{:04x} {} ({})", m.vendor_id, m.device_id, m.name, m.family);
            println!("mac:    {}", nic.mac());
            println!("link:   {}", if nic.link_up() { "up" } else { "down" });
            Ok(ExitCode::SUCCESS)
        }
        Command::Send(args) => send::run(&args),
        Command::Recv(args) => recv::run(&args).map(|()| ExitCode::SUCCESS),
        Command::VerifyCapture { pcap, count, size, src } => {
            println!("{}", verify::verify_capture(&pcap, count, usize::from(size), src)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("zcnic: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

//! The zcnic command line.

mod nics;
mod recv;
mod send;
mod serve_cmd;
use zcnic::usage;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{CommandFactory, Parser, Subcommand};
use zcnic::args::NicArg;
use zcnic_driver::binding::check_nic_arg;
use zcnic_driver::{MacAddress, Nic, NicConfig};

const EXAMPLES: &str = "\
Examples:
  zcnic list                                   find the NICs and whether zcnic can use them
  zcnic bind 0000:03:00.0                      hand a spare NIC to vfio-pci (or: zcnic bind eth1)
  zcnic send --pci eth1 --file big.iso --src 192.0.2.10 --dst 192.0.2.20:9000
  zcnic recv --pci 0000:04:00.0 --count 1000 --pcap rx.pcap
  zcnic unbind eth1                            give it back to its kernel driver";

/// zcnic: a userspace VFIO driver for Intel e1000/e1000e NICs that sends files
/// with zero copies.
#[derive(Parser, Debug)]
#[command(version, propagate_version = true, after_help = EXAMPLES)]
struct Cli {
    /// More log output (-v info, -vv debug, -vvv trace); RUST_LOG overrides
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Only errors
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List every PCI network controller: driver, interface, IOMMU group, whether zcnic can use it
    List {
        /// Machine-readable output
        #[arg(long)]
        json: bool,
    },
    /// Hand a NIC to vfio-pci, remembering its driver; refuses a NIC that carries traffic
    Bind {
        /// PCI address or interface name
        #[arg(value_parser = check_nic_arg)]
        nic: String,
        /// Bind even if the interface is up with an address, the IOMMU group is shared, or zcnic does not support it
        #[arg(long)]
        force: bool,
    },
    /// Give a NIC back to the driver it had before `zcnic bind` (idempotent)
    Unbind {
        /// PCI address, or the interface name it had
        #[arg(value_parser = check_nic_arg)]
        nic: String,
    },
    /// Send a file as UDP/IPv4 datagrams, zero-copy from its page cache
    Send(send::SendArgs),
    /// Serve a directory over HTTP/1.1 from an address zcnic owns, TCP and file payload zero-copy
    Serve(serve_cmd::ServeArgs),
    /// Receive frames until N have arrived or the line has been quiet for the timeout
    Recv(recv::RecvArgs),
    /// Open a NIC bound to vfio-pci, bring it up, print what it is, stop it
    Info {
        #[command(flatten)]
        nic: NicArg,
    },
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
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::List { json } => nics::list(json).map(|()| ExitCode::SUCCESS),
        Command::Bind { nic, force } => nics::bind(&nic, force).map(|()| ExitCode::SUCCESS),
        Command::Unbind { nic } => nics::unbind(&nic).map(|()| ExitCode::SUCCESS),
        Command::Send(args) => send::run(&args),
        Command::Recv(args) => recv::run(&args),
        Command::Serve(args) => serve_cmd::run(&args),
        Command::Info { nic } => {
            let pci = nic.resolve()?;
            // Show the NIC whether or not its link is up.
            let config =
                NicConfig { require_link: false, link_timeout: std::time::Duration::from_secs(5), ..nic.config() };
            let nic = Nic::open(&pci, &config).with_context(|| format!("cannot bring up the NIC at {pci}"))?;
            let m = nic.model();
            let link = nic.link_info();
            println!("pci:    {pci}");
            println!("model:  {:04x}:{:04x} {} ({})", m.vendor_id, m.device_id, m.name, m.family);
            println!("mac:    {} (from the EEPROM)", nic.mac());
            match link.phy_id {
                Some(id) => println!("phy:    {id:#010x}"),
                None => println!("phy:    did not answer"),
            }
            println!("link:   {}", if link.up { "up" } else { "down" });
            match link.speed_mbit {
                Some(s) => println!("speed:  {s} Mb/s"),
                None => println!("speed:  -"),
            }
            println!(
                "duplex: {}",
                if !link.up {
                    "-"
                } else if link.full_duplex {
                    "full"
                } else {
                    "half"
                }
            );
            println!("flow control: {}", link.flow_control());
            println!("autonegotiation: {}", if link.autoneg_complete { "complete" } else { "not complete" });
            Ok(ExitCode::SUCCESS)
        }
        Command::VerifyCapture { pcap, count, size, src } => {
            println!("{}", verify::verify_capture(&pcap, count, usize::from(size), src)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "zcnic", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level)).init();
    match run(cli) {
        Ok(code) => code,
        Err(e) if e.chain().any(|c| matches!(c.downcast_ref(), Some(zcnic_driver::Error::Stopped))) => {
            eprintln!("zcnic: interrupted: {e:#}");
            ExitCode::from(130)
        }
        Err(e) => {
            eprintln!("zcnic: error: {}", zcnic::hints::explain(&e));
            ExitCode::FAILURE
        }
    }
}

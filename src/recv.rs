//! `zcnic recv`: receive frames, write them to a pcap file, print what the
//! driver and the NIC counted.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::DataLink;
use zcnic::args::NicArg;
use zcnic_driver::{Nic, NicConfig};

use crate::usage::CpuTime;

/// Options of `zcnic recv`.
#[derive(clap::Args, Debug)]
pub struct RecvArgs {
    #[command(flatten)]
    pub nic: NicArg,

    /// Stop after this many frames (default: no limit)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,

    /// Stop when no frame has arrived for this many seconds
    #[arg(long, value_name = "SECS", default_value_t = 5.0, value_parser = parse_timeout)]
    pub timeout: f64,

    /// Write every frame to this pcap file (Ethernet, readable by tcpdump and Wireshark)
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,

    /// Receive every frame on the wire, not only broadcasts and ones for our MAC
    #[arg(long)]
    pub promisc: bool,

    /// RX descriptors (a multiple of 8, 8 to 4096): a deep ring absorbs bursts
    /// while the process is busy writing the pcap
    #[arg(long, value_name = "N", default_value_t = 4096, value_parser = parse_ring)]
    pub rx_ring: u16,
}

fn parse_ring(s: &str) -> Result<u16, String> {
    let v: u16 = s.parse().map_err(|_| format!("'{s}' is not a number of descriptors"))?;
    if (8..=4096).contains(&v) && v % 8 == 0 {
        Ok(v)
    } else {
        Err(format!("{v} is not a multiple of 8 between 8 and 4096"))
    }
}

fn parse_timeout(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("'{s}' is not a number of seconds"))?;
    if v.is_finite() && v > 0.0 && v <= 86_400.0 {
        Ok(v)
    } else {
        Err(format!("{s} is not between 0 and 86400 seconds"))
    }
}

/// Receive until `--count` frames or `--timeout` seconds of silence.
pub fn run(args: &RecvArgs) -> anyhow::Result<std::process::ExitCode> {
    let mut pcap = match &args.pcap {
        Some(path) => {
            let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
            let header = PcapHeader {
                datalink: DataLink::ETHERNET,
                snaplen: 65535,
                // Little-endian on x86 (the crate's default is big-endian; both are valid pcap).
                endianness: pcap_file::Endianness::native(),
                ..Default::default()
            };
            Some(PcapWriter::with_header(BufWriter::new(file), header).context("cannot write the pcap header")?)
        }
        None => None,
    };
    let stop = zcnic::signals::install();
    let config = NicConfig {
        promiscuous: args.promisc,
        rx_ring_size: args.rx_ring,
        stop_flag: Some(stop.clone()),
        ..args.nic.config()
    };
    let pci = args.nic.resolve()?;
    let mut nic = Nic::open(&pci, &config).with_context(|| format!("cannot bring up the NIC at {pci}"))?;
    eprintln!(
        "{}: {} ({}), MAC {}, interrupts via {:?}: listening",
        pci,
        nic.model().name,
        nic.model().family,
        nic.mac(),
        nic.irq_mode()
    );

    let silence = Duration::from_secs_f64(args.timeout);
    let limit = args.count.unwrap_or(u64::MAX);
    let (start, cpu_start) = (Instant::now(), CpuTime::now());
    let mut last_frame = Instant::now();
    let mut received = 0u64;
    let mut write_error = None;
    let mut interrupted = false;
    while received < limit {
        if stop.is_set() {
            interrupted = true;
            break;
        }
        let waited = last_frame.elapsed();
        if waited >= silence {
            break;
        }
        match nic.wait_rx(silence - waited) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(zcnic_driver::Error::Stopped) => {
                interrupted = true;
                break;
            }
            Err(e) => return Err(e.into()),
        }
        let max = usize::try_from(limit - received).unwrap_or(usize::MAX).min(256);
        let n = nic.rx_burst(max, |frame| {
            if let (Some(w), None) = (pcap.as_mut(), write_error.as_ref()) {
                let ts = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
                if let Err(e) = w.write_packet(&PcapPacket::new(ts, frame.len() as u32, frame)) {
                    write_error = Some(e);
                }
            }
        });
        if let Some(e) = write_error.take() {
            return Err(e).context("cannot write the pcap file");
        }
        if n > 0 {
            last_frame = Instant::now();
            received += n as u64;
        }
    }
    let (wall, cpu) = (start.elapsed(), CpuTime::now().since(&cpu_start));
    if let Some(w) = pcap {
        use std::io::Write;
        w.into_writer().flush().context("cannot write the pcap file")?;
    }

    let c = nic.counters();
    let hw = nic.hw_stats();
    println!(
        "received {} frames, {} bytes; dropped {}; interrupts {}",
        c.rx.frames,
        c.rx.bytes,
        c.rx.dropped(),
        c.interrupts
    );
    println!(
        "driver: rx doorbells {}, dropped: bad length {}, frame errors {}, multi-descriptor {}; link changes {}",
        c.rx.doorbells,
        c.rx.dropped_bad_length,
        c.rx.dropped_frame_error,
        c.rx.dropped_multi_descriptor,
        c.link_changes
    );
    println!(
        "nic: good packets rx {} (broadcast {}, multicast {}), good octets rx {}, total rx {}, missed {}, no buffer {}, crc errors {}, undersize {}, oversize {}",
        hw.good_packets_rx,
        hw.broadcast_rx,
        hw.multicast_rx,
        hw.good_octets_rx,
        hw.total_packets_rx,
        hw.missed,
        hw.no_buffer,
        hw.crc_errors,
        hw.undersize,
        hw.oversize
    );
    let link = nic.link_info();
    println!("link: {link}, flow control {}", link.flow_control());
    println!(
        "cpu while receiving: user {:.3} s, system {:.3} s, over {:.3} s wall",
        cpu.user.as_secs_f64(),
        cpu.system.as_secs_f64(),
        wall.as_secs_f64()
    );
    if interrupted {
        eprintln!("zcnic: interrupted; the NIC is stopped");
        return Ok(std::process::ExitCode::from(130));
    }
    Ok(std::process::ExitCode::SUCCESS)
}

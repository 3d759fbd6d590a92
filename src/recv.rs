//! `zcnic recv`: receive frames, write them to a pcap file, print what the
//! driver and the NIC counted.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::DataLink;
use zcnic::args::NicArg;
use zcnic_driver::{Counters, Nic, NicConfig, StopFlag};

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

    /// Receive queues, each drained by a thread of its own (igb: up to 16;
    /// receive-side scaling spreads flows over them); one pcap for all
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=16))]
    pub queues: u16,
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

type Pcap = PcapWriter<BufWriter<File>>;

/// What the queues' threads share: the frames still wanted, when the last
/// one came (ms since the start), the pcap, and how the receive ended.
struct Shared {
    wanted: AtomicU64,
    last_frame_ms: AtomicU64,
    start: Instant,
    pcap: Mutex<Option<Pcap>>,
    interrupted: AtomicBool,
}

impl Shared {
    /// Take up to `n` of the frames still wanted.
    fn claim(&self, n: u64) -> u64 {
        let prev = self.wanted.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |w| Some(w - w.min(n))).unwrap_or(0);
        prev.min(n)
    }
}

/// Drain one queue (or the whole NIC) until the frames wanted have come,
/// `silence` has passed with none on any queue, or `stop`.
fn receive(nic: &mut Nic, shared: &Shared, silence: Duration, stop: &StopFlag) -> anyhow::Result<()> {
    loop {
        if stop.is_set() {
            shared.interrupted.store(true, Ordering::SeqCst);
            return Ok(());
        }
        if shared.wanted.load(Ordering::SeqCst) == 0 {
            return Ok(());
        }
        let last = Duration::from_millis(shared.last_frame_ms.load(Ordering::SeqCst));
        let waited = shared.start.elapsed().saturating_sub(last);
        if waited >= silence {
            return Ok(());
        }
        // Wake at least every 100 ms to see whether another queue's frames
        // have reset the silence or met the count.
        match nic.wait_rx((silence - waited).min(Duration::from_millis(100))) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(zcnic_driver::Error::Stopped) => {
                shared.interrupted.store(true, Ordering::SeqCst);
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        }
        let claimed = shared.claim(256);
        let mut write_error = None;
        let n = nic.rx_burst(claimed as usize, |frame| {
            let mut pcap = shared.pcap.lock().unwrap_or_else(|p| p.into_inner());
            if let (Some(w), None) = (pcap.as_mut(), write_error.as_ref()) {
                let ts = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
                if let Err(e) = w.write_packet(&PcapPacket::new(ts, frame.len() as u32, frame)) {
                    write_error = Some(e);
                }
            }
        }) as u64;
        shared.wanted.fetch_add(claimed - n, Ordering::SeqCst);
        if let Some(e) = write_error {
            return Err(e).context("cannot write the pcap file");
        }
        if n > 0 {
            shared.last_frame_ms.store(shared.start.elapsed().as_millis() as u64, Ordering::SeqCst);
        }
    }
}

/// Receive until `--count` frames or `--timeout` seconds of silence.
pub fn run(args: &RecvArgs) -> anyhow::Result<std::process::ExitCode> {
    let pcap = match &args.pcap {
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
        queues: args.queues,
        ..args.nic.config()
    };
    let pci = args.nic.resolve()?;
    let nic = Nic::open(&pci, &config).with_context(|| format!("cannot bring up the NIC at {pci}"))?;
    eprintln!(
        "{}: {} ({}), MAC {}, {} queue(s), interrupts via {:?}: listening",
        pci,
        nic.model().name,
        nic.model().family,
        nic.mac(),
        nic.queue_count(),
        nic.irq_mode()
    );
    let mut queues = nic.split_queues();

    let silence = Duration::from_secs_f64(args.timeout);
    let shared = Shared {
        wanted: AtomicU64::new(args.count.unwrap_or(u64::MAX)),
        last_frame_ms: AtomicU64::new(0),
        start: Instant::now(),
        pcap: Mutex::new(pcap),
        interrupted: AtomicBool::new(false),
    };
    let cpu_start = CpuTime::now();
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let threads: Vec<_> = queues
            .iter_mut()
            .map(|nic| {
                let (shared, stop) = (&shared, &stop);
                scope.spawn(move || {
                    if let Some(cpu) = nic.pin_current_thread() {
                        log::info!("queue {:?}: thread on CPU {cpu}", nic.queue());
                    }
                    receive(nic, shared, silence, stop)
                })
            })
            .collect();
        for t in threads {
            t.join().map_err(|_| anyhow::anyhow!("a receive thread panicked"))??;
        }
        Ok(())
    })?;
    let (wall, cpu) = (shared.start.elapsed(), CpuTime::now().since(&cpu_start));
    if let Some(w) = shared.pcap.into_inner().unwrap_or_else(|p| p.into_inner()) {
        use std::io::Write;
        w.into_writer().flush().context("cannot write the pcap file")?;
    }
    let interrupted = shared.interrupted.load(Ordering::SeqCst);

    if queues.len() > 1 {
        for nic in &queues {
            let c = nic.counters();
            println!(
                "queue {}: {} frames, {} bytes, interrupts {}; RSS verdicts checked: {} agree, {} disagree",
                nic.queue().unwrap_or(0),
                c.rx.frames,
                c.rx.bytes,
                c.interrupts,
                c.rx.rss_agreed,
                c.rx.rss_disagreed
            );
        }
    }
    let c = queues.iter().map(Nic::counters).fold(Counters::default(), |a, b| a.plus(&b));
    let nic = &mut queues[0];
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

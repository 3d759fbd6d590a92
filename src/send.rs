//! `zcnic send`: put a file on the wire as UDP/IPv4 with zero copies.

use std::io::IsTerminal;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use zcnic::args::NicArg;
use zcnic::signals;
use zcnic_driver::{
    resolve_mac, FileSend, FileSendConfig, FileSendReport, FileSource, MacAddress, Nic, NicConfig, ServerConfig,
    StopFlag, TcpFileServer, UdpFlow,
};

use crate::usage::{self, CpuTime};

/// UDP payload bytes per datagram.
const MAX_PAYLOAD: u64 = zcnic_driver::net::udp::MAX_PAYLOAD as u64;

/// Options of `zcnic send`.
#[derive(clap::Args, Debug)]
pub struct SendArgs {
    #[command(flatten)]
    pub nic: NicArg,

    /// The file to send
    #[arg(long, value_name = "PATH")]
    pub file: PathBuf,

    /// Our IPv4 address (the datagrams' source)
    #[arg(long, value_name = "IPV4")]
    pub src: Ipv4Addr,

    /// Destination address and UDP port
    #[arg(long, value_name = "IPV4:PORT")]
    pub dst: SocketAddrV4,

    /// Destination MAC; without it the MAC is resolved with ARP
    #[arg(long, value_name = "MAC")]
    pub dst_mac: Option<MacAddress>,

    /// Pace the sender to this many Mbit/s (Ethernet frames); default: as fast as the NIC takes them
    #[arg(long, value_name = "MBIT/S", value_parser = parse_rate)]
    pub rate: Option<f64>,

    /// Our UDP source port
    #[arg(long, value_name = "PORT", default_value_t = 47000)]
    pub src_port: u16,

    /// MiB of the file per window; two windows are pinned at once (the one being sent and the next)
    #[arg(long, value_name = "MIB", default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub window: u64,

    /// Seconds to wait for the link (at bring-up, and when it goes down mid-send) before giving up
    #[arg(long, value_name = "SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub link_timeout: u64,

    /// Seconds the NIC may go without completing a descriptor before it counts as hung
    #[arg(long, value_name = "SECS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub stall_timeout: u64,

    /// How many times a hung NIC is reset and the send resumed before giving up (0: fail at once)
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u32).range(0..=100))]
    pub recoveries: u32,

    /// Also print one machine-readable `bench-result key=value...` line (for scripts and benchmarks)
    #[arg(long)]
    pub kv: bool,

    /// Send over TCP to a listener at --dst (e.g. `nc -l -p PORT > out`) instead of UDP
    /// datagrams; exits 0 only once the peer has acknowledged every byte
    #[arg(long)]
    pub tcp: bool,

    /// Datagrams per doorbell (fewer when the TX ring has less room)
    #[arg(long, value_name = "N", default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub batch: u16,

    /// Send over this many TX queues at once (igb: up to 16), a thread each: the file is cut into as
    /// many contiguous parts, part i going from source port --src-port + i to port PORT + i of --dst
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=16))]
    pub queues: u16,
}

fn parse_rate(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("'{s}' is not a number of Mbit/s"))?;
    if v.is_finite() && v > 0.0 && v <= 100_000.0 {
        Ok(v)
    } else {
        Err(format!("{s} is not between 0 and 100000 Mbit/s"))
    }
}

/// Bring the NIC up and learn the receiver's MAC (`--dst-mac`, or ARP).
/// The link timeout covers bring-up too: how long to wait for a link, at all.
fn open_nic_and_peer(args: &SendArgs, stop: &StopFlag) -> anyhow::Result<(Nic, MacAddress)> {
    let pci = args.nic.resolve()?;
    let config = NicConfig {
        stop_flag: Some(stop.clone()),
        link_timeout: Duration::from_secs(args.link_timeout),
        queues: args.queues,
        ..args.nic.config()
    };
    let mut nic = Nic::open(&pci, &config).with_context(|| format!("cannot bring up the NIC at {pci}"))?;
    let dst_mac = match args.dst_mac {
        Some(mac) => mac,
        None => resolve_mac(&mut nic, args.src, *args.dst.ip(), 3, Duration::from_secs(1))?,
    };
    Ok((nic, dst_mac))
}

/// Send the file over TCP: connect, send, close, wait for every byte to be acknowledged.
fn run_tcp(args: &SendArgs, source: FileSource) -> anyhow::Result<ExitCode> {
    let stop = signals::install();
    let (mut nic, dst_mac) = open_nic_and_peer(args, &stop)?;
    let len = source.len();
    let cpu_before = CpuTime::now();
    let start = std::time::Instant::now();
    let (result, stats) = if args.queues == 1 {
        let mut sender = TcpFileServer::without_listening(&mut nic, args.src, ServerConfig::default());
        let result = sender.send_file(args.dst, dst_mac, source, &stop);
        (result, sender.stats())
    } else {
        send_tcp_parts(args, nic, dst_mac, &source, &stop)
    };
    let secs = start.elapsed().as_secs_f64().max(1e-9);
    let cpu = CpuTime::now().since(&cpu_before);
    match result {
        Err(zcnic_driver::Error::Stopped) => {
            eprintln!("zcnic: interrupted; the connection was reset and the NIC is stopped");
            return Ok(ExitCode::from(130));
        }
        other => other?,
    };
    println!(
        "sent {len} bytes of {} over TCP to {} ({dst_mac}) in {secs:.3} s: {:.2} MB/s; every byte acknowledged",
        args.file.display(),
        args.dst,
        len as f64 / secs / 1e6
    );
    println!(
        "counted by the driver: {} frames, {} file bytes posted for the NIC to read from the page cache, {} header bytes \
         written, {} segments retransmitted, at most {} file bytes pinned; payload bytes copied by the CPU: 0 (enforced: \
         PROT_NONE); cpu (getrusage): user {:.3} s, system {:.3} s",
        stats.frames,
        stats.file_bytes_posted,
        stats.header_bytes_written,
        stats.retransmitted_segments,
        stats.peak_pinned_bytes,
        cpu.user.as_secs_f64(),
        cpu.system.as_secs_f64()
    );
    println!("{}", crate::usage::memory_line());
    Ok(ExitCode::SUCCESS)
}

/// The file in `--queues` parts over as many TCP connections, part i from
/// queue i (its thread pinned where there are enough CPUs) to port PORT + i;
/// the connections' local ports are picked so that the NIC steers each
/// one's ACKs to its own queue.
fn send_tcp_parts(
    args: &SendArgs,
    nic: Nic,
    dst_mac: MacAddress,
    source: &FileSource,
    stop: &StopFlag,
) -> (Result<u64, zcnic_driver::Error>, zcnic_driver::ServerStats) {
    let results = on_each_queue(args, nic, source.len(), |q| {
        let file = match source.try_clone() {
            Ok(f) => f,
            Err(e) => return (Err(e), Default::default()),
        };
        let what = q.describe();
        let mut sender = TcpFileServer::without_listening(q.nic, args.src, ServerConfig::default());
        let result = sender.send_file_part(q.dst, dst_mac, file, q.part.clone(), stop);
        if result.is_ok() {
            println!("{what}: acknowledged");
        }
        (result, sender.stats())
    });
    let mut total = zcnic_driver::ServerStats::default();
    let mut sent = Ok(0);
    for (result, stats) in results {
        total = total.plus(&stats);
        sent = match (sent, result) {
            (Ok(a), Ok(b)) => Ok(a + b),
            (Err(e), _) | (_, Err(e)) => Err(e),
        };
    }
    (sent, total)
}

/// Send the file; the exit code is 130 if a signal stopped it.
pub fn run(args: &SendArgs) -> anyhow::Result<ExitCode> {
    let source = FileSource::open(&args.file)?;
    if args.tcp {
        return run_tcp(args, source);
    }
    if source.is_empty() {
        println!("{} is empty: nothing to send", args.file.display());
        return Ok(ExitCode::SUCCESS);
    }
    let stop = signals::install();
    let (mut nic, dst_mac) = open_nic_and_peer(args, &stop)?;
    let flow = UdpFlow::new(nic.mac(), SocketAddrV4::new(args.src, args.src_port), dst_mac, args.dst);
    let config = FileSendConfig {
        window_bytes: args.window << 20,
        rate_mbit: args.rate,
        batch: args.batch,
        link_timeout: Duration::from_secs(args.link_timeout),
        stall_timeout: Duration::from_secs(args.stall_timeout),
        max_recoveries: args.recoveries,
    };

    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(source.len());
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}")
                .expect("a valid template"),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let link = nic.link_info();
    let cpu_before = CpuTime::now();
    let busy_before = usage::system_busy_seconds();
    let result = if args.queues == 1 {
        FileSend::new(&source, flow)
            .config(config)
            .stop_flag(&stop)
            .on_progress(|done| bar.set_position(done))
            .send(&mut nic)
    } else {
        send_parts(args, nic.mac(), dst_mac, nic, &source, &config, &stop)
    };
    bar.finish_and_clear();
    let cpu = CpuTime::now().since(&cpu_before);
    let busy = usage::system_busy_seconds().zip(busy_before).map(|(after, before)| after - before);
    let report = match result {
        Err(zcnic_driver::Error::Stopped) => {
            eprintln!("zcnic: interrupted while waiting; the NIC is stopped");
            return Ok(ExitCode::from(130));
        }
        other => other?,
    };
    print_summary(args, &report, dst_mac, &cpu, busy);
    println!("link at the start: {link}, flow control {}", link.flow_control());
    if report.interrupted || signals::stopping() {
        eprintln!(
            "zcnic: interrupted: stopped after {} of {} bytes; the NIC is stopped",
            report.bytes_sent, report.file_len
        );
        return Ok(ExitCode::from(130));
    }
    Ok(ExitCode::SUCCESS)
}

/// Bytes `i` of `n` contiguous parts of a `len`-byte file cover, cut at whole
/// datagrams so that every part but the last sends full ones.
fn part_range(len: u64, n: u64, i: u64) -> std::ops::Range<u64> {
    let datagrams = len.div_ceil(MAX_PAYLOAD);
    let per_part = datagrams.div_ceil(n);
    let at = |k: u64| (k * per_part * MAX_PAYLOAD).min(len);
    at(i)..at(i + 1)
}

/// What one queue's thread sends: part `index` of the file, from its own
/// queue handle, to port PORT + `index`.
struct QueuePart<'n> {
    index: usize,
    nic: &'n mut Nic,
    part: std::ops::Range<u64>,
    dst: SocketAddrV4,
    /// The CPU the thread was pinned to, if it was.
    cpu: Option<usize>,
}

impl QueuePart<'_> {
    /// "part i: bytes a..b on queue i (thread on CPU c) to DST", for the summary.
    fn describe(&self) -> String {
        let cpu = self.cpu.map_or(String::new(), |c| format!(" (thread on CPU {c})"));
        let i = self.index;
        format!("part {i}: bytes {}..{} on queue {i}{cpu} to {}", self.part.start, self.part.end, self.dst)
    }
}

/// Split `nic` into its queues and run `work` on each in a thread of its
/// own (pinned to a CPU of its own where there are enough), with the
/// contiguous part of a `len`-byte file that queue sends; the results in
/// queue order.
fn on_each_queue<T: Send>(args: &SendArgs, nic: Nic, len: u64, work: impl Fn(QueuePart<'_>) -> T + Sync) -> Vec<T> {
    let mut queues = nic.split_queues();
    let n = queues.len() as u64;
    std::thread::scope(|scope| {
        let threads: Vec<_> = queues
            .iter_mut()
            .enumerate()
            .map(|(index, nic)| {
                let part = part_range(len, n, index as u64);
                let dst = SocketAddrV4::new(*args.dst.ip(), args.dst.port().wrapping_add(index as u16));
                let work = &work;
                scope.spawn(move || {
                    let cpu = nic.pin_current_thread();
                    work(QueuePart { index, nic, part, dst, cpu })
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().expect("a send thread panicked")).collect()
    })
}

/// The file in `--queues` parts, one per TX queue, each sent by a thread of
/// its own (pinned to a CPU of its own where there are enough) as its own
/// flow; one report for them all.
fn send_parts(
    args: &SendArgs,
    our_mac: MacAddress,
    dst_mac: MacAddress,
    nic: Nic,
    source: &FileSource,
    config: &FileSendConfig,
    stop: &StopFlag,
) -> Result<FileSendReport, zcnic_driver::Error> {
    let reports = on_each_queue(args, nic, source.len(), |q| {
        let src = SocketAddrV4::new(args.src, args.src_port.wrapping_add(q.index as u16));
        let flow = UdpFlow::new(our_mac, src, dst_mac, q.dst);
        let report =
            FileSend::new(source, flow).part(q.part.clone()).config(config.clone()).stop_flag(stop).send(q.nic);
        if let Ok(r) = &report {
            println!(
                "{}: {} bytes in {} datagrams in {:.3} s",
                q.describe(),
                r.bytes_sent,
                r.datagrams,
                r.elapsed.as_secs_f64()
            );
        }
        report
    });
    let reports = reports.into_iter().collect::<Result<Vec<_>, _>>()?;
    // Counts add up; time and the process-wide I/O figures come from the
    // part that took longest (its interval covers nearly the whole send).
    let longest = reports.iter().max_by_key(|r| r.elapsed).cloned().unwrap_or_default();
    Ok(FileSendReport {
        file_len: source.len(),
        bytes_sent: reports.iter().map(|r| r.bytes_sent).sum(),
        datagrams: reports.iter().map(|r| r.datagrams).sum(),
        interrupted: reports.iter().any(|r| r.interrupted),
        header_bytes_written: reports.iter().map(|r| r.header_bytes_written).sum(),
        doorbells: reports.iter().map(|r| r.doorbells).sum(),
        interrupts: reports.iter().map(|r| r.interrupts).sum(),
        windows: reports.iter().map(|r| r.windows).sum(),
        link_outages: reports.iter().map(|r| r.link_outages).sum(),
        pacing_sleeps: reports.iter().map(|r| r.pacing_sleeps).sum(),
        recoveries: reports.iter().map(|r| r.recoveries).sum(),
        max_pinned_bytes: reports.iter().map(|r| r.max_pinned_bytes).sum(),
        ..longest
    })
}

/// The summary: each figure says where it comes from.
fn print_summary(args: &SendArgs, report: &FileSendReport, dst_mac: MacAddress, cpu: &CpuTime, busy: Option<f64>) {
    let secs = report.elapsed.as_secs_f64().max(1e-9);
    println!(
        "sent {} of {} bytes of {} in {} datagrams to {} ({dst_mac}) in {secs:.3} s: {:.2} MB/s, {:.0} frames/s",
        report.bytes_sent,
        report.file_len,
        args.file.display(),
        report.datagrams,
        args.dst,
        report.bytes_sent as f64 / secs / 1e6,
        report.datagrams as f64 / secs
    );
    println!(
        "payload bytes copied by the CPU: 0; header bytes written: {}; doorbells: {}; interrupts: {}; \
         context switches: {} voluntary, {} involuntary",
        report.header_bytes_written,
        report.doorbells,
        report.interrupts,
        cpu.voluntary_switches,
        cpu.involuntary_switches
    );
    println!(
        "  (how: payload copies 0 is enforced, not counted: the file's pages were PROT_NONE in this process \
         while the NIC read them, so a copy would have crashed the send; header bytes, doorbells and \
         interrupts are counted by the driver; context switches and CPU time come from getrusage)"
    );
    println!(
        "file pinned for DMA in {} windows, at most {} bytes at a time; cpu: user {:.3} s, system {:.3} s",
        report.windows,
        report.max_pinned_bytes,
        cpu.user.as_secs_f64(),
        cpu.system.as_secs_f64()
    );
    println!("{}", crate::usage::memory_line());
    match &report.process_io {
        Some(io) => println!(
            "measured by the kernel during the send: {} bytes read through system calls, {} bytes fetched from storage, \
             {} minor and {} major page faults",
            io.bytes_read_by_syscalls,
            io.bytes_fetched_from_storage.map_or_else(|| "unknown".to_string(), |b| b.to_string()),
            io.minor_faults,
            io.major_faults
        ),
        None => println!("measured by the kernel during the send: unavailable (/proc/self/io cannot be read)"),
    }
    if report.recoveries > 0 {
        println!(
            "the NIC stopped completing descriptors {} time(s); it was reset and the send resumed from the first unfinished datagram",
            report.recoveries
        );
    }
    if report.link_outages > 0 {
        println!("the link went down {} time(s) during the send; the sender waited and resumed", report.link_outages);
    }
    if report.pacing_sleeps > 0 {
        println!("{} sleeps to hold --rate", report.pacing_sleeps);
    }
    if args.kv {
        let io = report.process_io.unwrap_or_default();
        let (locked, resident) = crate::usage::memory_peaks();
        println!(
            "bench-result method=zcnic wall_s={secs:.6} user_s={:.6} sys_s={:.6} vcsw={} ivcsw={} \
             frames={} bytes={} rchar={} minflt={} majflt={} interrupts={} doorbells={} pinned_peak={locked} \
             rss_peak={resident} busy_s={}",
            cpu.user.as_secs_f64(),
            cpu.system.as_secs_f64(),
            cpu.voluntary_switches,
            cpu.involuntary_switches,
            report.datagrams,
            report.bytes_sent,
            io.bytes_read_by_syscalls,
            io.minor_faults,
            io.major_faults,
            report.interrupts,
            report.doorbells,
            busy.map_or_else(|| "-".to_string(), |b| format!("{b:.2}"))
        );
    }
}

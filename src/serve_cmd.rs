//! `zcnic serve`: a static HTTP/1.1 file server owning one IPv4 address on a
//! NIC, its TCP in this process, file payload read by the NIC straight from
//! the page cache.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use zcnic::args::NicArg;
use zcnic::serve::{respond, DocRoot, Exchange};
use zcnic_driver::{Application, FileSource, Nic, NicConfig, Outgoing, ServerConfig, ServerStats, TcpFileServer};

use crate::usage::CpuTime;

/// Options of `zcnic serve`.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    pub nic: NicArg,

    /// The address to own, with its prefix length (e.g. 192.0.2.10/24)
    #[arg(long, value_name = "IPV4/PREFIX", value_parser = parse_ip_prefix)]
    pub ip: (Ipv4Addr, u8),

    /// The directory to serve (nothing outside it is ever served)
    #[arg(long, value_name = "DIR")]
    pub root: PathBuf,

    /// TCP port
    #[arg(long, value_name = "N", default_value_t = 80)]
    pub port: u16,

    /// Connections at once
    #[arg(long, value_name = "N", default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=65536))]
    pub max_conns: u64,

    /// MiB of a file pinned (and mapped through the IOMMU) at a time per connection
    #[arg(long, value_name = "MIB", default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub window: u64,

    /// MiB of file pinned for the NIC, all connections together
    #[arg(long, value_name = "MIB", default_value_t = 512, value_parser = clap::value_parser!(u64).range(1..=65536))]
    pub max_pinned: u64,

    /// Microseconds to keep polling the NIC after traffic before sleeping on
    /// its interrupt. A server mostly waits for its peers' ACKs, so by
    /// default it sleeps at once: polling would cost CPU and gain little.
    #[arg(long, value_name = "US", default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=100_000))]
    pub poll_us: u64,

    /// Queue pairs (igb: up to 16), a thread each: receive-side scaling spreads the connections over
    /// them, and each is served from the queue its packets arrive on; --max-conns and --max-pinned
    /// are shared out evenly
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=16))]
    pub queues: u16,
}

fn parse_ip_prefix(s: &str) -> Result<(Ipv4Addr, u8), String> {
    let (ip, prefix) = s.split_once('/').ok_or_else(|| format!("'{s}' is not IPV4/PREFIX (e.g. 192.0.2.10/24)"))?;
    let ip: Ipv4Addr = ip.parse().map_err(|_| format!("'{ip}' is not an IPv4 address"))?;
    let prefix: u8 =
        prefix.parse().ok().filter(|p| *p <= 32).ok_or_else(|| format!("'{prefix}' is not a prefix length (0-32)"))?;
    Ok((ip, prefix))
}

/// HTTP over zcnic's TCP: each complete request in a connection's buffer
/// becomes a response (pipelining included); one log line per request.
struct Http {
    root: DocRoot,
    /// Requests answered, by status code.
    by_status: std::collections::BTreeMap<u16, u64>,
}

impl Application for Http {
    fn on_data(&mut self, peer: SocketAddrV4, rx: &mut Vec<u8>, out: &mut Vec<Outgoing>) {
        loop {
            let reply = match respond(rx, &self.root, SystemTime::now()) {
                Exchange::NeedMore => return,
                Exchange::Reply(reply) => reply,
            };
            log::info!("{}", reply.log_line(std::net::IpAddr::V4(*peer.ip()), SystemTime::now()));
            *self.by_status.entry(reply.plan.status.code()).or_default() += 1;
            let close = reply.plan.close;
            let file = reply.plan.file.and_then(|f| match FileSource::from_file(f.file, f.path) {
                Ok(source) => Some((source, f.offset, f.len)),
                Err(e) => {
                    log::error!("{e}");
                    None
                }
            });
            out.push(Outgoing { inline: reply.plan.inline, file, close });
            rx.drain(..reply.consumed.min(rx.len()));
            if close {
                rx.clear();
                return;
            }
        }
    }
}

/// What one queue's server did.
#[derive(Default)]
struct Served {
    stats: ServerStats,
    arp_replies: u64,
    echo_replies: u64,
    by_status: std::collections::BTreeMap<u16, u64>,
}

impl Served {
    fn add(&mut self, o: Served) {
        self.stats = self.stats.plus(&o.stats);
        self.arp_replies += o.arp_replies;
        self.echo_replies += o.echo_replies;
        for (code, n) in o.by_status {
            *self.by_status.entry(code).or_default() += n;
        }
    }
}

/// Serve until SIGINT/SIGTERM.
pub fn run(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let root = DocRoot::new(&args.root).with_context(|| format!("cannot serve {}", args.root.display()))?;
    let stop = zcnic::signals::install();
    let pci = args.nic.resolve()?;
    let config = NicConfig {
        stop_flag: Some(stop.clone()),
        poll_window: Duration::from_micros(args.poll_us),
        queues: args.queues,
        ..args.nic.config()
    };
    let nic = Nic::open(&pci, &config).with_context(|| format!("cannot bring up the NIC at {pci}"))?;
    let (ip, prefix) = args.ip;
    let n = u64::from(args.queues);
    let server_config = ServerConfig {
        port: args.port,
        max_conns: (args.max_conns.div_ceil(n)) as usize,
        max_pinned_bytes: (args.max_pinned << 20).div_ceil(n),
        window_bytes: args.window << 20,
        ..ServerConfig::default()
    };
    eprintln!(
        "{pci}: serving {} on http://{ip}:{}/ (address {ip}/{prefix}, MAC {}, link {}, {} queue(s))",
        root.path().display(),
        args.port,
        nic.mac(),
        nic.link_info(),
        nic.queue_count()
    );
    let cpu_before = CpuTime::now();
    let mapping_before = zcnic_driver::time_mapping_dma();
    let mut queues = nic.split_queues();
    let served: Vec<anyhow::Result<Served>> = std::thread::scope(|scope| {
        let threads: Vec<_> = queues
            .iter_mut()
            .map(|nic| {
                let (root, stop, server_config) = (root.clone(), &stop, server_config.clone());
                scope.spawn(move || -> anyhow::Result<Served> {
                    if let (Some(cpu), Some(q)) = (nic.pin_current_thread(), nic.queue()) {
                        log::info!("queue {q}: served by a thread on CPU {cpu}");
                    }
                    let mut server = TcpFileServer::new(nic, ip, server_config);
                    let mut app = Http { root, by_status: Default::default() };
                    let stats = server.run(&mut app, stop, Duration::from_secs(2))?;
                    let host = server.host().stats();
                    if let Some(q) = server.queue() {
                        let requests: u64 = app.by_status.values().sum();
                        println!("queue {q}: {} connections, {requests} requests", stats.connections);
                    }
                    Ok(Served {
                        stats,
                        arp_replies: host.arp_replies,
                        echo_replies: host.echo_replies,
                        by_status: app.by_status,
                    })
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().unwrap_or_else(|_| Err(anyhow::anyhow!("a server thread panicked"))))
            .collect()
    });
    let mut total = Served::default();
    for s in served {
        total.add(s?);
    }
    let Served { stats, arp_replies, echo_replies, by_status } = total;
    let cpu = CpuTime::now().since(&cpu_before);
    let mapping = zcnic_driver::time_mapping_dma() - mapping_before;
    let doorbells: Duration = queues.iter().map(Nic::time_in_tx_doorbells).sum();
    println!(
        "served {} connections; {} frames, {} file bytes posted for the NIC to read from the page cache, \
         {} header bytes written by the CPU (counted by the driver); {} segments retransmitted; \
         at most {} file bytes pinned; {} connections reset or timed out",
        stats.connections,
        stats.frames,
        stats.file_bytes_posted,
        stats.header_bytes_written,
        stats.retransmitted_segments,
        stats.peak_pinned_bytes,
        stats.aborted
    );
    println!(
        "connections refused or dropped: {} RSTs to closed ports, {} half-open connections evicted, {} SYNs dropped (table full); \
         {} TIME-WAIT slots recycled for new connections",
        stats.resets_sent, stats.half_open_evicted, stats.syns_dropped, stats.time_wait_recycled
    );
    let requests: Vec<String> = by_status.iter().map(|(code, n)| format!("{n} x {code}")).collect();
    println!("requests by status: {}", if requests.is_empty() { "none".to_string() } else { requests.join(", ") });
    println!(
        "answered {} ARP requests and {} pings; payload bytes copied by the CPU: 0 (enforced: file pages are \
         PROT_NONE in this process while pinned); cpu (getrusage): user {:.3} s, system {:.3} s, \
         {:.3} s spent pinning and IOMMU-mapping file windows (wall time inside the \
         VFIO map and unmap calls, measured by the monotonic clock) and {:.3} s inside TX doorbell writes \
         (where an emulated NIC does its work; measured the same way)",
        arp_replies,
        echo_replies,
        cpu.user.as_secs_f64(),
        cpu.system.as_secs_f64(),
        mapping.as_secs_f64(),
        doorbells.as_secs_f64()
    );
    println!("{}", crate::usage::memory_line());
    Ok(ExitCode::from(130))
}

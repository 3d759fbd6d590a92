//! Serving files over TCP with zero copies of file payload, retransmissions
//! included: what a connection sends is a stream of pieces, small ones the
//! CPU wrote (an HTTP response's headers) and file ranges whose pages stay
//! pinned and DMA-mapped until the peer has acknowledged them and the NIC
//! has completed every frame that pointed at them. A retransmission is a
//! fresh header in front of the same file pages.
//!
//! The application (HTTP, in the CLI) only turns received bytes into
//! responses; this module runs the NIC, the address (ARP, ping), the TCP
//! connections and the mapping of stream offsets to header bytes and file
//! pages.

use std::collections::{HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::pinned::PinnedFile;
use super::source::FileSource;
use crate::device::frame::Segmentation;
use crate::device::{ChecksumOffload, DmaStopper, L4Protocol, Nic, StopFlag, TxFrame, ETH_HEADER_LEN, MAX_FRAME_LEN};
use crate::dma::DmaSpan;
use crate::error::Error;
use crate::mac::MacAddress;
use crate::net::host::Host;
use crate::net::ipv4::PROTO_TCP;
use crate::net::tcp::table::Rfc6528Isn;
use crate::net::tcp::{wire, ConnKey, Event, Flags, OutSegment, State, TcpConfig, TcpTable};
use crate::net::{ethernet, ETHERTYPE_IPV4};
use crate::vfio::Container;

/// IPv4 header without options.
const IP_HEADER: usize = 20;
/// How long the loop sleeps at most between looks at the clock.
const MAX_SLEEP: Duration = Duration::from_millis(100);

/// How to serve.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The TCP port to listen on.
    pub port: u16,
    /// Connections at once (SYNs beyond are dropped; the client retries).
    pub max_conns: usize,
    /// Bytes of file pinned per connection window.
    pub window_bytes: u64,
    /// File bytes pinned for all connections together; a connection waits
    /// for room before pinning more.
    pub max_pinned_bytes: u64,
    /// The TCP settings.
    pub tcp: TcpConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            port: 80,
            max_conns: 256,
            window_bytes: 4 << 20,
            max_pinned_bytes: 512 << 20,
            tcp: TcpConfig::default(),
        }
    }
}

/// A response to send: bytes the CPU wrote, then an optional file range the
/// NIC reads from the page cache.
#[derive(Debug)]
pub struct Outgoing {
    /// Header bytes (status line, headers, a short error body).
    pub inline: Vec<u8>,
    /// The file range that follows them.
    pub file: Option<(FileSource, u64, u64)>,
    /// Close the connection once it is sent.
    pub close: bool,
}

/// What turns received bytes into responses.
pub trait Application {
    /// `rx` holds what `peer` sent and no earlier call consumed. Push the
    /// responses to every complete request in it, in order, and remove the
    /// bytes they consumed.
    fn on_data(&mut self, peer: SocketAddrV4, rx: &mut Vec<u8>, out: &mut Vec<Outgoing>);
}

/// What the server did (counted by the driver).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Connections that completed their handshake.
    pub connections: u64,
    /// Header bytes the CPU wrote into frames (TCP/IP headers and inline response bytes).
    pub header_bytes_written: u64,
    /// File bytes posted for the NIC to read from the page cache (retransmissions included).
    pub file_bytes_posted: u64,
    /// Frames posted.
    pub frames: u64,
    /// Segments the TCP connections sent again.
    pub retransmitted_segments: u64,
    /// Most file bytes pinned at once.
    pub peak_pinned_bytes: u64,
    /// Connections reset by the peer or timed out.
    pub aborted: u64,
    /// Half-open connections dropped to make room for new SYNs (a flood, or
    /// clients that vanished mid-handshake).
    pub half_open_evicted: u64,
    /// TIME-WAIT connections ended early to make room for new SYNs (many
    /// short connections within two MSL).
    pub time_wait_recycled: u64,
    /// SYNs dropped because every slot held an established connection.
    pub syns_dropped: u64,
    /// RSTs sent for segments that reached no connection (a closed port).
    pub resets_sent: u64,
    /// Frames held back because pinning more of a file would pass the
    /// total pinning limit (TCP sends them again once there is room).
    pub deferred_for_pinning: u64,
}

impl ServerStats {
    /// Two servers' counts together (one per queue of a NIC); the peak
    /// pinned bytes add up, an upper bound of the peak of the sum.
    pub fn plus(&self, o: &ServerStats) -> ServerStats {
        ServerStats {
            connections: self.connections + o.connections,
            header_bytes_written: self.header_bytes_written + o.header_bytes_written,
            file_bytes_posted: self.file_bytes_posted + o.file_bytes_posted,
            frames: self.frames + o.frames,
            retransmitted_segments: self.retransmitted_segments + o.retransmitted_segments,
            peak_pinned_bytes: self.peak_pinned_bytes + o.peak_pinned_bytes,
            aborted: self.aborted + o.aborted,
            half_open_evicted: self.half_open_evicted + o.half_open_evicted,
            time_wait_recycled: self.time_wait_recycled + o.time_wait_recycled,
            syns_dropped: self.syns_dropped + o.syns_dropped,
            resets_sent: self.resets_sent + o.resets_sent,
            deferred_for_pinning: self.deferred_for_pinning + o.deferred_for_pinning,
        }
    }
}

/// A piece of a connection's send stream.
#[derive(Debug)]
enum Piece {
    Inline(Vec<u8>),
    File { pinned: PinnedFile, offset: u64 },
}

#[derive(Debug)]
struct Segment {
    start: u64,
    len: u64,
    piece: Piece,
}

/// One connection's side of the server.
#[derive(Debug)]
struct Peer {
    remote: SocketAddrV4,
    mac: MacAddress,
    rx: Vec<u8>,
    stream: VecDeque<Segment>,
    stream_end: u64,
    close_after: bool,
    close_sent: bool,
    /// The connection's retransmission count when last seen (it is gone
    /// from the table by the time its Closed event arrives).
    retransmitted: u64,
}

impl Peer {
    /// A connection with nothing received or queued yet.
    fn new(remote: SocketAddrV4, mac: MacAddress) -> Peer {
        Peer {
            remote,
            mac,
            rx: Vec::new(),
            stream: VecDeque::new(),
            stream_end: 0,
            close_after: false,
            close_sent: false,
            retransmitted: 0,
        }
    }

    fn pinned_bytes(&self) -> u64 {
        self.stream
            .iter()
            .map(|s| if let Piece::File { pinned, .. } = &s.piece { pinned.pinned_bytes() } else { 0 })
            .sum()
    }
}

/// A TCP file server on one address of one NIC.
pub struct TcpFileServer<'n> {
    nic: &'n mut Nic,
    host: Host,
    table: TcpTable<Rfc6528Isn>,
    peers: HashMap<ConnKey, Peer>,
    /// File windows of finished connections, kept until the NIC has completed
    /// every frame that points into them.
    retired: Vec<PinnedFile>,
    /// How connections ended (reset, timed out, closed), for a sender waiting on one.
    ended: HashMap<ConnKey, Event>,
    config: ServerConfig,
    container: Arc<Container>,
    stopper: DmaStopper,
    epoch: Instant,
    stats: ServerStats,
}

impl<'n> TcpFileServer<'n> {
    /// Own `ip` on `nic` with `config`, listening on `config.port`.
    pub fn new(nic: &'n mut Nic, ip: Ipv4Addr, config: ServerConfig) -> TcpFileServer<'n> {
        let port = config.port;
        let mut server = Self::without_listening(nic, ip, config);
        server.table.listen(port);
        server
    }

    /// Own `ip` on `nic`, accepting no connection (for sending to a listener).
    pub fn without_listening(nic: &'n mut Nic, ip: Ipv4Addr, config: ServerConfig) -> TcpFileServer<'n> {
        let secret = random_secret();
        let table = TcpTable::new(config.tcp.clone(), config.max_conns, Rfc6528Isn::new(secret));
        let host = Host::new(nic.mac(), ip);
        let container = Arc::clone(nic.container());
        let stopper = nic.dma_stopper();
        TcpFileServer {
            nic,
            host,
            table,
            peers: HashMap::new(),
            retired: Vec::new(),
            ended: HashMap::new(),
            config,
            container,
            stopper,
            epoch: Instant::now(),
            stats: ServerStats::default(),
        }
    }

    /// The NIC queue this server runs on, if it is one of several.
    pub fn queue(&self) -> Option<usize> {
        self.nic.queue()
    }

    /// What it did so far (counted by the driver).
    pub fn stats(&self) -> ServerStats {
        let mut s = self.stats;
        s.retransmitted_segments += self.peers.values().map(|p| p.retransmitted).sum::<u64>();
        let t = self.table.stats();
        s.half_open_evicted = t.half_open_evicted;
        s.time_wait_recycled = t.time_wait_recycled;
        s.syns_dropped = t.syns_dropped_table_full;
        s.resets_sent = t.resets_sent;
        s
    }

    /// The ARP/ping side's counters.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// Serve until `stop` is set; then close every connection (waiting up to
    /// `linger` for them to finish) and return.
    pub fn run(&mut self, app: &mut dyn Application, stop: &StopFlag, linger: Duration) -> Result<ServerStats, Error> {
        let mut stopping_since: Option<Instant> = None;
        loop {
            if stop.is_set() && stopping_since.is_none() {
                stopping_since = Some(Instant::now());
                for key in self.table.keys().copied().collect::<Vec<_>>() {
                    if let Some(conn) = self.table.conn_mut(&key) {
                        conn.close();
                    }
                }
            }
            if let Some(since) = stopping_since {
                if self.table.is_empty() || since.elapsed() > linger {
                    break;
                }
            }
            self.step(app, stopping_since.is_some())?;
            // Only a sender waits on how a connection ended.
            self.ended.clear();
        }
        self.nic.wait_tx_done(Duration::from_secs(5)).ok();
        Ok(self.stats())
    }

    /// A random ephemeral port for a connection to `remote`; on one queue of
    /// several, one whose return traffic the NIC steers to this queue (a
    /// random pick lands there one time in N: a few hundred tries make
    /// missing it all but impossible, and then any port will do).
    fn local_port_for(&self, remote: SocketAddrV4) -> u16 {
        let random = || 49152 + (random_secret() % 16384) as u16;
        let Some(queue) = self.nic.queue() else { return random() };
        for _ in 0..512 {
            let port = random();
            let ours = SocketAddrV4::new(self.host.ip(), port);
            if self.nic.rss_queue(remote, ours).is_none_or(|q| q == queue) {
                return port;
            }
        }
        log::warn!("queue {queue}: no local port found whose replies land on this queue");
        random()
    }

    /// Connect to `remote` (at `remote_mac`), send all of `file`, close, and
    /// return once the peer has acknowledged every byte and the connection is
    /// closed. Fails if the peer refuses or stops answering, or on `stop`.
    pub fn send_file(
        &mut self,
        remote: SocketAddrV4,
        remote_mac: MacAddress,
        file: FileSource,
        stop: &StopFlag,
    ) -> Result<u64, Error> {
        let len = file.len();
        self.send_file_part(remote, remote_mac, file, 0..len, stop)
    }

    /// As [`send_file`](Self::send_file), for bytes `part` of the file only
    /// (one of several parts sent in parallel, each over its own connection).
    /// On one queue of several, the local port is chosen so that receive-side
    /// scaling puts the peer's replies on this queue.
    pub fn send_file_part(
        &mut self,
        remote: SocketAddrV4,
        remote_mac: MacAddress,
        file: FileSource,
        part: std::ops::Range<u64>,
        stop: &StopFlag,
    ) -> Result<u64, Error> {
        if part.start > part.end || part.end > file.len() {
            return Err(Error::BadPart { start: part.start, end: part.end, len: file.len() });
        }
        let len = part.end - part.start;
        let local_port = self.local_port_for(remote);
        let key = ConnKey { remote_ip: *remote.ip(), remote_port: remote.port(), local_port };
        let now = self.now();
        self.table
            .connect(now, key)
            .map_err(|_| Error::ConnectionFailed { remote, why: "no room for a connection" })?;
        let mut peer = Peer::new(remote, remote_mac);
        let conn = self.table.conn_mut(&key).expect("just connected");
        let response = Outgoing { inline: Vec::new(), file: Some((file, part.start, len)), close: true };
        queue_response(&mut peer, conn, response, &self.container, self.config.window_bytes)?;
        self.peers.insert(key, peer);
        let mut discard = Discard;
        loop {
            if stop.is_set() {
                if let Some(conn) = self.table.conn_mut(&key) {
                    conn.abort();
                }
                return Err(Error::Stopped);
            }
            // Our FIN acknowledged means every byte before it is: done, with
            // no need to sit out TIME-WAIT (2 MSL) before saying so.
            if self.table.conn(&key).is_some_and(|c| c.all_acked()) {
                break;
            }
            let why = match self.ended.remove(&key) {
                Some(Event::Reset) => "the peer reset the connection (refused?)",
                Some(Event::TimedOut) => "the peer stopped answering",
                // CLOSED with no reset or timeout before it: a close in which
                // our FIN (after the last byte) was acknowledged.
                Some(_) => break,
                None => {
                    self.step(&mut discard, false)?;
                    continue;
                }
            };
            return Err(Error::ConnectionFailed { remote, why });
        }
        self.nic.wait_tx_done(Duration::from_secs(5))?;
        Ok(len)
    }

    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// One turn: wait for a frame or a timer, take what arrived, let the
    /// application answer, transmit, release what is acknowledged.
    fn step(&mut self, app: &mut dyn Application, stopping: bool) -> Result<(), Error> {
        let now = self.now();
        let sleep = self.table.next_deadline().map_or(MAX_SLEEP, |d| d.saturating_sub(now)).min(MAX_SLEEP);
        match self.nic.wait_rx(sleep) {
            Ok(_) | Err(Error::Stopped) => {}
            Err(e) => return Err(e),
        }
        self.receive();
        self.host.flush(self.nic)?;
        self.transmit(app, stopping)?;
        self.release();
        Ok(())
    }

    /// Take every waiting frame: ARP and ping are answered by the host, TCP
    /// segments go to the table.
    fn receive(&mut self) {
        let now = self.now();
        let (host, table, peers) = (&mut self.host, &mut self.table, &mut self.peers);
        loop {
            let n = self.nic.rx_burst(64, |frame| {
                let Some(inbound) = host.accept(frame, &[PROTO_TCP]) else {
                    return;
                };
                let ip = inbound.packet;
                if !wire::checksum_ok(ip.src, ip.dst, ip.payload) {
                    return;
                }
                let Ok((header, payload)) = wire::parse(ip.payload) else {
                    return;
                };
                if let Some(key) = table.on_segment(now, ip.src, &header, payload) {
                    peers
                        .entry(key)
                        .or_insert_with(|| Peer::new(SocketAddrV4::new(ip.src, header.src_port), inbound.src_mac));
                }
            });
            if n == 0 {
                break;
            }
        }
    }

    /// Events, the application's answers, and every segment the
    /// connections want sent.
    fn transmit(&mut self, app: &mut dyn Application, stopping: bool) -> Result<(), Error> {
        let now = self.now();
        let mut out = Vec::new();
        self.table.poll(now, &mut out);
        let mut answers = Vec::new();
        for (key, event) in self.table.take_events() {
            match event {
                Event::Established => self.stats.connections += 1,
                Event::DataReceived => {
                    let (Some(conn), Some(peer)) = (self.table.conn_mut(&key), self.peers.get_mut(&key)) else {
                        continue;
                    };
                    let mut buf = [0u8; 4096];
                    loop {
                        let n = conn.read(&mut buf);
                        if n == 0 {
                            break;
                        }
                        peer.rx.extend_from_slice(&buf[..n]);
                    }
                    if !stopping && !peer.close_after {
                        app.on_data(peer.remote, &mut peer.rx, &mut answers);
                        for a in answers.drain(..) {
                            queue_response(peer, conn, a, &self.container, self.config.window_bytes)?;
                        }
                    }
                }
                Event::PeerFinished => {
                    if let Some(conn) = self.table.conn_mut(&key) {
                        conn.close();
                    }
                }
                Event::Reset | Event::TimedOut => {
                    self.stats.aborted += 1;
                    self.ended.entry(key).or_insert(event);
                }
                Event::Closed => {
                    self.ended.entry(key).or_insert(event);
                    if let Some(peer) = self.peers.remove(&key) {
                        self.stats.retransmitted_segments += peer.retransmitted;
                        self.retire(peer);
                    }
                }
                Event::Acked(_) => {}
            }
        }
        for (key, peer) in &mut self.peers {
            if peer.close_after && !peer.close_sent {
                // Closing before the handshake is done would abort it.
                if let Some(conn) =
                    self.table.conn_mut(key).filter(|c| matches!(c.state(), State::Established | State::CloseWait))
                {
                    conn.close();
                    peer.close_sent = true;
                }
            }
        }
        // What the new stream bytes and closes allow now.
        self.table.poll(now, &mut out);
        let mut posted = false;
        for (key, seg) in out {
            if self.post(&key, &seg)? {
                posted = true;
            }
        }
        if posted {
            self.nic.tx_doorbell()?;
        }
        let pinned: u64 = self.peers.values().map(Peer::pinned_bytes).sum::<u64>()
            + self.retired.iter().map(PinnedFile::pinned_bytes).sum::<u64>();
        self.stats.peak_pinned_bytes = self.stats.peak_pinned_bytes.max(pinned);
        Ok(())
    }

    fn retire(&mut self, peer: Peer) {
        for seg in peer.stream {
            if let Piece::File { pinned, .. } = seg.piece {
                self.retired.push(pinned);
            }
        }
    }

    /// Let go of file windows the peers have acknowledged and the NIC has finished with.
    fn release(&mut self) {
        self.nic.reclaim_tx();
        let completed = self.nic.counters().tx.completed;
        for (key, peer) in &mut self.peers {
            if let Some(conn) = self.table.conn(key) {
                peer.retransmitted = conn.stats().retransmitted_segments;
            }
            let acked = self.table.conn(key).map_or(0, |c| c.acked_offset());
            for seg in &mut peer.stream {
                if let Piece::File { pinned, offset } = &mut seg.piece {
                    let acked_in_file = acked.saturating_sub(seg.start).min(seg.len) + *offset;
                    pinned.release(acked_in_file, completed);
                }
            }
            while peer.stream.front().is_some_and(|s| s.start + s.len <= acked && piece_idle(&s.piece, completed)) {
                peer.stream.pop_front();
            }
        }
        self.retired.retain(|p| p.busy_until_frame() > completed);
    }

    /// Build and post the frames of one segment: its payload range is cut
    /// where a CPU-written piece follows file bytes (a frame's header buffer
    /// comes first), and each part larger than one MSS goes out with TSO.
    /// Returns whether anything was posted.
    fn post(&mut self, key: &ConnKey, seg: &OutSegment) -> Result<bool, Error> {
        let mac = match self.peers.get(key) {
            Some(p) => p.mac,
            None => match self.host.neighbour(key.remote_ip) {
                Some(m) => m,
                None => return Ok(false),
            },
        };
        let mut parts = match self.peers.get(key) {
            Some(peer) => frame_parts(peer, seg.payload.clone(), usize::from(self.config.tcp.mss)),
            None => vec![FramePart { range: seg.payload.clone(), inline: Vec::new() }],
        };
        // A FIN never rides on a TSO frame: it follows in a frame of its own.
        // The datasheets keep FIN on the last segment a NIC cuts, but QEMU's
        // igb model clears it on every one (see hw-notes/igb.md).
        let tso_last = parts.last().is_some_and(|p| p.range.end - p.range.start > u64::from(seg.mss));
        if tso_last && seg.header().flags.contains(Flags::FIN) {
            parts.push(FramePart { range: seg.payload.end..seg.payload.end, inline: Vec::new() });
        }
        let count = parts.len();
        for (i, part) in parts.into_iter().enumerate() {
            let last = i + 1 == count;
            let mut header = seg.header();
            header.seq = seg.seq.wrapping_add((part.range.start - seg.payload.start) as u32);
            if !last {
                header.flags.remove(Flags::FIN | Flags::PSH);
            }
            let frame_number = self.nic.counters().tx.frames;
            if self.would_pass_pinning_limit(key, &part.range) {
                self.stats.deferred_for_pinning += 1;
                continue;
            }
            let mut spans: Vec<DmaSpan> = Vec::new();
            if let Some(peer) = self.peers.get_mut(key) {
                file_spans(peer, part.range.clone(), frame_number, &mut spans)?;
            }
            let file_len: u64 = spans.iter().map(|s| u64::from(s.len())).sum();
            let payload_len = part.inline.len() as u64 + file_len;
            let tso = payload_len > u64::from(seg.mss);
            let local_ip = self.host.ip();
            let mac_src = self.nic.mac();
            self.nic.wait_tx_room_for(spans.len().max(1), Duration::from_secs(5))?;
            let buf = self.nic.tx_header_buffer().ok_or(Error::TxRingFull)?;
            ethernet::write_header(buf, mac, mac_src, ETHERTYPE_IPV4);
            let tcp_at = ETH_HEADER_LEN + IP_HEADER;
            let tcp_len = header.write(&mut buf[tcp_at..]).expect("a TCP header fits a frame buffer");
            let headers = tcp_at + tcp_len;
            buf[headers..headers + part.inline.len()].copy_from_slice(&part.inline);
            let total = if tso { 0 } else { (IP_HEADER + tcp_len) as u64 + payload_len };
            write_ipv4_template(&mut buf[ETH_HEADER_LEN..tcp_at], local_ip, key.remote_ip, total as u16);
            let seed = if tso {
                wire::tso_seed(local_ip, key.remote_ip)
            } else {
                wire::offload_seed(local_ip, key.remote_ip, (tcp_len as u64 + payload_len) as u16)
            };
            buf[tcp_at + 16..tcp_at + 18].copy_from_slice(&seed.to_be_bytes());
            let offload = ChecksumOffload {
                ip_start: ETH_HEADER_LEN as u8,
                ip_checksum: ETH_HEADER_LEN as u8 + 10,
                ip_end: (tcp_at - 1) as u16,
                l4_start: tcp_at as u8,
                l4_checksum: (tcp_at + 16) as u8,
                l4: L4Protocol::Tcp,
            };
            let frame = TxFrame {
                header_len: headers + part.inline.len(),
                payload: &spans,
                offload: Some(offload),
                segmentation: tso.then_some(Segmentation { mss: seg.mss, header_len: headers as u8 }),
            };
            self.nic.tx_post(&frame)?;
            self.stats.frames += 1;
            self.stats.header_bytes_written += (headers + part.inline.len()) as u64;
            self.stats.file_bytes_posted += file_len;
        }
        Ok(true)
    }
}

impl TcpFileServer<'_> {
    /// Whether pinning the file bytes of `range` of `key`'s stream would take
    /// the bytes pinned for all connections past the limit.
    fn would_pass_pinning_limit(&self, key: &ConnKey, range: &std::ops::Range<u64>) -> bool {
        let Some(peer) = self.peers.get(key) else {
            return false;
        };
        let new_windows: u64 = peer
            .stream
            .iter()
            .filter(|s| s.start < range.end && range.start < s.start + s.len)
            .filter_map(|s| match &s.piece {
                Piece::File { pinned, offset } => {
                    let a = offset + range.start.max(s.start) - s.start;
                    let b = offset + range.end.min(s.start + s.len) - s.start;
                    Some(pinned.unpinned_bytes(a..b))
                }
                Piece::Inline(_) => None,
            })
            .sum();
        if new_windows == 0 {
            return false;
        }
        let pinned: u64 = self.peers.values().map(Peer::pinned_bytes).sum::<u64>()
            + self.retired.iter().map(PinnedFile::pinned_bytes).sum::<u64>();
        pinned + new_windows > self.config.max_pinned_bytes
    }
}

impl Drop for TcpFileServer<'_> {
    fn drop(&mut self) {
        // File windows the NIC may still read must outlive its DMA: if any
        // frame pointing into them is not completed (an error, a panic),
        // stop the NIC first; if even that fails, leak them.
        self.nic.reclaim_tx();
        let completed = self.nic.counters().tx.completed;
        let busy = self.peers.values().flat_map(|p| p.stream.iter()).any(|s| !piece_idle(&s.piece, completed))
            || self.retired.iter().any(|p| p.busy_until_frame() > completed);
        if busy && self.nic.wait_tx_done(Duration::from_secs(1)).is_err() && !self.stopper.stop() {
            for peer in self.peers.drain() {
                std::mem::forget(peer.1);
            }
            std::mem::forget(std::mem::take(&mut self.retired));
        }
    }
}

/// An application that takes no requests (a sender: whatever the peer sends is dropped).
struct Discard;

impl Application for Discard {
    fn on_data(&mut self, _peer: SocketAddrV4, rx: &mut Vec<u8>, _out: &mut Vec<Outgoing>) {
        rx.clear();
    }
}

fn piece_idle(piece: &Piece, completed: u64) -> bool {
    match piece {
        Piece::Inline(_) => true,
        Piece::File { pinned, .. } => pinned.busy_until_frame() <= completed,
    }
}

/// A part of a segment that becomes one frame: CPU-written bytes first,
/// then the file bytes of `range` that follow them.
#[derive(Debug, PartialEq, Eq)]
struct FramePart {
    range: std::ops::Range<u64>,
    inline: Vec<u8>,
}

/// Cut `range` of `peer`'s stream into frame parts: a new part starts where
/// CPU-written bytes follow file bytes, or when a part's CPU-written bytes
/// would not fit a frame buffer.
fn frame_parts(peer: &Peer, range: std::ops::Range<u64>, mss: usize) -> Vec<FramePart> {
    let room = MAX_FRAME_LEN - ETH_HEADER_LEN - IP_HEADER - 60;
    let mut parts: Vec<FramePart> = Vec::new();
    let mut has_file = false;
    if range.is_empty() {
        return vec![FramePart { range, inline: Vec::new() }];
    }
    for seg in &peer.stream {
        let (a, b) = (seg.start.max(range.start), (seg.start + seg.len).min(range.end));
        if a >= b {
            continue;
        }
        match &seg.piece {
            Piece::Inline(bytes) => {
                let mut at = a;
                while at < b {
                    let fits = parts.last().is_some_and(|p| !has_file && p.inline.len() < room.min(mss));
                    if !fits {
                        parts.push(FramePart { range: at..at, inline: Vec::new() });
                        has_file = false;
                    }
                    let p = parts.last_mut().expect("a part was just pushed");
                    let n = ((b - at) as usize).min(room.min(mss) - p.inline.len());
                    let from = (at - seg.start) as usize;
                    p.inline.extend_from_slice(&bytes[from..from + n]);
                    at += n as u64;
                    p.range.end = at;
                }
            }
            Piece::File { .. } => {
                match parts.last_mut() {
                    Some(p) => p.range.end = b,
                    None => parts.push(FramePart { range: a..b, inline: Vec::new() }),
                }
                has_file = true;
            }
        }
    }
    parts
}

/// The DMA spans of the file bytes in `range` of `peer`'s stream.
fn file_spans(peer: &mut Peer, range: std::ops::Range<u64>, frame: u64, out: &mut Vec<DmaSpan>) -> Result<(), Error> {
    for seg in &mut peer.stream {
        let (a, b) = (seg.start.max(range.start), (seg.start + seg.len).min(range.end));
        if a >= b {
            continue;
        }
        if let Piece::File { pinned, offset } = &mut seg.piece {
            pinned.spans(*offset + (a - seg.start), b - a, frame, out)?;
        }
    }
    Ok(())
}

/// Append a response to `peer`'s stream and tell the connection.
fn queue_response(
    peer: &mut Peer,
    conn: &mut crate::net::tcp::Conn,
    response: Outgoing,
    container: &Arc<Container>,
    window_bytes: u64,
) -> Result<(), Error> {
    let mut added = 0;
    if !response.inline.is_empty() {
        let len = response.inline.len() as u64;
        peer.stream.push_back(Segment { start: peer.stream_end, len, piece: Piece::Inline(response.inline) });
        peer.stream_end += len;
        added += len;
    }
    if let Some((source, offset, len)) = response.file {
        if len > 0 {
            let pinned = PinnedFile::new(source, Arc::clone(container), window_bytes);
            peer.stream.push_back(Segment { start: peer.stream_end, len, piece: Piece::File { pinned, offset } });
            peer.stream_end += len;
            added += len;
        }
    }
    if conn.state() != State::Closed {
        conn.extend_stream(added);
    }
    if response.close {
        peer.close_after = true;
    }
    Ok(())
}

/// An IPv4 header for offload: total length (0 for TSO: the NIC writes each
/// segment's), identification 0, don't fragment, TTL 64, TCP, and the
/// checksum left 0 for the NIC.
fn write_ipv4_template(h: &mut [u8], src: Ipv4Addr, dst: Ipv4Addr, total: u16) {
    h[..12].copy_from_slice(&[0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, PROTO_TCP, 0, 0]);
    h[2..4].copy_from_slice(&total.to_be_bytes());
    h[12..16].copy_from_slice(&src.octets());
    h[16..20].copy_from_slice(&dst.octets());
}

/// A secret for the ISN generator (RFC 6528), from the kernel's random pool.
fn random_secret() -> u128 {
    let mut b = [0u8; 16];
    crate::sys::host::random_bytes(&mut b, "the TCP secret (ISNs, ports)");
    u128::from_ne_bytes(b)
}

//! The connection table: demultiplexes segments to connections by (remote
//! address, remote port, local port), answers SYNs on listening ports,
//! resets everything else, and bounds how many connections exist.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::Ipv4Addr;
use std::time::Duration;

use super::config::TcpConfig;
use super::conn::{Conn, Event, State};
use super::segment::OutSegment;
use super::seq;
use super::wire::{Flags, TcpHeader};

/// What identifies a connection to us (our address is the NIC's one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnKey {
    /// The peer's IPv4 address.
    pub remote_ip: Ipv4Addr,
    /// The peer's port.
    pub remote_port: u16,
    /// Our port.
    pub local_port: u16,
}

/// Source of initial sequence numbers. They must not be predictable from
/// outside (RFC 6528), and tests want them fixed, so the caller chooses.
pub trait IsnGenerator {
    /// The ISN for a new connection `key` opened at `now`.
    fn isn(&mut self, key: &ConnKey, now: Duration) -> u32;
}

impl<F: FnMut(&ConnKey, Duration) -> u32> IsnGenerator for F {
    fn isn(&mut self, key: &ConnKey, now: Duration) -> u32 {
        self(key, now)
    }
}

/// The generator of RFC 6528 section 3: a 4-microsecond clock plus a keyed
/// hash of the connection's identity, so ISNs of one connection's
/// incarnations increase while nobody without the key can predict them.
/// The caller supplies the key from a real random source.
#[derive(Debug, Clone)]
pub struct Rfc6528Isn {
    secret: u128,
}

impl Rfc6528Isn {
    /// A generator keyed with `secret` (random, kept private).
    pub fn new(secret: u128) -> Rfc6528Isn {
        Rfc6528Isn { secret }
    }
}

impl IsnGenerator for Rfc6528Isn {
    fn isn(&mut self, key: &ConnKey, now: Duration) -> u32 {
        let mut h = DefaultHasher::new();
        self.secret.hash(&mut h);
        key.hash(&mut h);
        let ticks = (now.as_micros() / 4) as u32;
        (h.finish() as u32).wrapping_add(ticks)
    }
}

/// Why a connection could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenError {
    /// The table holds its maximum number of connections.
    TableFull,
    /// A connection with that key exists.
    InUse,
}

/// Counters of the table's own decisions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableStats {
    /// SYNs dropped because the table was full.
    pub syns_dropped_table_full: u64,
    /// RSTs sent for segments that reached no connection.
    pub resets_sent: u64,
    /// Connections removed after reaching CLOSED.
    pub connections_reaped: u64,
}

/// Up to `capacity` connections and the set of listening ports.
pub struct TcpTable<I: IsnGenerator> {
    cfg: TcpConfig,
    isn: I,
    capacity: usize,
    listening: BTreeSet<u16>,
    /// A BTreeMap so that polling order, and so every test, is deterministic.
    conns: BTreeMap<ConnKey, Conn>,
    replies: Vec<(ConnKey, OutSegment)>,
    events: Vec<(ConnKey, Event)>,
    stats: TableStats,
}

impl<I: IsnGenerator> TcpTable<I> {
    /// An empty table for at most `capacity` connections (TIME-WAIT ones
    /// included: they hold a slot until 2 MSL pass).
    pub fn new(cfg: TcpConfig, capacity: usize, isn: I) -> TcpTable<I> {
        TcpTable {
            cfg,
            isn,
            capacity,
            listening: BTreeSet::new(),
            conns: BTreeMap::new(),
            replies: Vec::new(),
            events: Vec::new(),
            stats: TableStats::default(),
        }
    }

    /// Accept connections on `port`.
    pub fn listen(&mut self, port: u16) {
        self.listening.insert(port);
    }

    /// Stop accepting on `port` (existing connections carry on).
    pub fn unlisten(&mut self, port: u16) {
        self.listening.remove(&port);
    }

    /// Open a connection to `key`'s peer; the SYN goes out on the next poll.
    pub fn connect(&mut self, now: Duration, key: ConnKey) -> Result<(), OpenError> {
        if self.conns.contains_key(&key) {
            return Err(OpenError::InUse);
        }
        if self.conns.len() >= self.capacity {
            return Err(OpenError::TableFull);
        }
        let isn = self.isn.isn(&key, now);
        self.conns.insert(key, Conn::connect(&self.cfg, key.local_port, key.remote_port, isn));
        Ok(())
    }

    /// Connections in the table, in any state but CLOSED.
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    /// No connections.
    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// Counters.
    pub fn stats(&self) -> TableStats {
        self.stats
    }

    /// A connection, to read from or feed its stream.
    pub fn conn(&self, key: &ConnKey) -> Option<&Conn> {
        self.conns.get(key)
    }

    /// A connection, mutable.
    pub fn conn_mut(&mut self, key: &ConnKey) -> Option<&mut Conn> {
        self.conns.get_mut(key)
    }

    /// Keys of all connections.
    pub fn keys(&self) -> impl Iterator<Item = &ConnKey> {
        self.conns.keys()
    }

    /// A segment from `remote_ip` arrived (parsed, checksum verified).
    /// Returns the key of the connection it reached, if any.
    pub fn on_segment(&mut self, now: Duration, remote_ip: Ipv4Addr, h: &TcpHeader, payload: &[u8]) -> Option<ConnKey> {
        let key = ConnKey { remote_ip, remote_port: h.src_port, local_port: h.dst_port };
        let fresh_syn = h.flags & (Flags::SYN | Flags::ACK | Flags::RST) == Flags::SYN;
        if let Some(conn) = self.conns.get_mut(&key) {
            // RFC 9293 section 3.6.1 (and RFC 6191 without timestamps): a new
            // SYN beyond what the TIME-WAIT connection received may start a
            // new incarnation at once.
            let reopens = conn.state() == State::TimeWait
                && fresh_syn
                && seq::lt(conn.rcv_nxt(), h.seq)
                && self.listening.contains(&key.local_port);
            if !reopens {
                conn.on_segment(now, h, payload);
                return Some(key);
            }
            self.conns.remove(&key);
            self.stats.connections_reaped += 1;
        }
        if fresh_syn && self.listening.contains(&key.local_port) {
            if self.conns.len() >= self.capacity {
                // Dropped, not reset: the client retransmits its SYN and may
                // find a free slot then, where a RST would make it give up
                // (a full listen backlog behaves the same in Linux).
                self.stats.syns_dropped_table_full += 1;
                return None;
            }
            let isn = self.isn.isn(&key, now);
            let mut conn = Conn::listen(&self.cfg, key.local_port, isn);
            conn.on_segment(now, h, payload);
            self.conns.insert(key, conn);
            return Some(key);
        }
        // Nobody listens, or a non-SYN for no connection: RFC 9293 section
        // 3.10.7.1 (closed) and 3.10.7.2 (an ACK to LISTEN) both reset.
        if let Some(rst) = OutSegment::reset_for(h, payload.len()) {
            self.stats.resets_sent += 1;
            self.replies.push((key, rst));
        }
        None
    }

    /// Run every connection's timers and collect what to transmit; remove
    /// connections that reached CLOSED (after their last segment and the
    /// `Closed` event are out).
    pub fn poll(&mut self, now: Duration, out: &mut Vec<(ConnKey, OutSegment)>) {
        out.append(&mut self.replies);
        let mut segs = Vec::new();
        let mut closed = Vec::new();
        for (key, conn) in &mut self.conns {
            conn.poll(now, &mut segs);
            out.extend(segs.drain(..).map(|s| (*key, s)));
            self.events.extend(conn.take_events().into_iter().map(|e| (*key, e)));
            if conn.state() == State::Closed {
                closed.push(*key);
            }
        }
        for key in closed {
            self.conns.remove(&key);
            self.stats.connections_reaped += 1;
        }
    }

    /// Events of all connections since the last call (collected by poll).
    pub fn take_events(&mut self) -> Vec<(ConnKey, Event)> {
        std::mem::take(&mut self.events)
    }

    /// When the table next has timer work.
    pub fn next_deadline(&self) -> Option<Duration> {
        self.conns.values().filter_map(Conn::next_deadline).min()
    }
}

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
    /// Half-open connections (SYN-RECEIVED) dropped to make room for a new SYN.
    pub half_open_evicted: u64,
    /// TIME-WAIT connections ended early to make room for a new SYN.
    pub time_wait_recycled: u64,
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
            if self.conns.len() >= self.capacity
                && !self.evict_a_half_open_connection()
                && !self.recycle_a_time_wait_slot()
            {
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

    /// Make room for a new SYN by dropping a half-open connection (one in
    /// SYN-RECEIVED: a real client completes its handshake within one round
    /// trip, so what sits there is most likely a SYN flood or a vanished
    /// client), the one whose SYN-ACK was retransmitted most. Returns whether
    /// there was one.
    fn evict_a_half_open_connection(&mut self) -> bool {
        let victim = self
            .conns
            .iter()
            .filter(|(_, c)| c.state() == State::SynReceived)
            .max_by_key(|(_, c)| c.stats().timeouts)
            .map(|(k, _)| *k);
        match victim {
            Some(key) => {
                self.conns.remove(&key);
                self.stats.half_open_evicted += 1;
                true
            }
            None => false,
        }
    }

    /// Make room for a new SYN by ending the TIME-WAIT connection closest to
    /// its end. A server that closes first keeps every connection in
    /// TIME-WAIT for two MSL, so a client fetching one file after another
    /// fills the table within 2 MSL (256 fetches a minute here) and every SYN
    /// after that would be dropped until the oldest expired: a fetch stalled
    /// for seconds. TIME-WAIT only guards its own address and port pair
    /// against late duplicates, which a new connection from another port
    /// does not share; ending it early risks no more than a RST to a stray
    /// segment (Linux does the same when its TIME-WAIT buckets run out).
    fn recycle_a_time_wait_slot(&mut self) -> bool {
        let victim = self
            .conns
            .iter()
            .filter(|(_, c)| c.state() == State::TimeWait)
            .min_by_key(|(_, c)| c.next_deadline())
            .map(|(k, _)| *k);
        match victim {
            Some(key) => {
                self.conns.remove(&key);
                self.stats.time_wait_recycled += 1;
                true
            }
            None => false,
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::tcp::wire::Options;

    const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 7);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn cfg() -> TcpConfig {
        TcpConfig { rto_min: ms(200), msl: ms(1000), syn_retries: 2, ..TcpConfig::default() }
    }

    fn table(capacity: usize) -> TcpTable<impl IsnGenerator> {
        let mut n = 0u32;
        let mut t = TcpTable::new(cfg(), capacity, move |_: &ConnKey, _| {
            n += 1;
            n * 1_000_000
        });
        t.listen(80);
        t
    }

    fn syn(port: u16, dst: u16, seq: u32) -> TcpHeader {
        TcpHeader {
            src_port: port,
            dst_port: dst,
            seq,
            flags: Flags::SYN,
            window: 65535,
            options: Options { mss: Some(1460), ..Options::default() },
            ..TcpHeader::default()
        }
    }

    fn poll(t: &mut TcpTable<impl IsnGenerator>, now: Duration) -> Vec<(ConnKey, OutSegment)> {
        let mut out = Vec::new();
        t.poll(now, &mut out);
        out
    }

    #[test]
    fn a_syn_to_a_port_nobody_listens_on_is_reset() {
        let mut t = table(4);
        assert_eq!(t.on_segment(ms(0), CLIENT, &syn(5000, 81, 77), &[]), None);
        let out = poll(&mut t, ms(0));
        assert_eq!(out.len(), 1);
        let (key, r) = &out[0];
        assert_eq!(key.remote_port, 5000);
        assert_eq!((r.flags, r.seq, r.ack), (Flags::RST | Flags::ACK, 0, 78));
        assert_eq!((r.src_port, r.dst_port), (81, 5000));
        assert!(t.is_empty());
        assert_eq!(t.stats().resets_sent, 1);
    }

    #[test]
    fn a_stray_ack_is_reset_even_on_a_listening_port() {
        let mut t = table(4);
        let ack = TcpHeader { ack: 4242, flags: Flags::ACK, ..syn(5000, 80, 1) };
        t.on_segment(ms(0), CLIENT, &ack, &[]);
        let out = poll(&mut t, ms(0));
        assert_eq!((out[0].1.flags, out[0].1.seq), (Flags::RST, 4242));
        // And a stray RST gets nothing.
        t.on_segment(ms(0), CLIENT, &TcpHeader { flags: Flags::RST, ..ack }, &[]);
        assert!(poll(&mut t, ms(0)).is_empty());
    }

    #[test]
    fn syns_are_demultiplexed_by_address_and_port_with_their_own_isn() {
        let mut t = table(4);
        let a = t.on_segment(ms(0), CLIENT, &syn(5000, 80, 1), &[]).unwrap();
        let b = t.on_segment(ms(0), CLIENT, &syn(5001, 80, 1), &[]).unwrap();
        let c = t.on_segment(ms(0), Ipv4Addr::new(10, 9, 9, 9), &syn(5000, 80, 1), &[]).unwrap();
        assert_eq!(t.len(), 3);
        let out = poll(&mut t, ms(0));
        assert_eq!(out.len(), 3);
        let isns: BTreeSet<u32> = out.iter().map(|(_, s)| s.seq).collect();
        assert_eq!(isns.len(), 3, "each connection its own ISN");
        for key in [a, b, c] {
            assert_eq!(t.conn(&key).unwrap().state(), State::SynReceived);
        }
        // The handshake's ACK reaches the right connection.
        let sa = out.iter().find(|(k, _)| *k == b).unwrap().1.clone();
        let ack = TcpHeader { seq: 2, ack: sa.seq.wrapping_add(1), flags: Flags::ACK, ..syn(5001, 80, 0) };
        assert_eq!(t.on_segment(ms(1), CLIENT, &ack, &[]), Some(b));
        assert_eq!(t.conn(&b).unwrap().state(), State::Established);
        assert_eq!(t.conn(&a).unwrap().state(), State::SynReceived);
        poll(&mut t, ms(1));
        assert_eq!(t.take_events(), vec![(b, Event::Established)]);
    }

    #[test]
    fn a_full_table_evicts_half_open_connections_then_drops_syns_and_frees_slots_as_connections_close() {
        let mut t = table(2);
        t.on_segment(ms(0), CLIENT, &syn(5000, 80, 1), &[]).unwrap();
        t.on_segment(ms(0), CLIENT, &syn(5001, 80, 1), &[]).unwrap();
        // Both half-open: a third SYN makes room by dropping one of them.
        assert!(t.on_segment(ms(0), CLIENT, &syn(5002, 80, 1), &[]).is_some());
        assert_eq!((t.stats().half_open_evicted, t.len()), (1, 2));
        // Complete the two handshakes left: with every slot established, a SYN is dropped.
        let out = poll(&mut t, ms(0));
        for (key, sa) in &out {
            let ack =
                TcpHeader { seq: 2, ack: sa.seq.wrapping_add(1), flags: Flags::ACK, ..syn(key.remote_port, 80, 0) };
            t.on_segment(ms(1), CLIENT, &ack, &[]);
        }
        assert!(t.keys().all(|k| t.conn(k).unwrap().state() == State::Established));
        assert_eq!(t.on_segment(ms(1), CLIENT, &syn(5003, 80, 1), &[]), None);
        assert_eq!(t.stats().syns_dropped_table_full, 1);
        assert_eq!(
            t.connect(ms(1), ConnKey { remote_ip: CLIENT, remote_port: 9, local_port: 4000 }),
            Err(OpenError::TableFull)
        );
        // A RST frees a slot.
        let victim = *t.keys().next().unwrap();
        let seq = t.conn(&victim).unwrap().rcv_nxt();
        let rst = TcpHeader { seq, flags: Flags::RST, ..syn(victim.remote_port, 80, 0) };
        t.on_segment(ms(2), CLIENT, &rst, &[]);
        poll(&mut t, ms(2));
        assert_eq!(t.len(), 1);
        assert!(t.on_segment(ms(3), CLIENT, &syn(5003, 80, 1), &[]).is_some());
    }

    #[test]
    fn half_open_connections_time_out_and_leave_the_table() {
        let mut t = table(4);
        let key = t.on_segment(ms(0), CLIENT, &syn(5000, 80, 1), &[]).unwrap();
        let mut now = ms(0);
        let mut synacks = 0;
        while !t.is_empty() {
            synacks += poll(&mut t, now).iter().filter(|(_, s)| s.flags.contains(Flags::SYN)).count();
            now = t.next_deadline().unwrap_or(now);
            assert!(now < Duration::from_secs(60), "SYN-RECEIVED must not last");
        }
        assert_eq!(synacks, 3, "the SYN-ACK and syn_retries (2) retransmissions");
        let events: Vec<Event> = t.take_events().into_iter().filter(|(k, _)| *k == key).map(|(_, e)| e).collect();
        assert_eq!(events, vec![Event::TimedOut, Event::Closed]);
        assert_eq!(t.stats().connections_reaped, 1);
    }

    /// Drive a server connection to TIME-WAIT: handshake, our FIN, theirs.
    fn server_in_time_wait(t: &mut TcpTable<impl IsnGenerator>) -> ConnKey {
        let key = t.on_segment(ms(0), CLIENT, &syn(5000, 80, 100), &[]).unwrap();
        let iss = poll(t, ms(0))[0].1.seq;
        let ack = TcpHeader { seq: 101, ack: iss.wrapping_add(1), flags: Flags::ACK, ..syn(5000, 80, 0) };
        t.on_segment(ms(1), CLIENT, &ack, &[]);
        t.conn_mut(&key).unwrap().close();
        poll(t, ms(1));
        let fin = TcpHeader { ack: iss.wrapping_add(2), flags: Flags::ACK | Flags::FIN, ..ack };
        t.on_segment(ms(2), CLIENT, &fin, &[]);
        assert_eq!(t.conn(&key).unwrap().state(), State::TimeWait);
        key
    }

    #[test]
    fn time_wait_holds_its_slot_for_two_msl_then_is_reaped() {
        let mut t = table(4);
        let key = server_in_time_wait(&mut t);
        poll(&mut t, ms(2));
        assert_eq!(t.next_deadline(), Some(ms(2002)));
        poll(&mut t, ms(2001));
        assert!(t.conn(&key).is_some());
        poll(&mut t, ms(2002));
        assert!(t.is_empty());
    }

    #[test]
    fn a_table_full_of_time_wait_recycles_the_oldest_slot_for_a_new_syn() {
        let mut t = table(2);
        let first = server_in_time_wait(&mut t);
        poll(&mut t, ms(2));
        // A second connection, from another port, also ends in TIME-WAIT, later.
        let second = t.on_segment(ms(10), CLIENT, &syn(5001, 80, 100), &[]).unwrap();
        let iss = poll(&mut t, ms(10))[0].1.seq;
        let ack = TcpHeader { seq: 101, ack: iss.wrapping_add(1), flags: Flags::ACK, ..syn(5001, 80, 0) };
        t.on_segment(ms(11), CLIENT, &ack, &[]);
        t.conn_mut(&second).unwrap().close();
        poll(&mut t, ms(11));
        let fin = TcpHeader { ack: iss.wrapping_add(2), flags: Flags::ACK | Flags::FIN, ..ack };
        t.on_segment(ms(12), CLIENT, &fin, &[]);
        assert_eq!(t.conn(&second).unwrap().state(), State::TimeWait);
        assert_eq!(t.len(), 2, "full: two TIME-WAIT connections");
        // A third client port: answered at once, in the slot of the first
        // (closest to its end), not dropped.
        let third = t.on_segment(ms(20), CLIENT, &syn(5002, 80, 100), &[]).expect("a slot for the SYN");
        assert_eq!(t.conn(&third).unwrap().state(), State::SynReceived);
        assert!(t.conn(&first).is_none(), "the oldest TIME-WAIT gave its slot");
        assert!(t.conn(&second).is_some());
        assert_eq!((t.stats().time_wait_recycled, t.stats().syns_dropped_table_full), (1, 0));
    }

    #[test]
    fn a_new_syn_beyond_time_wait_starts_a_new_connection() {
        let mut t = table(4);
        let key = server_in_time_wait(&mut t);
        poll(&mut t, ms(2));
        // An old SYN (below RCV.NXT) only gets an ACK from TIME-WAIT.
        t.on_segment(ms(3), CLIENT, &syn(5000, 80, 100), &[]);
        assert_eq!(t.conn(&key).unwrap().state(), State::TimeWait);
        // A SYN beyond it opens a new incarnation at once.
        t.on_segment(ms(4), CLIENT, &syn(5000, 80, 50_000), &[]);
        assert_eq!(t.conn(&key).unwrap().state(), State::SynReceived);
    }

    #[test]
    fn connect_opens_an_active_connection() {
        let mut t = table(4);
        let key = ConnKey { remote_ip: CLIENT, remote_port: 8080, local_port: 40000 };
        t.connect(ms(0), key).unwrap();
        assert_eq!(t.connect(ms(0), key), Err(OpenError::InUse));
        let out = poll(&mut t, ms(0));
        assert_eq!(out[0].1.flags, Flags::SYN);
        assert_eq!(out[0].0, key);
    }

    #[test]
    fn rfc6528_isns_differ_per_connection_and_advance_with_time() {
        let mut g = Rfc6528Isn::new(0x0123_4567_89ab_cdef_0011_2233_4455_6677);
        let a = ConnKey { remote_ip: CLIENT, remote_port: 5000, local_port: 80 };
        let b = ConnKey { remote_port: 5001, ..a };
        assert_ne!(g.isn(&a, ms(0)), g.isn(&b, ms(0)));
        assert_eq!(g.isn(&a, ms(4)).wrapping_sub(g.isn(&a, ms(0))), 1000, "one tick per 4 µs");
        let mut other = Rfc6528Isn::new(1);
        assert_ne!(g.isn(&a, ms(0)), other.isn(&a, ms(0)), "the secret matters");
    }
}

//! One connection's state machine (RFC 9293 section 3.10), with the send
//! side over an abstract byte stream and the receive side over a small
//! in-order buffer.
//!
//! The send side keeps its books in 64-bit positions that never wrap:
//! position 0 is our SYN, positions 1..=N the N stream bytes (stream offset
//! = position - 1), N+1 our FIN. Only the wire uses 32-bit sequence
//! numbers (ISS + position).
//!
//! Nothing here does I/O or reads a clock: every call takes `now`, a
//! [`Duration`] since an epoch the caller picks, and output is collected by
//! [`Conn::poll`].

use std::collections::VecDeque;
use std::time::Duration;

mod receive;
mod send;

use super::config::TcpConfig;
use super::congestion::Congestion;
use super::rto::RtoEstimator;
use super::segment::OutSegment;
use super::wire::Flags;

/// MSS assumed when the peer's SYN has none (RFC 9293 section 3.7.1).
const DEFAULT_PEER_MSS: u16 = 536;

/// Connection states of RFC 9293 section 3.3.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// No connection (initial for a fresh conn, and final).
    Closed,
    /// Waiting for a SYN (passive open).
    Listen,
    /// Our SYN sent, waiting for the peer's (active open).
    SynSent,
    /// Peer's SYN received, our SYN-ACK sent.
    SynReceived,
    /// Open both ways.
    Established,
    /// We closed; our FIN not yet acknowledged.
    FinWait1,
    /// Our FIN acknowledged; waiting for the peer's.
    FinWait2,
    /// Both closed at once; waiting for the ACK of our FIN.
    Closing,
    /// Both FINs done; waiting 2 MSL for stray duplicates.
    TimeWait,
    /// The peer closed; we may still send.
    CloseWait,
    /// The peer closed, then we did; waiting for the ACK of our FIN.
    LastAck,
}

/// Things the caller should know, drained with [`Conn::take_events`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The handshake completed.
    Established,
    /// Stream offsets below this are acknowledged for good: the caller may
    /// release what backs them (file pages stay pinned until then).
    Acked(u64),
    /// In-order data is waiting in the receive buffer ([`Conn::read`]).
    DataReceived,
    /// The peer sent FIN: no more data will arrive.
    PeerFinished,
    /// The peer reset the connection (or refused it, in SYN-SENT).
    Reset,
    /// Retransmissions (or the FIN-WAIT-2 wait) ran out.
    TimedOut,
    /// The connection reached CLOSED; it will do nothing more.
    Closed,
}

/// Counters of what a connection did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnStats {
    /// Segments (TSO sends counted once) handed to the caller.
    pub segments_sent: u64,
    /// Payload bytes in them, retransmissions included.
    pub payload_bytes_sent: u64,
    /// Segments that repeated something sent before.
    pub retransmitted_segments: u64,
    /// Payload bytes sent again.
    pub retransmitted_bytes: u64,
    /// Retransmission-timer expiries.
    pub timeouts: u64,
    /// Fast retransmits (third duplicate ACK).
    pub fast_retransmits: u64,
    /// Retransmissions on NewReno partial ACKs.
    pub partial_ack_retransmits: u64,
    /// Zero-window probes.
    pub window_probes: u64,
    /// Duplicate ACKs received.
    pub dup_acks_received: u64,
    /// RTT measurements taken.
    pub rtt_samples: u64,
}

/// One TCP connection.
#[derive(Debug)]
pub struct Conn {
    cfg: TcpConfig,
    state: State,
    local_port: u16,
    remote_port: u16,

    // Send side, in positions (see the module doc).
    iss: u32,
    snd_una: u64,
    snd_nxt: u64,
    /// Highest position ever sent, exclusive.
    snd_max: u64,
    /// Peer's window in bytes (scaled).
    snd_wnd: u64,
    /// Segment sequence and ACK position of the last window update (RFC
    /// 9293's SND.WL1 and SND.WL2).
    snd_wl1: u32,
    snd_wl2: u64,
    /// Stream bytes the caller made available.
    stream_len: u64,
    /// The caller closed the stream: FIN follows its last byte.
    stream_closed: bool,
    snd_mss: u32,
    /// Shift applied to the peer's window fields (0 unless both SYNs had
    /// the option).
    snd_shift: u8,
    cc: Congestion,
    rto: RtoEstimator,
    rto_deadline: Option<Duration>,
    /// Timeouts in a row without progress.
    retries: u32,
    /// Karn's rule: one segment timed at a time, (end position, send time);
    /// cleared when anything it covers is retransmitted.
    timing: Option<(u64, Duration)>,
    /// Retransmit one MSS at SND.UNA on the next poll (fast retransmit,
    /// partial ACK).
    retransmit_first: bool,
    persist_deadline: Option<Duration>,
    persist_backoffs: u32,
    probe_due: bool,

    // Receive side, in sequence numbers.
    irs: Option<u32>,
    rcv_nxt: u32,
    /// Right edge of the window we advertised; never moves left (RFC 9293
    /// section 3.8.6.2.2).
    rcv_adv: u32,
    rcv_shift: u8,
    /// We offered window scaling in our SYN.
    offered_ws: bool,
    rcv_buf: VecDeque<u8>,
    fin_received: bool,
    ack_due: bool,
    /// Replies that are not part of the connection's own stream (RSTs).
    replies: Vec<OutSegment>,
    /// FIN-WAIT-2 limit or the end of TIME-WAIT.
    close_deadline: Option<Duration>,

    events: VecDeque<Event>,
    stats: ConnStats,
}

impl Conn {
    fn new(cfg: &TcpConfig, state: State, local_port: u16, remote_port: u16, iss: u32) -> Conn {
        let mss = u32::from(DEFAULT_PEER_MSS);
        Conn {
            cfg: cfg.clone(),
            state,
            local_port,
            remote_port,
            iss,
            snd_una: 0,
            snd_nxt: 0,
            snd_max: 0,
            snd_wnd: 0,
            snd_wl1: 0,
            snd_wl2: 0,
            stream_len: 0,
            stream_closed: false,
            snd_mss: mss,
            snd_shift: 0,
            cc: Congestion::new(mss),
            rto: RtoEstimator::new(cfg.rto_initial, cfg.rto_min, cfg.rto_max),
            rto_deadline: None,
            retries: 0,
            timing: None,
            retransmit_first: false,
            persist_deadline: None,
            persist_backoffs: 0,
            probe_due: false,
            irs: None,
            rcv_nxt: 0,
            rcv_adv: 0,
            rcv_shift: 0,
            offered_ws: false,
            rcv_buf: VecDeque::new(),
            fin_received: false,
            ack_due: false,
            replies: Vec::new(),
            close_deadline: None,
            events: VecDeque::new(),
            stats: ConnStats::default(),
        }
    }

    /// A passive open on `local_port`, waiting for a SYN. `iss` is the
    /// initial send sequence number: it must be unpredictable (RFC 6528).
    pub fn listen(cfg: &TcpConfig, local_port: u16, iss: u32) -> Conn {
        Conn::new(cfg, State::Listen, local_port, 0, iss)
    }

    /// An active open: the SYN goes out on the next [`poll`](Conn::poll).
    pub fn connect(cfg: &TcpConfig, local_port: u16, remote_port: u16, iss: u32) -> Conn {
        let mut c = Conn::new(cfg, State::SynSent, local_port, remote_port, iss);
        c.offered_ws = true;
        c
    }

    /// Current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Our port.
    pub fn local_port(&self) -> u16 {
        self.local_port
    }

    /// The peer's port (0 while listening).
    pub fn remote_port(&self) -> u16 {
        self.remote_port
    }

    /// Counters.
    pub fn stats(&self) -> ConnStats {
        self.stats
    }

    /// Stream offsets below this are acknowledged by the peer.
    pub fn acked_offset(&self) -> u64 {
        self.snd_una.saturating_sub(1).min(self.stream_len)
    }

    /// Stream bytes made available so far.
    pub fn stream_len(&self) -> u64 {
        self.stream_len
    }

    /// True once the stream, and FIN if the stream was closed, are all
    /// acknowledged.
    pub fn all_acked(&self) -> bool {
        let end = self.stream_len + 1 + u64::from(self.stream_closed);
        self.snd_una >= end
    }

    /// Congestion window in bytes.
    pub fn cwnd(&self) -> u64 {
        self.cc.cwnd()
    }

    /// Slow-start threshold in bytes.
    pub fn ssthresh(&self) -> u64 {
        self.cc.ssthresh()
    }

    /// The current retransmission timeout.
    pub fn rto(&self) -> Duration {
        self.rto.rto()
    }

    /// Payload bytes per segment to the peer.
    pub fn mss(&self) -> u32 {
        self.snd_mss
    }

    /// The peer's window in bytes, scaling applied.
    pub fn peer_window(&self) -> u64 {
        self.snd_wnd
    }

    /// Shift applied to the peer's window fields, and the one applied to ours.
    pub fn window_shifts(&self) -> (u8, u8) {
        (self.snd_shift, self.rcv_shift)
    }

    /// Bytes waiting in the receive buffer.
    pub fn readable(&self) -> usize {
        self.rcv_buf.len()
    }

    /// Drain the events since the last call.
    pub fn take_events(&mut self) -> Vec<Event> {
        self.events.drain(..).collect()
    }

    /// When [`poll`](Conn::poll) next has timer work, if ever.
    pub fn next_deadline(&self) -> Option<Duration> {
        [self.rto_deadline, self.persist_deadline, self.close_deadline].into_iter().flatten().min()
    }

    /// The caller made `n` more stream bytes available to send.
    pub fn extend_stream(&mut self, n: u64) {
        if self.stream_closed {
            debug_assert!(n == 0, "stream extended after close");
            return;
        }
        self.stream_len += n;
    }

    /// The caller will send nothing more: FIN follows the stream's last byte
    /// (RFC 9293 section 3.10.4, CLOSE).
    pub fn close(&mut self) {
        match self.state {
            State::Listen | State::SynSent => self.enter_closed(None),
            State::SynReceived => self.stream_closed = true,
            State::Established => {
                self.stream_closed = true;
                self.state = State::FinWait1;
            }
            State::CloseWait => {
                self.stream_closed = true;
                self.state = State::LastAck;
            }
            _ => {}
        }
    }

    /// Drop the connection at once, sending RST when it was synchronized
    /// (RFC 9293 section 3.10.5, ABORT).
    pub fn abort(&mut self) {
        if self.is_synchronized() {
            self.queue_reset_of_our_own();
        }
        self.enter_closed(None);
    }

    /// Copy received in-order data into `buf`; returns the byte count.
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.rcv_buf.len());
        for (dst, src) in buf.iter_mut().zip(self.rcv_buf.drain(..n)) {
            *dst = src;
        }
        self.maybe_update_window();
        n
    }

    fn is_synchronized(&self) -> bool {
        !matches!(self.state, State::Closed | State::Listen | State::SynSent)
    }

    /// Position of our FIN, once the stream is closed.
    fn fin_pos(&self) -> Option<u64> {
        self.stream_closed.then_some(self.stream_len + 1)
    }

    /// Position after the stream's last available byte.
    fn data_end(&self) -> u64 {
        self.stream_len + 1
    }

    fn seq_of(&self, pos: u64) -> u32 {
        self.iss.wrapping_add(pos as u32)
    }

    /// Queue an event; consecutive `Acked` events merge into the latest,
    /// and `DataReceived` is not repeated until drained.
    fn push_event(&mut self, e: Event) {
        if e == Event::DataReceived && self.events.contains(&e) {
            return;
        }
        match (e, self.events.back_mut()) {
            (Event::Acked(n), Some(Event::Acked(last))) => *last = n,
            _ => self.events.push_back(e),
        }
    }

    fn enter_closed(&mut self, reason: Option<Event>) {
        if self.state == State::Closed {
            return;
        }
        if let Some(r) = reason {
            self.push_event(r);
        }
        self.state = State::Closed;
        self.rto_deadline = None;
        self.persist_deadline = None;
        self.close_deadline = None;
        self.ack_due = false;
        self.retransmit_first = false;
        self.probe_due = false;
        self.push_event(Event::Closed);
    }

    fn enter_time_wait(&mut self, now: Duration) {
        self.state = State::TimeWait;
        self.rto_deadline = None;
        self.persist_deadline = None;
        self.close_deadline = Some(now + self.cfg.msl * 2);
    }

    fn queue_reset_of_our_own(&mut self) {
        let seg = OutSegment::reset(self.local_port, self.remote_port, self.seq_of(self.snd_max), 0, Flags::RST);
        self.replies.push(seg);
    }

    /// The receive side's next expected sequence number (for the table's
    /// TIME-WAIT reuse check).
    pub(in crate::net::tcp) fn rcv_nxt(&self) -> u32 {
        self.rcv_nxt
    }
}

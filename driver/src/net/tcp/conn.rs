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

use super::config::TcpConfig;
use super::congestion::{Congestion, DupAckOutcome, NewAckOutcome};
use super::rto::RtoEstimator;
use super::segment::OutSegment;
use super::seq;
use super::wire::{Flags, Options, TcpHeader};

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
        let seg = OutSegment {
            src_port: self.local_port,
            dst_port: self.remote_port,
            seq: self.seq_of(self.snd_max),
            ack: 0,
            flags: Flags::RST,
            window: 0,
            options: Options::default(),
            payload: 0..0,
            tso: false,
            mss: 0,
            retransmission: false,
        };
        self.replies.push(seg);
    }

    // ---- receive window ----------------------------------------------

    fn free_space(&self) -> u64 {
        u64::from(self.cfg.recv_buffer).saturating_sub(self.rcv_buf.len() as u64)
    }

    /// The window we have promised: up to `rcv_adv`.
    fn rcv_wnd(&self) -> u32 {
        seq::diff(self.rcv_adv, self.rcv_nxt).max(0) as u32
    }

    /// The window field for an outgoing segment; moves `rcv_adv` right when
    /// the buffer has room (never left). SYNs carry an unscaled window (RFC
    /// 7323 section 2.2).
    fn window_field(&mut self, syn: bool) -> u16 {
        let shift = if syn { 0 } else { self.rcv_shift };
        let offered = (self.free_space() >> shift).min(0xffff) << shift;
        let edge = self.rcv_nxt.wrapping_add(offered as u32);
        if seq::lt(self.rcv_adv, edge) {
            self.rcv_adv = edge;
        }
        (u64::from(self.rcv_wnd()) >> shift).min(0xffff) as u16
    }

    /// After the caller read: announce the window when it opened by enough
    /// to matter (receiver-side silly window avoidance, RFC 9293 section
    /// 3.8.6.2.2: min(buffer/2, MSS)).
    fn maybe_update_window(&mut self) {
        if !matches!(self.state, State::Established | State::FinWait1 | State::FinWait2) {
            return;
        }
        let could = self.free_space().min(0xffff << self.rcv_shift);
        let threshold = (u64::from(self.cfg.recv_buffer) / 2).min(u64::from(self.cfg.mss));
        if could >= u64::from(self.rcv_wnd()) + threshold {
            self.ack_due = true;
        }
    }

    // ---- input ---------------------------------------------------------

    /// A segment for this connection arrived (header parsed, checksum
    /// verified by the caller). Replies wait for [`poll`](Conn::poll).
    pub fn on_segment(&mut self, now: Duration, h: &TcpHeader, payload: &[u8]) {
        match self.state {
            State::Closed => {
                self.replies.extend(OutSegment::reset_for(h, payload.len()));
            }
            State::Listen => self.on_segment_listen(h, payload),
            State::SynSent => self.on_segment_syn_sent(now, h),
            _ => self.on_segment_synchronized(now, h, payload),
        }
    }

    /// RFC 9293 section 3.10.7.2.
    fn on_segment_listen(&mut self, h: &TcpHeader, payload: &[u8]) {
        if h.flags.contains(Flags::RST) {
            return;
        }
        if h.flags.contains(Flags::ACK) {
            self.replies.extend(OutSegment::reset_for(h, payload.len()));
            return;
        }
        if !h.flags.contains(Flags::SYN) {
            return;
        }
        self.remote_port = h.src_port;
        // Data on a SYN is rare and not needed here: it is dropped and the
        // peer sends it again once we ACK only the SYN.
        self.take_peer_syn(h);
        self.offered_ws = h.options.window_scale.is_some();
        if self.offered_ws {
            self.snd_shift = h.options.window_shift().unwrap_or(0);
            self.rcv_shift = self.cfg.window_shift();
        }
        self.state = State::SynReceived;
    }

    /// Record what the peer's SYN tells: its ISN, MSS and window.
    fn take_peer_syn(&mut self, h: &TcpHeader) {
        self.irs = Some(h.seq);
        self.rcv_nxt = h.seq.wrapping_add(1);
        self.rcv_adv = self.rcv_nxt;
        let peer_mss = h.options.mss.unwrap_or(DEFAULT_PEER_MSS).max(64);
        self.snd_mss = u32::from(peer_mss.min(self.cfg.mss));
        self.cc = Congestion::new(self.snd_mss);
        // The window in a SYN is never scaled.
        self.snd_wnd = u64::from(h.window);
        self.snd_wl1 = h.seq;
        self.snd_wl2 = 0;
    }

    /// RFC 9293 section 3.10.7.3.
    fn on_segment_syn_sent(&mut self, now: Duration, h: &TcpHeader) {
        let ack_ok = h.flags.contains(Flags::ACK).then(|| h.ack == self.seq_of(self.snd_max.max(1)));
        if ack_ok == Some(false) {
            if !h.flags.contains(Flags::RST) {
                self.replies.extend(OutSegment::reset_for(h, 0));
            }
            return;
        }
        if h.flags.contains(Flags::RST) {
            if ack_ok == Some(true) {
                self.enter_closed(Some(Event::Reset)); // connection refused
            }
            return;
        }
        if !h.flags.contains(Flags::SYN) {
            return;
        }
        self.take_peer_syn(h);
        match h.options.window_shift() {
            Some(shift) => {
                self.snd_shift = shift;
                self.rcv_shift = self.cfg.window_shift();
            }
            None => (self.snd_shift, self.rcv_shift) = (0, 0),
        }
        self.ack_due = true;
        if ack_ok == Some(true) {
            self.sample_rtt(now, 1);
            self.snd_una = 1;
            self.snd_nxt = self.snd_nxt.max(1);
            self.rto_deadline = None;
            self.retries = 0;
            self.enter_established();
        } else {
            // Simultaneous open: send SYN-ACK (our SYN again, now with ACK).
            self.state = State::SynReceived;
            self.snd_nxt = 0;
        }
    }

    fn enter_established(&mut self) {
        self.state = State::Established;
        self.push_event(Event::Established);
        if self.stream_closed {
            self.state = State::FinWait1;
        }
    }

    /// The acceptability test of RFC 9293 section 3.10.7.4, first check.
    fn acceptable(&self, seq_no: u32, seg_len: u32) -> bool {
        let wnd = self.rcv_wnd();
        let rn = self.rcv_nxt;
        let in_window = |s: u32| seq::le(rn, s) && seq::lt(s, rn.wrapping_add(wnd));
        match (seg_len, wnd) {
            (0, 0) => seq_no == rn,
            (0, _) => in_window(seq_no),
            (_, 0) => false,
            _ => in_window(seq_no) || in_window(seq_no.wrapping_add(seg_len - 1)),
        }
    }

    /// RFC 9293 section 3.10.7.4, for every synchronized state.
    fn on_segment_synchronized(&mut self, now: Duration, h: &TcpHeader, payload: &[u8]) {
        let syn = h.flags.contains(Flags::SYN);
        let fin = h.flags.contains(Flags::FIN);
        let rst = h.flags.contains(Flags::RST);
        if self.state == State::SynReceived && syn && !h.flags.contains(Flags::ACK) && Some(h.seq) == self.irs {
            // The peer's SYN again: our SYN-ACK was lost. Resend it now
            // rather than at the next timeout.
            self.snd_nxt = 0;
            return;
        }
        let seg_len = payload.len() as u32 + u32::from(syn) + u32::from(fin);
        let (mut payload, mut fin) = (payload, fin);
        if !self.acceptable(h.seq, seg_len) {
            // A zero window still takes ACKs (and RSTs) at RCV.NXT (3.10.7.4).
            if !(self.rcv_wnd() == 0 && h.seq == self.rcv_nxt) {
                if self.state == State::TimeWait && fin {
                    // A retransmitted FIN: our ACK was lost; ACK again and
                    // restart the 2 MSL wait.
                    self.close_deadline = Some(now + self.cfg.msl * 2);
                }
                if !rst {
                    self.ack_due = true;
                }
                return;
            }
            (payload, fin) = (&[], false);
        }
        if rst && self.state == State::TimeWait {
            // RFC 1337: a RST must not cut TIME-WAIT short (a late duplicate
            // answered by a closed peer is the usual source), or the
            // quiet time it guarantees is lost.
            return;
        }
        if rst {
            // RFC 5961 section 3.2: only an exact match resets; a RST
            // elsewhere in the window gets a challenge ACK, so a blind
            // attacker must guess RCV.NXT exactly.
            if h.seq == self.rcv_nxt {
                self.enter_closed(Some(Event::Reset));
            } else {
                self.ack_due = true;
            }
            return;
        }
        if syn {
            // RFC 5961 section 4.2: a SYN in a synchronized state gets a
            // challenge ACK instead of a reset.
            self.ack_due = true;
            return;
        }
        if !h.flags.contains(Flags::ACK) {
            return;
        }
        if self.state == State::SynReceived {
            if h.ack != self.seq_of(1) {
                self.replies.extend(OutSegment::reset_for(h, payload.len()));
                return;
            }
            self.rto_deadline = None;
            self.retries = 0;
            self.enter_established();
        }
        if !self.process_ack(now, h, payload.is_empty() && !fin) {
            return;
        }
        self.advance_close_states_on_ack(now);
        if self.state == State::Closed {
            return;
        }
        let fin_in_order = self.take_data(h.seq, payload);
        if fin && fin_in_order {
            self.take_fin(now);
        }
    }

    /// ACK processing (RFC 9293 section 3.10.7.4, fifth check, with RFC
    /// 5681/6582 congestion control). Returns false when the segment must
    /// be dropped.
    fn process_ack(&mut self, now: Duration, h: &TcpHeader, no_data: bool) -> bool {
        let Some(ack) = seq::unwrap(h.ack, self.iss, self.snd_una) else {
            return true; // far in the past: ignore the ACK, keep the data
        };
        if ack > self.snd_max {
            // It acknowledges something not yet sent: ACK and drop.
            self.ack_due = true;
            return false;
        }
        if ack < self.snd_una {
            return true; // an old duplicate ACK
        }
        let window = u64::from(h.window) << self.snd_shift;
        let is_dup = ack == self.snd_una && no_data && window == self.snd_wnd && self.snd_max > self.snd_una;
        self.update_window(h.seq, ack, window);
        if ack > self.snd_una {
            self.on_new_ack(now, ack);
        } else if is_dup {
            self.on_dup_ack();
        }
        true
    }

    /// RFC 9293's SND.WL1/WL2 rule: only a newer segment updates the window.
    fn update_window(&mut self, seq_no: u32, ack: u64, window: u64) {
        if seq::lt(self.snd_wl1, seq_no) || (self.snd_wl1 == seq_no && self.snd_wl2 <= ack) {
            self.snd_wnd = window;
            self.snd_wl1 = seq_no;
            self.snd_wl2 = ack;
        }
    }

    fn sample_rtt(&mut self, now: Duration, acked_to: u64) {
        if let Some((end, sent)) = self.timing {
            if acked_to >= end {
                self.rto.sample(now.saturating_sub(sent));
                self.stats.rtt_samples += 1;
                self.timing = None;
            }
        }
    }

    fn on_new_ack(&mut self, now: Duration, ack: u64) {
        let offset_before = self.acked_offset();
        // The SYN's position is not data: acknowledging it grows no window.
        let acked = ack - self.snd_una.max(1).min(ack);
        self.sample_rtt(now, ack);
        self.snd_una = ack;
        self.snd_nxt = self.snd_nxt.max(ack);
        self.retries = 0;
        let flight = self.snd_nxt - self.snd_una;
        let outcome = if acked > 0 { self.cc.on_new_ack(acked, ack, flight) } else { NewAckOutcome::Advanced };
        let mut restart_timer = true;
        match outcome {
            NewAckOutcome::Advanced | NewAckOutcome::RecoveryDone => {}
            NewAckOutcome::PartialAck { first } => {
                self.retransmit_first = true;
                self.stats.partial_ack_retransmits += 1;
                // RFC 6582 3.2 step 5: only the first partial ACK restarts
                // the timer ("impatient" variant), so a long run of losses
                // falls back to a timeout.
                restart_timer = first;
            }
        }
        if restart_timer {
            // RFC 6298 section 5.3: restart the timer on new data
            // acknowledged, stop it when nothing is outstanding.
            self.rto_deadline = (self.snd_max > self.snd_una).then(|| now + self.rto.rto());
        }
        if self.acked_offset() > offset_before {
            self.push_event(Event::Acked(self.acked_offset()));
        }
    }

    fn on_dup_ack(&mut self) {
        self.stats.dup_acks_received += 1;
        let flight = self.snd_nxt - self.snd_una;
        if self.cc.on_dup_ack(self.snd_una, flight, self.snd_max) == DupAckOutcome::FastRetransmit {
            self.stats.fast_retransmits += 1;
            self.retransmit_first = true;
        }
    }

    /// State changes when our FIN is acknowledged.
    fn advance_close_states_on_ack(&mut self, now: Duration) {
        let fin_acked = self.fin_pos().is_some_and(|f| self.snd_una > f);
        if !fin_acked {
            return;
        }
        match self.state {
            State::FinWait1 => {
                self.state = State::FinWait2;
                self.close_deadline = Some(now + self.cfg.fin_wait2_timeout);
            }
            State::Closing => self.enter_time_wait(now),
            State::LastAck => self.enter_closed(None),
            _ => {}
        }
    }

    /// Take in-order data (RFC 9293 3.10.7.4, seventh check). Out-of-order
    /// data is dropped and answered with a duplicate ACK. Returns whether
    /// everything up to the segment's end was taken, so that a FIN there is
    /// in order.
    fn take_data(&mut self, seq_no: u32, payload: &[u8]) -> bool {
        if !matches!(self.state, State::Established | State::FinWait1 | State::FinWait2) {
            // After the peer's FIN nothing more is data (and we ignore it).
            return payload.is_empty() && seq_no == self.rcv_nxt;
        }
        let ahead = seq::diff(seq_no, self.rcv_nxt);
        if ahead > 0 {
            self.ack_due = true; // a hole before it: duplicate ACK
            return false;
        }
        let skip = (-ahead) as usize;
        if skip > payload.len() {
            return false; // wholly old
        }
        let new = &payload[skip..];
        let take = new.len().min(self.rcv_wnd() as usize);
        if take > 0 {
            self.rcv_buf.extend(&new[..take]);
            self.rcv_nxt = self.rcv_nxt.wrapping_add(take as u32);
            self.push_event(Event::DataReceived);
        }
        if !payload.is_empty() {
            self.ack_due = true;
        }
        take == new.len()
    }

    /// The peer's FIN, in order (RFC 9293 3.10.7.4, eighth check).
    fn take_fin(&mut self, now: Duration) {
        self.rcv_nxt = self.rcv_nxt.wrapping_add(1);
        self.ack_due = true;
        if !self.fin_received {
            self.fin_received = true;
            self.push_event(Event::PeerFinished);
        }
        match self.state {
            State::SynReceived | State::Established => self.state = State::CloseWait,
            State::FinWait1 => self.state = State::Closing,
            State::FinWait2 => self.enter_time_wait(now),
            State::TimeWait => self.close_deadline = Some(now + self.cfg.msl * 2),
            _ => {}
        }
    }

    // ---- timers --------------------------------------------------------

    fn run_timers(&mut self, now: Duration) {
        if self.close_deadline.is_some_and(|d| now >= d) {
            self.close_deadline = None;
            let reason = (self.state != State::TimeWait).then_some(Event::TimedOut);
            self.enter_closed(reason);
            return;
        }
        if self.rto_deadline.is_some_and(|d| now >= d) {
            self.on_retransmission_timeout();
        }
        if self.persist_deadline.is_some_and(|d| now >= d) {
            self.probe_due = true;
            self.persist_backoffs += 1;
            self.persist_deadline = Some(now + self.persist_interval());
        }
    }

    /// RFC 6298 section 5.4-5.6 and RFC 5681 section 3.1: go back to
    /// SND.UNA with a one-segment window and a doubled timeout.
    fn on_retransmission_timeout(&mut self) {
        self.rto_deadline = None;
        self.retries += 1;
        let limit = match self.state {
            State::SynSent | State::SynReceived => self.cfg.syn_retries,
            _ => self.cfg.max_retransmissions,
        };
        if self.retries > limit {
            if self.is_synchronized() {
                self.queue_reset_of_our_own();
            }
            self.enter_closed(Some(Event::TimedOut));
            return;
        }
        self.stats.timeouts += 1;
        let flight = self.snd_nxt - self.snd_una;
        self.cc.on_timeout(flight, self.snd_max, self.retries == 1);
        self.snd_nxt = self.snd_una;
        self.timing = None; // Karn: nothing sent before counts now
        self.retransmit_first = false;
        self.rto.back_off();
    }

    /// The persist timer's period: the RTO, doubled per unanswered probe,
    /// up to the RTO maximum (RFC 9293 section 3.8.6.1).
    fn persist_interval(&self) -> Duration {
        let factor = 1u32 << self.persist_backoffs.min(16);
        self.rto.rto().saturating_mul(factor).min(self.cfg.rto_max)
    }

    // ---- output --------------------------------------------------------

    /// Run due timers and append what should be transmitted now to `out`.
    pub fn poll(&mut self, now: Duration, out: &mut Vec<OutSegment>) {
        self.run_timers(now);
        out.append(&mut self.replies);
        match self.state {
            State::Closed | State::Listen => return,
            State::SynSent | State::SynReceived if self.snd_nxt == 0 => self.emit(now, 0, 1, out),
            _ => {}
        }
        if self.retransmit_first {
            self.retransmit_first = false;
            self.emit_first_unacked(now, out);
        }
        if self.can_send_stream() {
            self.send_new(now, out);
            self.manage_persist(now, out);
        }
        if self.ack_due {
            self.emit_ack(out);
        }
    }

    fn can_send_stream(&self) -> bool {
        matches!(self.state, State::Established | State::CloseWait | State::FinWait1 | State::Closing | State::LastAck)
    }

    /// FIN may go once every stream byte before it was sent.
    fn fin_ready(&self) -> bool {
        self.fin_pos().is_some() && matches!(self.state, State::FinWait1 | State::Closing | State::LastAck)
    }

    /// The largest payload of one send: the TSO limit in whole segments, or
    /// one segment without TSO.
    fn send_limit(&self) -> u64 {
        let mss = u64::from(self.snd_mss);
        (u64::from(self.cfg.tso_max_payload) / mss * mss).max(mss)
    }

    /// Send what the windows allow: min(cwnd, peer window) less what is in
    /// flight (RFC 5681 section 2), in MSS multiples up to the TSO limit.
    fn send_new(&mut self, now: Duration, out: &mut Vec<OutSegment>) {
        let mss = u64::from(self.snd_mss);
        loop {
            let data_end = self.data_end();
            let flight = self.snd_nxt - self.snd_una;
            let usable = self.cc.send_window().min(self.snd_wnd).saturating_sub(flight);
            if self.snd_nxt < data_end {
                let left = data_end - self.snd_nxt;
                let max_len = usable.min(left).min(self.send_limit());
                // Sender-side silly window avoidance (RFC 9293 3.8.6.2.1):
                // a runt only when it ends the data or nothing is in flight.
                if max_len == 0 || (max_len < mss && max_len < left && flight > 0) {
                    break;
                }
                let len = if max_len == left || max_len < mss { max_len } else { max_len / mss * mss };
                let mut end = self.snd_nxt + len;
                if end == data_end && self.fin_ready() {
                    end += 1; // FIN rides on the last segment
                }
                self.emit(now, self.snd_nxt, end, out);
            } else if self.snd_nxt == data_end && self.fin_ready() {
                // A FIN alone is sent whatever the window: it carries no data
                // (Linux does the same); a lost one is retransmitted.
                self.emit(now, data_end, data_end + 1, out);
                break;
            } else {
                break;
            }
        }
    }

    /// Zero window with data waiting and nothing in flight: the persist timer
    /// runs, and each expiry sends one byte beyond the window (RFC 9293
    /// section 3.8.6.1) so that a lost window update cannot stall us.
    fn manage_persist(&mut self, now: Duration, out: &mut Vec<OutSegment>) {
        let stalled = self.snd_wnd == 0 && self.snd_nxt < self.data_end() && self.snd_nxt == self.snd_una;
        if !stalled {
            self.persist_deadline = None;
            self.persist_backoffs = 0;
            self.probe_due = false;
            return;
        }
        if self.persist_deadline.is_none() {
            self.persist_deadline = Some(now + self.persist_interval());
        }
        if self.probe_due {
            self.probe_due = false;
            self.stats.window_probes += 1;
            // The probe does not advance SND.NXT: if the peer takes the byte
            // its ACK moves SND.UNA past it.
            let at = self.snd_nxt;
            let probe = self.segment(at, at + 1);
            self.count_sent(now, &probe, at, at + 1, false);
            self.snd_max = self.snd_max.max(at + 1);
            out.push(probe);
        }
    }

    /// Retransmit one segment from SND.UNA (fast retransmit, partial ACK).
    fn emit_first_unacked(&mut self, now: Duration, out: &mut Vec<OutSegment>) {
        if self.snd_max <= self.snd_una {
            return;
        }
        let end = (self.snd_una + u64::from(self.snd_mss)).min(self.snd_max);
        // A FIN just past the data rides along.
        let end = if self.fin_pos() == Some(end) && self.snd_max > end { end + 1 } else { end };
        self.emit(now, self.snd_una, end, out);
    }

    /// Send positions `start..end` (SYN, stream bytes and/or FIN).
    fn emit(&mut self, now: Duration, start: u64, end: u64, out: &mut Vec<OutSegment>) {
        debug_assert!(start >= self.snd_una, "asked to send position {start} below SND.UNA {}", self.snd_una);
        let seg = self.segment(start, end);
        debug_assert!(seg.payload.end <= self.stream_len);
        self.count_sent(now, &seg, start, end, true);
        self.snd_nxt = self.snd_nxt.max(end);
        self.snd_max = self.snd_max.max(end);
        if self.rto_deadline.is_none() {
            self.rto_deadline = Some(now + self.rto.rto());
        }
        out.push(seg);
    }

    /// Statistics and Karn's rule for a segment leaving; `time_it` is false
    /// for probes, whose answer may wait on the peer's reader.
    fn count_sent(&mut self, now: Duration, seg: &OutSegment, start: u64, end: u64, time_it: bool) {
        self.stats.segments_sent += 1;
        self.stats.payload_bytes_sent += seg.payload_len();
        if start < self.snd_max {
            self.stats.retransmitted_segments += 1;
            let old_end = self.snd_max.saturating_sub(1).min(seg.payload.end);
            self.stats.retransmitted_bytes += old_end.saturating_sub(seg.payload.start);
            if self.timing.is_some_and(|(t_end, _)| t_end > start) {
                self.timing = None; // Karn's rule
            }
        } else if time_it && self.timing.is_none() {
            self.timing = Some((end, now));
        }
        self.ack_due = false;
    }

    /// Build the segment for positions `start..end`.
    fn segment(&mut self, start: u64, end: u64) -> OutSegment {
        let syn = start == 0;
        let data_from = start.max(1).min(self.data_end());
        let data_to = end.min(self.data_end()).max(data_from);
        let payload = (data_from - 1)..(data_to - 1);
        let fin = self.fin_pos().is_some_and(|f| start <= f && f < end);
        let mut flags = Flags::empty();
        let mut options = Options::default();
        if syn {
            flags |= Flags::SYN;
            options.mss = Some(self.cfg.mss);
            if self.offered_ws {
                options.window_scale = Some(self.cfg.window_shift());
            }
        }
        if self.irs.is_some() {
            flags |= Flags::ACK;
        }
        if fin {
            flags |= Flags::FIN;
        }
        if payload.end > payload.start && payload.end == self.stream_len {
            flags |= Flags::PSH;
        }
        let tso = payload.end - payload.start > u64::from(self.snd_mss);
        OutSegment {
            src_port: self.local_port,
            dst_port: self.remote_port,
            seq: self.seq_of(start),
            ack: self.rcv_nxt,
            flags,
            window: self.window_field(syn),
            options,
            payload,
            tso,
            mss: self.snd_mss as u16,
            retransmission: start < self.snd_max,
        }
    }

    fn emit_ack(&mut self, out: &mut Vec<OutSegment>) {
        self.ack_due = false;
        let at = self.snd_nxt.max(1).min(self.data_end()) - 1;
        let window = self.window_field(false);
        out.push(OutSegment {
            src_port: self.local_port,
            dst_port: self.remote_port,
            seq: self.seq_of(self.snd_nxt),
            ack: self.rcv_nxt,
            flags: Flags::ACK,
            window,
            options: Options::default(),
            payload: at..at,
            tso: false,
            mss: self.snd_mss as u16,
            retransmission: false,
        });
    }

    /// The receive side's next expected sequence number (for the table's
    /// TIME-WAIT reuse check).
    pub(super) fn rcv_nxt(&self) -> u32 {
        self.rcv_nxt
    }
}

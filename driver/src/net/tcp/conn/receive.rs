//! The receive side of a connection: segments in (RFC 9293 section
//! 3.10.7), ACK processing with congestion control, and the window we
//! advertise.

use std::time::Duration;

use super::super::congestion::{Congestion, DupAckOutcome, NewAckOutcome};
use super::super::segment::OutSegment;
use super::super::seq;
use super::super::wire::{Flags, TcpHeader};
use super::{Conn, Event, State, DEFAULT_PEER_MSS};

impl Conn {
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
    pub(super) fn window_field(&mut self, syn: bool) -> u16 {
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
    pub(super) fn maybe_update_window(&mut self) {
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
}

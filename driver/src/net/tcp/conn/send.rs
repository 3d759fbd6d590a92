//! The send side of a connection: timers, and what [`Conn::poll`] hands
//! the caller to transmit.

use std::time::Duration;

use super::super::segment::OutSegment;
use super::super::wire::{Flags, Options};
use super::{Conn, Event, State};

impl Conn {
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
}

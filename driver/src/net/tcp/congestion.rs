//! Congestion control: slow start and congestion avoidance (RFC 5681) with
//! NewReno fast recovery (RFC 6582). Positions are the send side's 64-bit
//! sequence positions; the connection decides what to (re)send.

/// What a duplicate ACK asks the sender to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DupAckOutcome {
    /// Nothing beyond counting it.
    Counted,
    /// Third duplicate: retransmit the first unacknowledged segment now.
    FastRetransmit,
}

/// What an ACK of new data asks the sender to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewAckOutcome {
    /// Ordinary progress.
    Advanced,
    /// A partial ACK in recovery (RFC 6582 section 3.2 step 5): retransmit the
    /// first unacknowledged segment; `first` says whether it is the first
    /// partial ACK of this recovery, which restarts the retransmission timer.
    PartialAck {
        /// The first partial ACK of this recovery episode.
        first: bool,
    },
    /// The ACK covered `recover`: recovery is over.
    RecoveryDone,
}

/// Congestion state of one connection, in bytes.
#[derive(Debug, Clone)]
pub struct Congestion {
    mss: u64,
    cwnd: u64,
    ssthresh: u64,
    dup_acks: u32,
    /// Highest position sent when recovery (or the last timeout) began,
    /// exclusive (RFC 6582's `recover`, plus one).
    recover: u64,
    in_recovery: bool,
    partial_acks: u32,
    /// SND.UNA before the ACK that last advanced it (RFC 6582's
    /// prev_highest_ack), and after (highest_ack).
    prev_highest_ack: u64,
    highest_ack: u64,
}

impl Congestion {
    /// Initial window of RFC 5681 section 3.1: 4 segments up to 1095 bytes,
    /// 3 up to 2190, otherwise 2 (that is min(4*MSS, max(2*MSS, 4380))).
    pub fn new(mss: u32) -> Congestion {
        let mss = u64::from(mss.max(1));
        Congestion {
            mss,
            cwnd: (4 * mss).min((2 * mss).max(4380)),
            ssthresh: u64::MAX,
            dup_acks: 0,
            recover: 0,
            in_recovery: false,
            partial_acks: 0,
            prev_highest_ack: 0,
            highest_ack: 0,
        }
    }

    /// Congestion window in bytes.
    pub fn cwnd(&self) -> u64 {
        self.cwnd
    }

    /// Slow-start threshold in bytes.
    pub fn ssthresh(&self) -> u64 {
        self.ssthresh
    }

    /// In NewReno fast recovery.
    pub fn in_recovery(&self) -> bool {
        self.in_recovery
    }

    /// Duplicate ACKs counted in a row.
    pub fn dup_acks(&self) -> u32 {
        self.dup_acks
    }

    /// The window the sender may fill: cwnd, plus one segment for each of
    /// the first two duplicate ACKs (Limited Transmit, RFC 3042, which RFC
    /// 5681 section 3.2 recommends): new data sent then makes the receiver
    /// send the further duplicates that fast retransmit needs, which a small
    /// window would otherwise never produce.
    pub fn send_window(&self) -> u64 {
        let extra = if self.in_recovery { 0 } else { u64::from(self.dup_acks.min(2)) * self.mss };
        self.cwnd + extra
    }

    /// RFC 5681 equation 4: half the flight, at least two segments.
    fn halve(&mut self, flight: u64) {
        self.ssthresh = (flight / 2).max(2 * self.mss);
    }

    /// An ACK that moved SND.UNA by `acked` bytes to `una`; `flight` is what
    /// is still outstanding after it.
    pub fn on_new_ack(&mut self, acked: u64, una: u64, flight: u64) -> NewAckOutcome {
        self.dup_acks = 0;
        self.prev_highest_ack = self.highest_ack.max(una - acked);
        self.highest_ack = una;
        if self.in_recovery {
            if una >= self.recover {
                // Full ACK (RFC 6582 3.2 step 3): deflate to what is in flight
                // plus one segment, at most ssthresh.
                self.cwnd = self.ssthresh.min(flight.max(self.mss) + self.mss);
                self.in_recovery = false;
                return NewAckOutcome::RecoveryDone;
            }
            // Partial ACK: deflate by what was acked, add back one segment
            // when at least one segment's worth was acked.
            self.cwnd = self.cwnd.saturating_sub(acked);
            if acked >= self.mss {
                self.cwnd += self.mss;
            }
            self.cwnd = self.cwnd.max(self.mss);
            self.partial_acks += 1;
            return NewAckOutcome::PartialAck { first: self.partial_acks == 1 };
        }
        if self.cwnd < self.ssthresh {
            // Slow start, counting bytes (RFC 3465 with L = 1 SMSS, as RFC
            // 5681 section 3.1 allows).
            self.cwnd += acked.min(self.mss);
        } else {
            // Congestion avoidance: about one segment per round trip
            // (RFC 5681 equation 3).
            self.cwnd += (self.mss * self.mss / self.cwnd).max(1);
        }
        NewAckOutcome::Advanced
    }

    /// A duplicate ACK (RFC 5681 section 2's definition, checked by the
    /// caller) for `una` while `flight` bytes are outstanding and `sent_max`
    /// is the highest position ever sent (exclusive).
    pub fn on_dup_ack(&mut self, una: u64, flight: u64, sent_max: u64) -> DupAckOutcome {
        self.dup_acks += 1;
        if self.in_recovery {
            // Each further duplicate means a segment left the network.
            self.cwnd += self.mss;
            return DupAckOutcome::Counted;
        }
        // RFC 6582 section 3.2 step 2 (and 4.1): only when the ACK covers
        // more than `recover`, so that the duplicates of one loss episode,
        // or of data sent before a timeout, do not start a second recovery.
        // Section 4.2's ACK heuristic admits duplicates below `recover` when
        // the last ACK advanced by at most four segments: duplicates of
        // segments retransmitted after a timeout come after a big jump.
        let heuristic = self.cwnd > self.mss && una - self.prev_highest_ack.min(una) <= 4 * self.mss;
        if self.dup_acks == 3 && (una >= self.recover || heuristic) {
            self.halve(flight);
            self.cwnd = self.ssthresh + 3 * self.mss;
            self.recover = sent_max;
            self.in_recovery = true;
            self.partial_acks = 0;
            return DupAckOutcome::FastRetransmit;
        }
        DupAckOutcome::Counted
    }

    /// The retransmission timer expired (RFC 5681 equation 4 and the loss
    /// window of one segment). `first` is false when the retransmission
    /// itself was lost: then ssthresh stays.
    pub fn on_timeout(&mut self, flight: u64, sent_max: u64, first: bool) {
        if first {
            self.halve(flight);
        }
        self.cwnd = self.mss;
        self.dup_acks = 0;
        self.in_recovery = false;
        self.recover = sent_max;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: u64 = 1460;

    #[test]
    fn initial_window_follows_rfc5681() {
        assert_eq!(Congestion::new(1460).cwnd(), 3 * MSS);
        assert_eq!(Congestion::new(536).cwnd(), 4 * 536);
        assert_eq!(Congestion::new(8960).cwnd(), 2 * 8960);
    }

    #[test]
    fn slow_start_grows_one_segment_per_ack_then_avoidance_one_per_window() {
        let mut c = Congestion::new(1460);
        c.on_new_ack(MSS, MSS, 0);
        assert_eq!(c.cwnd(), 4 * MSS);
        c.on_new_ack(10 * MSS, 11 * MSS, 0);
        assert_eq!(c.cwnd(), 5 * MSS, "at most one MSS per ACK in slow start");
        c.ssthresh = 5 * MSS;
        c.on_new_ack(MSS, 12 * MSS, 0);
        assert_eq!(c.cwnd(), 5 * MSS + MSS / 5);
    }

    #[test]
    fn third_dup_ack_starts_recovery_with_inflated_window() {
        let mut c = Congestion::new(1460);
        c.cwnd = 20 * MSS;
        let flight = 20 * MSS;
        assert_eq!(c.on_dup_ack(1, flight, 1 + flight), DupAckOutcome::Counted);
        assert_eq!(c.on_dup_ack(1, flight, 1 + flight), DupAckOutcome::Counted);
        assert_eq!(c.on_dup_ack(1, flight, 1 + flight), DupAckOutcome::FastRetransmit);
        assert_eq!(c.ssthresh(), 10 * MSS);
        assert_eq!(c.cwnd(), 13 * MSS);
        c.on_dup_ack(1, flight, 1 + flight);
        assert_eq!(c.cwnd(), 14 * MSS, "inflated by one segment per further duplicate");
        // A partial ACK of 5 segments deflates by 5 and adds one back.
        assert_eq!(c.on_new_ack(5 * MSS, 1 + 5 * MSS, 15 * MSS), NewAckOutcome::PartialAck { first: true });
        assert_eq!(c.cwnd(), 10 * MSS);
        assert_eq!(c.on_new_ack(MSS, 1 + 6 * MSS, 14 * MSS), NewAckOutcome::PartialAck { first: false });
        // The full ACK ends recovery at min(ssthresh, flight + MSS).
        assert_eq!(c.on_new_ack(14 * MSS, 1 + flight, 0), NewAckOutcome::RecoveryDone);
        assert_eq!(c.cwnd(), 2 * MSS);
        assert!(!c.in_recovery());
    }

    #[test]
    fn limited_transmit_allows_one_segment_per_early_dup_ack() {
        let mut c = Congestion::new(1460);
        assert_eq!(c.send_window(), 3 * MSS);
        c.on_dup_ack(1, 3 * MSS, 1 + 3 * MSS);
        assert_eq!(c.send_window(), 4 * MSS);
        c.on_dup_ack(1, 3 * MSS, 1 + 3 * MSS);
        assert_eq!(c.send_window(), 5 * MSS);
        c.on_dup_ack(1, 3 * MSS, 1 + 3 * MSS);
        assert_eq!(c.send_window(), c.cwnd(), "in recovery the inflated cwnd rules");
        c.on_new_ack(3 * MSS, 1 + 3 * MSS, 0);
        assert_eq!(c.send_window(), c.cwnd());
    }

    #[test]
    fn dup_acks_below_recover_after_a_big_jump_do_not_start_another_recovery() {
        let mut c = Congestion::new(1460);
        c.on_timeout(20 * MSS, 1 + 20 * MSS, true);
        c.on_new_ack(MSS, 1 + MSS, 0); // the retransmission arrives
        c.on_new_ack(7 * MSS, 1 + 8 * MSS, 0); // and the receiver had more
        for _ in 0..5 {
            assert_eq!(c.on_dup_ack(1 + 8 * MSS, 2 * MSS, 1 + 20 * MSS), DupAckOutcome::Counted);
        }
    }

    #[test]
    fn dup_acks_below_recover_after_small_steps_are_a_new_loss() {
        // RFC 6582 section 4.2's ACK heuristic.
        let mut c = Congestion::new(1460);
        c.on_timeout(20 * MSS, 1 + 20 * MSS, true);
        c.on_new_ack(MSS, 1 + MSS, 0);
        c.on_new_ack(MSS, 1 + 2 * MSS, 0);
        c.on_dup_ack(1 + 2 * MSS, 2 * MSS, 1 + 20 * MSS);
        c.on_dup_ack(1 + 2 * MSS, 2 * MSS, 1 + 20 * MSS);
        assert_eq!(c.on_dup_ack(1 + 2 * MSS, 2 * MSS, 1 + 20 * MSS), DupAckOutcome::FastRetransmit);
    }

    #[test]
    fn timeout_sets_the_loss_window_and_halves_once() {
        let mut c = Congestion::new(1460);
        c.cwnd = 40 * MSS;
        c.on_timeout(40 * MSS, 1 + 40 * MSS, true);
        assert_eq!((c.cwnd(), c.ssthresh()), (MSS, 20 * MSS));
        c.on_timeout(MSS, 1 + 40 * MSS, false);
        assert_eq!(c.ssthresh(), 20 * MSS, "a lost retransmission keeps ssthresh");
    }
}

//! The retransmission timeout (RFC 6298): a smoothed round-trip time and its
//! variation, exponential backoff, and the bounds.

use std::time::Duration;

/// Clock granularity G of RFC 6298 section 2: the smallest variance term.
const GRANULARITY: Duration = Duration::from_millis(1);

/// RTO state of one connection.
#[derive(Debug, Clone)]
pub struct RtoEstimator {
    srtt: Option<Duration>,
    rttvar: Duration,
    /// The RTO before backoff.
    base: Duration,
    /// Doublings since the last sample (section 5.5).
    backoffs: u32,
    min: Duration,
    max: Duration,
}

impl RtoEstimator {
    /// Before any sample the RTO is `initial` (1 s in section 2.1).
    pub fn new(initial: Duration, min: Duration, max: Duration) -> RtoEstimator {
        RtoEstimator { srtt: None, rttvar: Duration::ZERO, base: initial.clamp(min, max), backoffs: 0, min, max }
    }

    /// The current timeout, backoff included, within [min, max].
    pub fn rto(&self) -> Duration {
        let factor = 1u32.checked_shl(self.backoffs.min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).clamp(self.min, self.max)
    }

    /// Smoothed round-trip time, once there is a sample.
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// Fold in a measurement (section 2.2 and 2.3, alpha 1/8, beta 1/4). A
    /// sample also ends the backoff: it came from a segment sent once
    /// (Karn's rule is the caller's job: it never samples retransmissions).
    pub fn sample(&mut self, r: Duration) {
        match self.srtt {
            None => {
                self.srtt = Some(r);
                self.rttvar = r / 2;
            }
            Some(srtt) => {
                let delta = srtt.abs_diff(r);
                self.rttvar = self.rttvar * 3 / 4 + delta / 4;
                self.srtt = Some(srtt * 7 / 8 + r / 8);
            }
        }
        let srtt = self.srtt.unwrap_or(r);
        self.base = (srtt + GRANULARITY.max(self.rttvar * 4)).clamp(self.min, self.max);
        self.backoffs = 0;
    }

    /// The timer expired: double the timeout (section 5.5), up to the max.
    pub fn back_off(&mut self) {
        if self.rto() < self.max {
            self.backoffs += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn first_sample_sets_srtt_and_half_variance() {
        let mut r = RtoEstimator::new(ms(1000), ms(10), ms(60_000));
        assert_eq!(r.rto(), ms(1000));
        r.sample(ms(100));
        assert_eq!(r.srtt(), Some(ms(100)));
        // RTO = SRTT + 4 * RTTVAR = 100 + 4 * 50.
        assert_eq!(r.rto(), ms(300));
    }

    #[test]
    fn later_samples_smooth() {
        let mut r = RtoEstimator::new(ms(1000), ms(10), ms(60_000));
        r.sample(ms(100));
        r.sample(ms(200));
        // RTTVAR = 3/4*50 + 1/4*100 = 62.5; SRTT = 7/8*100 + 1/8*200 = 112.5.
        assert_eq!(r.srtt(), Some(Duration::from_micros(112_500)));
        assert_eq!(r.rto(), Duration::from_micros(112_500 + 250_000));
    }

    #[test]
    fn the_minimum_and_maximum_hold() {
        let mut r = RtoEstimator::new(ms(1000), ms(1000), ms(60_000));
        r.sample(ms(1));
        assert_eq!(r.rto(), ms(1000), "RFC 6298 2.4: at least 1 s");
        for _ in 0..40 {
            r.back_off();
        }
        assert_eq!(r.rto(), ms(60_000), "2.5: a maximum of at least 60 s may be placed");
    }

    #[test]
    fn backoff_doubles_until_a_sample() {
        let mut r = RtoEstimator::new(ms(1000), ms(200), ms(60_000));
        r.back_off();
        assert_eq!(r.rto(), ms(2000));
        r.back_off();
        assert_eq!(r.rto(), ms(4000));
        r.sample(ms(100));
        assert_eq!(r.rto(), ms(300));
    }
}

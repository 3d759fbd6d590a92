//! Sequence-number arithmetic: 32-bit numbers compared modulo 2^32
//! (RFC 9293 section 3.4), and the widening of a wire number into a 64-bit
//! position that never wraps, which the send side keeps its books in.

/// `a < b` in sequence space: true when `b` is less than 2^31 ahead of `a`.
pub fn lt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// `a <= b` in sequence space.
pub fn le(a: u32, b: u32) -> bool {
    a == b || lt(a, b)
}

/// Signed distance from `from` to `to` (positive when `to` is ahead).
pub fn diff(to: u32, from: u32) -> i64 {
    i64::from(to.wrapping_sub(from) as i32)
}

/// The 64-bit position whose low 32 bits (offset by `base_seq`) are `seq`,
/// chosen nearest to `near` (a position known to be close, e.g. SND.UNA).
/// Returns `None` when that would be before position 0.
pub fn unwrap(seq: u32, base_seq: u32, near: u64) -> Option<u64> {
    let near_seq = base_seq.wrapping_add(near as u32);
    let d = diff(seq, near_seq);
    near.checked_add_signed(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons_wrap_around() {
        assert!(lt(0xffff_fff0, 0x10));
        assert!(!lt(0x10, 0xffff_fff0));
        assert!(le(5, 5));
        assert!(!lt(5, 5));
        assert_eq!(diff(0x10, 0xffff_fff0), 0x20);
        assert_eq!(diff(0xffff_fff0, 0x10), -0x20);
    }

    #[test]
    fn unwrap_finds_the_nearest_position_across_a_wrap() {
        let iss = 0xffff_ff00;
        // Position 0x200 is sequence number 0x100 after the wrap.
        assert_eq!(unwrap(0x100, iss, 0x1f0), Some(0x200));
        assert_eq!(unwrap(iss.wrapping_add(0x1_0000_0010u64 as u32), iss, 0x1_0000_0000), Some(0x1_0000_0010));
        assert_eq!(unwrap(iss.wrapping_sub(1), iss, 0), None, "before position 0");
    }
}

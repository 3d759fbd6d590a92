//! `Range: bytes=...` with one range (RFC 9110 §14.1.2, §14.2).
//!
//! We honour exactly one range in its three forms (`a-b`, `a-`, `-n`).
//! Several ranges, another unit, or anything that does not parse is
//! ignored and the whole file is sent: RFC 9110 §14.2 lets a server ignore
//! Range, and ignoring is what keeps a multipart/byteranges body out of a
//! zero-copy sender that sends one file span per response. An `a-b` with
//! `b < a` is an invalid range-spec (§14.1.1), which §14.2 also lets us ignore.

/// One byte range as the client wrote it, before the file length is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeSpec {
    /// `a-b`: bytes a through b inclusive (b may be past the end; it is clamped).
    FromTo { first: u64, last: u64 },
    /// `a-`: from byte a to the end.
    From { first: u64 },
    /// `-n`: the last n bytes.
    Suffix { len: u64 },
}

/// What a range means for a file of a given length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeOutcome {
    /// Send `len` bytes from `offset`: a 206 with `Content-Range: bytes offset-(offset+len-1)/total`.
    Partial { offset: u64, len: u64 },
    /// No byte of the file is selected: a 416 with `Content-Range: bytes */total`.
    Unsatisfiable,
}

/// Parse a Range header value. `None` means "ignore it and send the whole
/// file": another unit, several ranges, an invalid or malformed spec.
pub fn parse_range(value: &str) -> Option<RangeSpec> {
    let (unit, set) = value.trim().split_once('=')?;
    // Range units are case-insensitive (RFC 9110 §14.1).
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return None;
    }
    let spec = set.trim();
    if spec.contains(',') {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    match (first, last) {
        ("", "") => None,
        ("", n) => Some(RangeSpec::Suffix { len: parse_digits(n)? }),
        (a, "") => Some(RangeSpec::From { first: parse_digits(a)? }),
        (a, b) => {
            let (first, last) = (parse_digits(a)?, parse_digits(b)?);
            (first <= last).then_some(RangeSpec::FromTo { first, last })
        }
    }
}

/// Only ASCII digits: `u64::from_str` would also take a leading `+`.
/// A number too big for u64 makes the header malformed (ignored).
fn parse_digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Clamp a range to a file of `total` bytes (RFC 9110 §14.1.1-§14.1.2): a
/// first byte at or past the end, a zero-length suffix, and any range of an
/// empty file select nothing.
pub fn resolve_range(spec: RangeSpec, total: u64) -> RangeOutcome {
    if total == 0 {
        return RangeOutcome::Unsatisfiable;
    }
    let (offset, last) = match spec {
        RangeSpec::FromTo { first, last } => (first, last.min(total - 1)),
        RangeSpec::From { first } => (first, total - 1),
        RangeSpec::Suffix { len: 0 } => return RangeOutcome::Unsatisfiable,
        RangeSpec::Suffix { len } => (total.saturating_sub(len), total - 1),
    };
    if offset >= total {
        return RangeOutcome::Unsatisfiable;
    }
    RangeOutcome::Partial { offset, len: last - offset + 1 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(header: &str, total: u64) -> Option<RangeOutcome> {
        parse_range(header).map(|spec| resolve_range(spec, total))
    }

    fn partial(offset: u64, len: u64) -> Option<RangeOutcome> {
        Some(RangeOutcome::Partial { offset, len })
    }

    const UNSAT: Option<RangeOutcome> = Some(RangeOutcome::Unsatisfiable);

    #[test]
    fn the_three_forms_parse() {
        assert_eq!(parse_range("bytes=2-5"), Some(RangeSpec::FromTo { first: 2, last: 5 }));
        assert_eq!(parse_range("bytes=7-"), Some(RangeSpec::From { first: 7 }));
        assert_eq!(parse_range("bytes=-3"), Some(RangeSpec::Suffix { len: 3 }));
        assert_eq!(parse_range(" Bytes = 2-5 "), Some(RangeSpec::FromTo { first: 2, last: 5 }));
    }

    #[test]
    fn malformed_multi_or_other_units_are_ignored() {
        for header in [
            "bytes=0-1,4-5",
            "bytes=0-1, 4-5",
            "items=0-1",
            "bytes=",
            "bytes=-",
            "bytes=a-b",
            "bytes=+1-2",
            "bytes=1-+2",
            "bytes=--1",
            "bytes=1",
            "bytes 0-1",
            "bytes=99999999999999999999-",
            "bytes=0x10-",
            "",
        ] {
            assert_eq!(parse_range(header), None, "{header:?}");
        }
    }

    #[test]
    fn last_before_first_is_invalid_and_ignored() {
        assert_eq!(parse_range("bytes=5-3"), None);
    }

    #[test]
    fn first_to_last_is_clamped_to_the_end() {
        assert_eq!(outcome("bytes=0-0", 10), partial(0, 1));
        assert_eq!(outcome("bytes=2-5", 10), partial(2, 4));
        assert_eq!(outcome("bytes=9-9", 10), partial(9, 1));
        assert_eq!(outcome("bytes=5-100", 10), partial(5, 5));
        assert_eq!(outcome(&format!("bytes=0-{}", u64::MAX), 10), partial(0, 10));
    }

    #[test]
    fn open_ended() {
        assert_eq!(outcome("bytes=0-", 10), partial(0, 10));
        assert_eq!(outcome("bytes=9-", 10), partial(9, 1));
    }

    #[test]
    fn suffix_longer_than_the_file_is_the_whole_file() {
        assert_eq!(outcome("bytes=-3", 10), partial(7, 3));
        assert_eq!(outcome("bytes=-10", 10), partial(0, 10));
        assert_eq!(outcome("bytes=-11", 10), partial(0, 10));
    }

    #[test]
    fn starting_at_or_past_the_end_is_unsatisfiable() {
        assert_eq!(outcome("bytes=10-", 10), UNSAT);
        assert_eq!(outcome("bytes=10-20", 10), UNSAT);
        assert_eq!(outcome("bytes=11-11", 10), UNSAT);
    }

    #[test]
    fn zero_suffix_is_unsatisfiable() {
        assert_eq!(outcome("bytes=-0", 10), UNSAT);
    }

    #[test]
    fn any_range_of_an_empty_file_is_unsatisfiable() {
        for header in ["bytes=0-0", "bytes=0-", "bytes=-1", "bytes=-0"] {
            assert_eq!(outcome(header, 0), UNSAT, "{header}");
        }
    }

    #[test]
    fn one_byte_file() {
        assert_eq!(outcome("bytes=0-0", 1), partial(0, 1));
        assert_eq!(outcome("bytes=0-", 1), partial(0, 1));
        assert_eq!(outcome("bytes=-1", 1), partial(0, 1));
        assert_eq!(outcome("bytes=-5", 1), partial(0, 1));
        assert_eq!(outcome("bytes=0-7", 1), partial(0, 1));
        assert_eq!(outcome("bytes=1-", 1), UNSAT);
        assert_eq!(outcome("bytes=-0", 1), UNSAT);
    }
}

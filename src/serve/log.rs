//! The access log: one Common Log Format line per request, which the caller
//! hands to `log::info!`.
//!
//! `203.0.113.7 - - [26/Nov/2026:06:36:00 +0000] "GET /a HTTP/1.1" 200 5`
//! The request line is the client's text, so quotes, backslashes and bytes
//! outside printable ASCII are escaped: a client cannot forge a log line.

use std::fmt::Write;
use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// One Common Log Format line (no trailing newline). `body_bytes` is what
/// was sent after the head; 0 is written `-`, as the format has it.
pub fn common_log_line(client: IpAddr, when: SystemTime, request_line: &str, status: u16, body_bytes: u64) -> String {
    let bytes = if body_bytes == 0 { "-".to_owned() } else { body_bytes.to_string() };
    format!("{client} - - [{}] \"{}\" {status} {bytes}", clf_date(when), escape(request_line))
}

/// `dd/Mon/yyyy:hh:mm:ss +0000`, in UTC; times before 1970 print as the epoch.
fn clf_date(when: SystemTime) -> String {
    let secs = when.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    format!("{day:02}/{}/{year:04}:{h:02}:{m:02}:{s:02} +0000", MONTHS[month as usize - 1])
}

/// Days since 1970-01-01 to (year, month 1-12, day 1-31) in the proleptic
/// Gregorian calendar: count 400-year eras from 0000-03-01, so the leap day
/// falls at the end of each shifted year.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

fn escape(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    for b in line.bytes() {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn a_line_in_common_log_format() {
        let line = common_log_line("203.0.113.7".parse().unwrap(), at(1_795_674_960), "GET /a HTTP/1.1", 200, 5);
        assert_eq!(line, "203.0.113.7 - - [26/Nov/2026:06:36:00 +0000] \"GET /a HTTP/1.1\" 200 5");
    }

    #[test]
    fn no_body_is_a_dash_and_ipv6_prints_plainly() {
        let line = common_log_line("::1".parse().unwrap(), at(0), "HEAD / HTTP/1.0", 404, 0);
        assert_eq!(line, "::1 - - [01/Jan/1970:00:00:00 +0000] \"HEAD / HTTP/1.0\" 404 -");
    }

    #[test]
    fn dates_across_leap_years_and_century_rules() {
        // Checked against `date -u -d @N`.
        assert_eq!(clf_date(at(951_782_400)), "29/Feb/2000:00:00:00 +0000");
        // 2100 is not a leap year: February ends on the 28th.
        assert_eq!(clf_date(at(4_107_542_399)), "28/Feb/2100:23:59:59 +0000");
        assert_eq!(clf_date(at(4_107_542_400)), "01/Mar/2100:00:00:00 +0000");
        assert_eq!(clf_date(at(4_133_980_799)), "31/Dec/2100:23:59:59 +0000");
        assert_eq!(clf_date(at(1_709_164_800)), "29/Feb/2024:00:00:00 +0000");
        assert_eq!(clf_date(at(1_709_251_199)), "29/Feb/2024:23:59:59 +0000");
        assert_eq!(clf_date(at(1_709_251_200)), "01/Mar/2024:00:00:00 +0000");
    }

    #[test]
    fn client_text_cannot_break_the_line() {
        let line = common_log_line("10.0.0.1".parse().unwrap(), at(0), "GET /\"x\\\n\u{1b}é HTTP/1.1", 400, 12);
        assert!(line.contains(r#""GET /\"x\\\x0a\x1b\xc3\xa9 HTTP/1.1""#), "{line}");
        assert!(!line.contains('\n'));
    }
}

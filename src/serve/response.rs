//! Turning a decision into what to send: the head bytes, and the span of
//! the file that follows them, which the caller sends zero-copy.

use std::fs::File;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use super::content_type::content_type_for;
use super::path::ResolvedFile;
use super::status::Status;

/// Part of a file to send after the head, straight from the page cache.
#[derive(Debug)]
pub struct FileRange {
    /// The canonical path of the file (under the root).
    pub path: PathBuf,
    /// The file, already open: send from this, not from a reopened path.
    pub file: File,
    pub offset: u64,
    /// Bytes to send; never 0 (an empty body has no `FileRange`).
    pub len: u64,
}

/// Everything the caller needs to answer one request.
#[derive(Debug)]
pub struct Plan {
    pub status: Status,
    /// Send these first: status line, headers, blank line and, for an error
    /// to a GET, its short text body.
    pub inline: Vec<u8>,
    /// Then this part of a file (200/206 to a GET of a non-empty file).
    pub file: Option<FileRange>,
    /// Close the connection once this response is sent (and drop whatever
    /// else the client sent).
    pub close: bool,
    /// Body bytes this response sends (text body or file span; 0 for HEAD),
    /// for the access log.
    pub body_len: u64,
}

/// What the `Connection` header of a response says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persistence {
    /// Keep the connection (HTTP/1.1 default): no header needed.
    KeepAlive,
    /// Keep the connection for an HTTP/1.0 client that asked: `Connection: keep-alive`.
    KeepAliveAnnounced,
    /// `Connection: close`, then close.
    Close,
}

/// Whether the client asked for the head only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyWanted {
    Get,
    HeadOnly,
}

/// Which part of the file a successful response sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    Whole,
    Part { offset: u64, len: u64 },
}

/// Last second `httpdate` can format (9999-12-31T23:59:59Z).
const LAST_HTTP_DATE_SECS: u64 = 253_402_300_799;

/// An IMF-fixdate, or `None` for a time `httpdate` would panic on: before
/// 1970 or after 9999. File times come from the filesystem and can be
/// anything (`touch -d 1960-01-01`); the header is then left out.
fn http_date(when: SystemTime) -> Option<String> {
    let secs = when.duration_since(UNIX_EPOCH).ok()?.as_secs();
    (secs <= LAST_HTTP_DATE_SECS).then(|| httpdate::fmt_http_date(when))
}

/// Builds a response head line by line.
struct HeadWriter(Vec<u8>);

impl HeadWriter {
    fn new(status: Status, now: SystemTime, persistence: Persistence) -> HeadWriter {
        let mut w = HeadWriter(format!("HTTP/1.1 {} {}\r\n", status.code(), status.reason()).into_bytes());
        w.header("Server", "zcnic");
        if let Some(date) = http_date(now) {
            w.header("Date", &date);
        }
        match persistence {
            Persistence::KeepAlive => {}
            Persistence::KeepAliveAnnounced => w.header("Connection", "keep-alive"),
            Persistence::Close => w.header("Connection", "close"),
        }
        w
    }

    fn header(&mut self, name: &str, value: &str) {
        self.0.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }

    fn finish(mut self) -> Vec<u8> {
        self.0.extend_from_slice(b"\r\n");
        self.0
    }
}

/// An error response with a short text body (`"404 Not Found\n"`); `extra`
/// are headers the status calls for (Allow for 405, Content-Range for 416).
pub fn error_plan(
    status: Status,
    extra: &[(&str, String)],
    wanted: BodyWanted,
    persistence: Persistence,
    now: SystemTime,
) -> Plan {
    let text = format!("{} {}\n", status.code(), status.reason());
    let mut w = HeadWriter::new(status, now, persistence);
    for (name, value) in extra {
        w.header(name, value);
    }
    w.header("Content-Type", "text/plain; charset=utf-8");
    w.header("Content-Length", &text.len().to_string());
    let mut inline = w.finish();
    let body_len = match wanted {
        BodyWanted::Get => {
            inline.extend_from_slice(text.as_bytes());
            text.len() as u64
        }
        BodyWanted::HeadOnly => 0,
    };
    Plan { status, inline, file: None, close: persistence == Persistence::Close, body_len }
}

/// 405 with the methods we do serve.
pub fn method_not_allowed(wanted: BodyWanted, persistence: Persistence, now: SystemTime) -> Plan {
    error_plan(Status::MethodNotAllowed, &[("Allow", "GET, HEAD".into())], wanted, persistence, now)
}

/// 416 naming the file's length, as RFC 9110 §15.5.17 asks.
pub fn range_not_satisfiable(total: u64, wanted: BodyWanted, persistence: Persistence, now: SystemTime) -> Plan {
    let extra = [("Content-Range", format!("bytes */{total}")), ("Accept-Ranges", "bytes".into())];
    error_plan(Status::RangeNotSatisfiable, &extra, wanted, persistence, now)
}

/// 200 for the whole file or 206 for one part of it.
pub fn file_plan(
    file: ResolvedFile,
    span: Span,
    wanted: BodyWanted,
    persistence: Persistence,
    now: SystemTime,
) -> Plan {
    let total = file.len;
    let (status, offset, len) = match span {
        Span::Whole => (Status::Ok, 0, total),
        Span::Part { offset, len } => (Status::PartialContent, offset, len),
    };
    let mut w = HeadWriter::new(status, now, persistence);
    if let Span::Part { .. } = span {
        w.header("Content-Range", &format!("bytes {}-{}/{total}", offset, offset + len - 1));
    }
    w.header("Accept-Ranges", "bytes");
    w.header("Content-Type", content_type_for(&file.path));
    w.header("Content-Length", &len.to_string());
    if let Some(modified) = file.modified.and_then(http_date) {
        w.header("Last-Modified", &modified);
    }
    let sends_body = wanted == BodyWanted::Get && len > 0;
    Plan {
        status,
        inline: w.finish(),
        close: persistence == Persistence::Close,
        body_len: if sends_body { len } else { 0 },
        file: sends_body.then_some(FileRange { path: file.path, file: file.file, offset, len }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn http_dates_within_range_are_formatted() {
        assert_eq!(http_date(UNIX_EPOCH).as_deref(), Some("Thu, 01 Jan 1970 00:00:00 GMT"));
        let last = UNIX_EPOCH + Duration::from_secs(LAST_HTTP_DATE_SECS);
        assert_eq!(http_date(last).as_deref(), Some("Fri, 31 Dec 9999 23:59:59 GMT"));
    }

    #[test]
    fn http_dates_out_of_range_are_none_not_a_panic() {
        assert_eq!(http_date(UNIX_EPOCH - Duration::from_secs(1)), None);
        assert_eq!(http_date(UNIX_EPOCH + Duration::from_secs(LAST_HTTP_DATE_SECS + 1)), None);
    }
}

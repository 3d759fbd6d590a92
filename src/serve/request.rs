//! Parsing a request head out of a connection's receive buffer.
//!
//! The buffer may hold part of a request, one request, or one request and
//! the start of the next (pipelining); we parse only the head and say how
//! many bytes it took. Choices, and why:
//! - The head (request line and headers) is bounded to [`MAX_HEAD_BYTES`]
//!   and [`MAX_HEADERS`]; over either is 431 (RFC 6585 defines it for
//!   exactly this, and it tells the client what to shorten, where a 400
//!   would not). A request line that alone passes the bound gets 431 as well
//!   rather than 414: one rule for one buffer.
//! - GET and HEAD carry no body for us. A non-zero Content-Length or any
//!   Transfer-Encoding is answered 400 and the connection closed: RFC 9110
//!   §9.3.1 gives such content no meaning and lets a server reject it, and
//!   refusing it (rather than skipping it) means we never have to frame a
//!   body, so a body can never be mistaken for the next pipelined request.
//! - HTTP/1.1 without exactly one Host is 400 (RFC 9112 §3.2, a MUST).

use super::status::Status;

/// Largest request head we accept, request line and headers, CRLFs included.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;
/// Most header fields we accept in one request.
pub const MAX_HEADERS: usize = 64;
/// How much of a bad request's first line we keep for the log.
const MAX_LOGGED_LINE: usize = 256;

/// The request method; only GET and HEAD are served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    /// Any other (methods are case-sensitive: `get` is not GET).
    Other(String),
}

/// The protocol version of the request line (httparse accepts only these two).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

/// Whether the request says it carries a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// No Content-Length and no Transfer-Encoding, or Content-Length: 0.
    None,
    /// A non-zero Content-Length or a Transfer-Encoding.
    Present,
    /// A Content-Length that is not a number, or several that disagree.
    Malformed,
}

/// What we need from one request head, owned so the buffer can move on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    /// The request target as sent (origin-form, absolute-form, `*`, ...).
    pub target: String,
    pub version: Version,
    /// After this exchange, keep the connection open (version default and `Connection` tokens).
    pub keep_alive: bool,
    pub body: Body,
    /// How many Host header fields there were.
    pub host_fields: usize,
    /// The Range value, if there was exactly one Range field (several are ignored).
    pub range: Option<String>,
    /// Whether there was an If-Range field: we then ignore Range and send the whole file.
    pub has_if_range: bool,
}

impl Request {
    /// The request line as it appears in the access log.
    pub fn request_line(&self) -> String {
        let method = match &self.method {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Other(m) => m,
        };
        let version = match self.version {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        };
        format!("{method} {} {version}", self.target)
    }
}

/// The outcome of looking for a request at the start of a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// The head is not complete yet (and still within the bound): read more.
    NeedMore,
    /// A full head, taking the first `consumed` bytes of the buffer.
    Complete { request: Request, consumed: usize },
    /// Not a request we can read: answer `status` (400 or 431) and close.
    /// `request_line` is the start of the buffer's first line, for the log.
    Bad { status: Status, request_line: String },
}

/// Parse the request head at the start of `buf`.
pub fn parse_request(buf: &[u8]) -> Parsed {
    // Parsing at most the bound means a head that is still partial at the
    // bound is over it, whatever follows.
    let window = &buf[..buf.len().min(MAX_HEAD_BYTES)];
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut head = httparse::Request::new(&mut fields);
    match head.parse(window) {
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD_BYTES => bad(Status::HeaderFieldsTooLarge, buf),
        Ok(httparse::Status::Partial) => Parsed::NeedMore,
        Ok(httparse::Status::Complete(consumed)) => match request_from(&head) {
            Some(request) => Parsed::Complete { request, consumed },
            None => bad(Status::BadRequest, buf),
        },
        Err(httparse::Error::TooManyHeaders) => bad(Status::HeaderFieldsTooLarge, buf),
        Err(_) => bad(Status::BadRequest, buf),
    }
}

fn bad(status: Status, buf: &[u8]) -> Parsed {
    Parsed::Bad { status, request_line: first_line(buf) }
}

fn first_line(buf: &[u8]) -> String {
    let line = buf.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    String::from_utf8_lossy(&line[..line.len().min(MAX_LOGGED_LINE)]).into_owned()
}

fn request_from(head: &httparse::Request) -> Option<Request> {
    let method = match head.method? {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        other => Method::Other(other.to_owned()),
    };
    let version = match head.version? {
        0 => Version::Http10,
        1 => Version::Http11,
        _ => return None,
    };
    let fields = &*head.headers;
    let named = |name: &'static str| fields.iter().filter(move |f| f.name.eq_ignore_ascii_case(name));
    let ranges: Vec<_> = named("range").collect();
    Some(Request {
        method,
        target: head.path?.to_owned(),
        version,
        keep_alive: keep_alive(version, named("connection").map(|f| f.value)),
        body: body_of(named("content-length").map(|f| f.value), named("transfer-encoding").count()),
        host_fields: named("host").count(),
        range: match ranges.as_slice() {
            [only] => std::str::from_utf8(only.value).ok().map(str::to_owned),
            _ => None,
        },
        has_if_range: named("if-range").next().is_some(),
    })
}

/// HTTP/1.1 keeps the connection unless told `close`; HTTP/1.0 closes it
/// unless told `keep-alive` (RFC 9112 §9.3). `close` wins over `keep-alive`.
fn keep_alive<'a>(version: Version, connection_values: impl Iterator<Item = &'a [u8]>) -> bool {
    let (mut close, mut keep) = (false, false);
    for token in connection_values.flat_map(|v| v.split(|&b| b == b',')) {
        let token = token.trim_ascii();
        close |= token.eq_ignore_ascii_case(b"close");
        keep |= token.eq_ignore_ascii_case(b"keep-alive");
    }
    match version {
        _ if close => false,
        Version::Http11 => true,
        Version::Http10 => keep,
    }
}

fn body_of<'a>(content_lengths: impl Iterator<Item = &'a [u8]>, transfer_encodings: usize) -> Body {
    let mut lengths = Vec::new();
    for value in content_lengths {
        let value = value.trim_ascii();
        let Some(n) = (!value.is_empty() && value.iter().all(u8::is_ascii_digit))
            .then(|| std::str::from_utf8(value).ok()?.parse::<u64>().ok())
            .flatten()
        else {
            return Body::Malformed;
        };
        lengths.push(n);
    }
    if lengths.windows(2).any(|w| w[0] != w[1]) {
        return Body::Malformed;
    }
    if transfer_encodings > 0 || lengths.first().is_some_and(|&n| n > 0) {
        Body::Present
    } else {
        Body::None
    }
}

/// The path part of a request target, query and fragment cut off, or
/// `None` for a target a GET cannot have. Origin-form `/p?q` gives `/p`;
/// absolute-form `http://host/p?q` gives `/p` (RFC 9112 §3.2.2: a server
/// must accept it; we serve one root, so the authority is not checked);
/// `http://host` gives `/`. The asterisk form (OPTIONS only) and
/// authority-form (CONNECT only) give `None`.
pub fn target_path(target: &str) -> Option<&str> {
    let path = if target.starts_with('/') {
        target
    } else {
        let after_scheme =
            strip_prefix_ignore_case(target, "http://").or_else(|| strip_prefix_ignore_case(target, "https://"))?;
        let authority_end = after_scheme.find(['/', '?', '#']).unwrap_or(after_scheme.len());
        if authority_end == 0 {
            return None;
        }
        match &after_scheme[authority_end..] {
            rest if rest.starts_with('/') => rest,
            _ => "/",
        }
    };
    Some(path.split(['?', '#']).next().unwrap_or(path))
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &s[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(buf: &[u8]) -> (Request, usize) {
        match parse_request(buf) {
            Parsed::Complete { request, consumed } => (request, consumed),
            other => panic!("expected a complete request, got {other:?}"),
        }
    }

    fn bad_status(buf: &[u8]) -> Status {
        match parse_request(buf) {
            Parsed::Bad { status, .. } => status,
            other => panic!("expected a bad request, got {other:?}"),
        }
    }

    const SIMPLE: &[u8] = b"GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n";

    #[test]
    fn a_simple_get() {
        let (r, consumed) = complete(SIMPLE);
        assert_eq!(consumed, SIMPLE.len());
        assert_eq!((r.method, r.target.as_str(), r.version), (Method::Get, "/a.txt", Version::Http11));
        assert!(r.keep_alive);
        assert_eq!((r.body, r.host_fields, r.range, r.has_if_range), (Body::None, 1, None, false));
    }

    #[test]
    fn every_proper_prefix_needs_more() {
        for end in 0..SIMPLE.len() {
            assert_eq!(parse_request(&SIMPLE[..end]), Parsed::NeedMore, "prefix of {end} bytes");
        }
    }

    #[test]
    fn pipelined_requests_are_taken_one_at_a_time() {
        let second = b"HEAD /b HTTP/1.1\r\nHost: x\r\n\r\n";
        let mut buf = SIMPLE.to_vec();
        buf.extend_from_slice(second);
        buf.extend_from_slice(b"GET /c HT");
        let (first, n1) = complete(&buf);
        assert_eq!((first.target.as_str(), n1), ("/a.txt", SIMPLE.len()));
        let (next, n2) = complete(&buf[n1..]);
        assert_eq!((next.method, next.target.as_str(), n2), (Method::Head, "/b", second.len()));
        assert_eq!(parse_request(&buf[n1 + n2..]), Parsed::NeedMore);
    }

    fn head_of_len(total: usize) -> Vec<u8> {
        let start = b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ";
        let end = b"\r\n\r\n";
        let mut buf = start.to_vec();
        buf.resize(total - end.len(), b'a');
        buf.extend_from_slice(end);
        assert_eq!(buf.len(), total);
        buf
    }

    #[test]
    fn a_head_of_exactly_the_bound_is_accepted() {
        let buf = head_of_len(MAX_HEAD_BYTES);
        assert_eq!(complete(&buf).1, MAX_HEAD_BYTES);
        let mut pipelined = buf.clone();
        pipelined.extend_from_slice(SIMPLE);
        assert_eq!(complete(&pipelined).1, MAX_HEAD_BYTES);
    }

    #[test]
    fn a_head_one_byte_over_the_bound_is_431() {
        assert_eq!(bad_status(&head_of_len(MAX_HEAD_BYTES + 1)), Status::HeaderFieldsTooLarge);
    }

    #[test]
    fn an_unfinished_head_that_reaches_the_bound_is_431_not_need_more() {
        let mut buf = head_of_len(MAX_HEAD_BYTES + 100);
        buf.truncate(MAX_HEAD_BYTES);
        assert_eq!(bad_status(&buf), Status::HeaderFieldsTooLarge);
        buf.truncate(MAX_HEAD_BYTES - 1);
        assert_eq!(parse_request(&buf), Parsed::NeedMore);
    }

    #[test]
    fn too_many_header_fields_is_431() {
        let mut buf = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
        for i in 0..MAX_HEADERS {
            buf.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
        }
        buf.extend_from_slice(b"\r\n");
        assert_eq!(bad_status(&buf), Status::HeaderFieldsTooLarge);
    }

    #[test]
    fn exactly_max_header_fields_is_accepted() {
        let mut buf = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..MAX_HEADERS {
            buf.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
        }
        buf.extend_from_slice(b"\r\n");
        complete(&buf);
    }

    #[test]
    fn garbage_and_unknown_versions_are_400_with_the_line_kept_for_the_log() {
        assert_eq!(bad_status(b"GET / HTTP/2.0\r\n\r\n"), Status::BadRequest);
        assert_eq!(bad_status(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), Status::BadRequest);
        assert_eq!(bad_status(b"\x16\x03\x01\x02\x00\x01\x00"), Status::BadRequest);
        assert_eq!(bad_status(b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n"), Status::BadRequest);
        match parse_request(b"GET / HTTP/9.9\r\nHost: x\r\n\r\n") {
            Parsed::Bad { request_line, .. } => assert_eq!(request_line, "GET / HTTP/9.9"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn other_methods_are_parsed_case_sensitively() {
        assert_eq!(complete(b"POST / HTTP/1.1\r\nHost: x\r\n\r\n").0.method, Method::Other("POST".into()));
        assert_eq!(complete(b"get / HTTP/1.1\r\nHost: x\r\n\r\n").0.method, Method::Other("get".into()));
    }

    #[test]
    fn persistence_defaults_and_connection_tokens() {
        let ka = |head: &[u8]| complete(head).0.keep_alive;
        assert!(ka(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert!(!ka(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
        assert!(!ka(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, CLOSE\r\n\r\n"));
        assert!(!ka(b"GET / HTTP/1.0\r\n\r\n"));
        assert!(ka(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
        assert!(!ka(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n"));
    }

    #[test]
    fn body_indications() {
        let body = |head: &[u8]| complete(head).0.body;
        assert_eq!(body(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"), Body::None);
        assert_eq!(body(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"), Body::Present);
        assert_eq!(body(b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"), Body::Present);
        assert_eq!(body(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"), Body::Malformed);
        assert_eq!(body(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 1\r\n\r\n"), Body::Malformed);
        assert_eq!(
            body(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\n"),
            Body::Malformed
        );
    }

    #[test]
    fn range_is_kept_only_when_alone() {
        let r = complete(b"GET / HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1\r\nIf-Range: \"e\"\r\n\r\n").0;
        assert_eq!((r.range.as_deref(), r.has_if_range), (Some("bytes=0-1"), true));
        let two = complete(b"GET / HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1\r\nRange: bytes=2-3\r\n\r\n").0;
        assert_eq!(two.range, None);
    }

    #[test]
    fn host_fields_are_counted() {
        assert_eq!(complete(b"GET / HTTP/1.1\r\n\r\n").0.host_fields, 0);
        assert_eq!(complete(b"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n").0.host_fields, 2);
    }

    #[test]
    fn request_line_for_the_log() {
        assert_eq!(complete(SIMPLE).0.request_line(), "GET /a.txt HTTP/1.1");
    }

    #[test]
    fn target_forms() {
        assert_eq!(target_path("/a/b?x=1#f"), Some("/a/b"));
        assert_eq!(target_path("/"), Some("/"));
        assert_eq!(target_path("http://example.com/a?q"), Some("/a"));
        assert_eq!(target_path("HTTP://example.com:8080/a/b"), Some("/a/b"));
        assert_eq!(target_path("https://example.com"), Some("/"));
        assert_eq!(target_path("http://example.com?q"), Some("/"));
        assert_eq!(target_path("*"), None);
        assert_eq!(target_path("example.com:443"), None);
        assert_eq!(target_path("http:///a"), None);
        assert_eq!(target_path("ftp://example.com/a"), None);
        assert_eq!(target_path("a/b"), None);
    }
}

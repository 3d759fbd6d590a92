//! The HTTP/1.1 layer of `zcnic serve`: from the bytes a client sent to what
//! to answer, with no networking. The caller owns the connection: it appends
//! received bytes to a buffer, calls [`respond`], sends [`Plan::inline`] and
//! then [`Plan::file`] (zero-copy, from the page cache), logs
//! [`Reply::log_line`] with `log::info!`, drops [`Reply::consumed`] bytes from
//! the buffer and calls again (pipelining), or closes if [`Plan::close`].
//!
//! Served: GET and HEAD of regular files under `--root`, one byte range at a
//! time. Everything else gets a short error; see each module for the rules.

pub mod content_type;
pub mod log;
pub mod path;
pub mod range;
pub mod request;
pub mod response;
pub mod status;

use std::net::IpAddr;
use std::time::SystemTime;

pub use path::DocRoot;
pub use request::{MAX_HEADERS, MAX_HEAD_BYTES};
pub use response::{FileRange, Plan};
pub use status::Status;

use range::RangeOutcome;
use request::{Body, Method, Parsed, Request, Version};
use response::{BodyWanted, Persistence, Span};

/// What to do with the bytes received so far on a connection.
#[derive(Debug)]
pub enum Exchange {
    /// No complete request head yet: read more (a connection that ends here just closes).
    NeedMore,
    /// Answer one request.
    Reply(Reply),
}

/// The answer to the request at the start of the buffer.
#[derive(Debug)]
pub struct Reply {
    /// Bytes of the buffer this request took; the next request starts after them.
    pub consumed: usize,
    /// The request line for the access log.
    pub request_line: String,
    pub plan: Plan,
}

impl Reply {
    /// The access-log line for this exchange, assuming the whole body was sent.
    pub fn log_line(&self, client: IpAddr, when: SystemTime) -> String {
        log::common_log_line(client, when, &self.request_line, self.plan.status.code(), self.plan.body_len)
    }
}

/// Decide the answer to the request at the start of `buf`. `now` goes into
/// the `Date` header (passed in so tests are deterministic).
pub fn respond(buf: &[u8], root: &DocRoot, now: SystemTime) -> Exchange {
    match request::parse_request(buf) {
        Parsed::NeedMore => Exchange::NeedMore,
        Parsed::Bad { status, request_line } => Exchange::Reply(Reply {
            consumed: buf.len(),
            request_line,
            plan: response::error_plan(status, &[], BodyWanted::Get, Persistence::Close, now),
        }),
        Parsed::Complete { request, consumed } => {
            let plan = answer(&request, root, now);
            Exchange::Reply(Reply { consumed, request_line: request.request_line(), plan })
        }
    }
}

fn answer(request: &Request, root: &DocRoot, now: SystemTime) -> Plan {
    let persistence = persistence_for(request);
    let wanted = match request.method {
        Method::Get => BodyWanted::Get,
        Method::Head => BodyWanted::HeadOnly,
        Method::Other(_) => {
            // We never read a body, so one would be taken for the next request: close.
            let persistence = if request.body == Body::None { persistence } else { Persistence::Close };
            return response::method_not_allowed(BodyWanted::Get, persistence, now);
        }
    };
    let refuse = |status| response::error_plan(status, &[], wanted, Persistence::Close, now);
    if request.body != Body::None {
        return refuse(Status::BadRequest);
    }
    if request.version == Version::Http11 && request.host_fields != 1 {
        return refuse(Status::BadRequest);
    }
    let Some(url_path) = request::target_path(&request.target) else {
        return refuse(Status::BadRequest);
    };
    let file = match path::resolve(root, url_path) {
        Ok(file) => file,
        Err(status) => return response::error_plan(status, &[], wanted, persistence, now),
    };
    match span_for(request, wanted, file.len) {
        Some(span) => response::file_plan(file, span, wanted, persistence, now),
        None => response::range_not_satisfiable(file.len, wanted, persistence, now),
    }
}

fn persistence_for(request: &Request) -> Persistence {
    match (request.keep_alive, request.version) {
        (false, _) => Persistence::Close,
        (true, Version::Http11) => Persistence::KeepAlive,
        (true, Version::Http10) => Persistence::KeepAliveAnnounced,
    }
}

/// The part of the file to send, or `None` for 416. Range is honoured on
/// GET only (RFC 9110 §14.2: range handling is defined for GET alone, so a
/// HEAD describes the whole file), and not when If-Range is present: we
/// do not compare validators, and sending the whole file is always correct.
fn span_for(request: &Request, wanted: BodyWanted, total: u64) -> Option<Span> {
    let spec = match (&request.range, wanted, request.has_if_range) {
        (Some(value), BodyWanted::Get, false) => range::parse_range(value),
        _ => None,
    };
    match spec.map(|spec| range::resolve_range(spec, total)) {
        None => Some(Span::Whole),
        Some(RangeOutcome::Partial { offset, len }) => Some(Span::Part { offset, len }),
        Some(RangeOutcome::Unsatisfiable) => None,
    }
}

#[cfg(test)]
mod tests;

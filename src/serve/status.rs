//! The status codes the file server answers with.

/// A response status, with its code and reason phrase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Ok,
    PartialContent,
    BadRequest,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    RangeNotSatisfiable,
    /// RFC 6585: the request head is over our bound.
    HeaderFieldsTooLarge,
    /// An I/O error we cannot blame on the request (EIO and the like).
    InternalServerError,
}

impl Status {
    /// The three-digit code.
    pub fn code(self) -> u16 {
        match self {
            Status::Ok => 200,
            Status::PartialContent => 206,
            Status::BadRequest => 400,
            Status::Forbidden => 403,
            Status::NotFound => 404,
            Status::MethodNotAllowed => 405,
            Status::RangeNotSatisfiable => 416,
            Status::HeaderFieldsTooLarge => 431,
            Status::InternalServerError => 500,
        }
    }

    /// The reason phrase of the status line.
    pub fn reason(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::PartialContent => "Partial Content",
            Status::BadRequest => "Bad Request",
            Status::Forbidden => "Forbidden",
            Status::NotFound => "Not Found",
            Status::MethodNotAllowed => "Method Not Allowed",
            Status::RangeNotSatisfiable => "Range Not Satisfiable",
            Status::HeaderFieldsTooLarge => "Request Header Fields Too Large",
            Status::InternalServerError => "Internal Server Error",
        }
    }

    /// Whether this is an error (4xx/5xx), answered with a short text body.
    pub fn is_error(self) -> bool {
        self.code() >= 400
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_reasons_pair_up() {
        let all = [
            (Status::Ok, 200, "OK"),
            (Status::PartialContent, 206, "Partial Content"),
            (Status::BadRequest, 400, "Bad Request"),
            (Status::Forbidden, 403, "Forbidden"),
            (Status::NotFound, 404, "Not Found"),
            (Status::MethodNotAllowed, 405, "Method Not Allowed"),
            (Status::RangeNotSatisfiable, 416, "Range Not Satisfiable"),
            (Status::HeaderFieldsTooLarge, 431, "Request Header Fields Too Large"),
            (Status::InternalServerError, 500, "Internal Server Error"),
        ];
        for (status, code, reason) in all {
            assert_eq!((status.code(), status.reason()), (code, reason));
            assert_eq!(status.is_error(), code >= 400);
        }
    }
}

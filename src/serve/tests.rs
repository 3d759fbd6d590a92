//! End-to-end rules of [`respond`]: a request's bytes in, the plan out, the
//! head read back with httparse's response parser.

use super::*;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, RngSeed};
use std::collections::HashMap;
use std::os::unix::fs::{symlink, FileExt};
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

const HELLO: &[u8] = b"hello world";

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_795_674_960)
}

struct Site {
    _dir: tempfile::TempDir,
    root: DocRoot,
}

fn site() -> Site {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("www");
    std::fs::create_dir_all(root.join("docs")).unwrap();
    std::fs::create_dir_all(root.join("empty-dir")).unwrap();
    std::fs::write(root.join("hello.txt"), HELLO).unwrap();
    std::fs::write(root.join("empty.bin"), b"").unwrap();
    std::fs::write(root.join("one.bin"), b"x").unwrap();
    std::fs::write(root.join("docs/index.html"), b"<h1>docs</h1>").unwrap();
    std::fs::write(dir.path().join("secret"), b"secret").unwrap();
    symlink(dir.path().join("secret"), root.join("escape")).unwrap();
    let root = DocRoot::new(&root).unwrap();
    Site { _dir: dir, root }
}

fn reply(site: &Site, request: &[u8]) -> Reply {
    match respond(request, &site.root, now()) {
        Exchange::Reply(reply) => reply,
        Exchange::NeedMore => panic!("needs more: {:?}", String::from_utf8_lossy(request)),
    }
}

/// A response head read back: status, headers (lower-case names), and the
/// inline bytes after the head.
struct Head {
    code: u16,
    headers: HashMap<String, String>,
    inline_body: Vec<u8>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

fn head_of(plan: &Plan) -> Head {
    let mut fields = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut fields);
    let httparse::Status::Complete(n) = response.parse(&plan.inline).unwrap() else {
        panic!("incomplete head: {:?}", String::from_utf8_lossy(&plan.inline));
    };
    let headers: HashMap<_, _> = response
        .headers
        .iter()
        .map(|h| (h.name.to_ascii_lowercase(), String::from_utf8(h.value.to_vec()).unwrap()))
        .collect();
    assert_eq!(response.headers.len(), headers.len(), "a header appears twice");
    assert_eq!(response.version, Some(1));
    Head { code: response.code.unwrap(), headers, inline_body: plan.inline[n..].to_vec() }
}

fn file_bytes(plan: &Plan) -> Vec<u8> {
    let range = plan.file.as_ref().expect("a file range");
    let mut bytes = vec![0; range.len as usize];
    range.file.read_exact_at(&mut bytes, range.offset).unwrap();
    bytes
}

fn get(path: &str, extra: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: t\r\n{extra}\r\n").into_bytes()
}

fn head_request(path: &str, extra: &str) -> Vec<u8> {
    format!("HEAD {path} HTTP/1.1\r\nHost: t\r\n{extra}\r\n").into_bytes()
}

#[test]
fn get_a_file_is_200_with_its_headers_and_the_file_span() {
    let s = site();
    let request = get("/hello.txt", "");
    let r = reply(&s, &request);
    let h = head_of(&r.plan);
    assert_eq!((h.code, r.plan.status, r.consumed), (200, Status::Ok, request.len()));
    assert_eq!(h.header("content-length"), Some("11"));
    assert_eq!(h.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(h.header("accept-ranges"), Some("bytes"));
    assert_eq!(h.header("server"), Some("zcnic"));
    assert_eq!(h.header("date"), Some("Thu, 26 Nov 2026 06:36:00 GMT"));
    assert!(h.header("last-modified").is_some_and(|v| v.ends_with(" GMT")));
    assert_eq!(h.header("connection"), None);
    assert!(h.inline_body.is_empty());
    assert_eq!(file_bytes(&r.plan), HELLO);
    assert_eq!((r.plan.close, r.plan.body_len), (false, 11));
    let range = r.plan.file.as_ref().unwrap();
    assert_eq!(range.path, s.root.path().join("hello.txt"));
}

#[test]
fn head_has_the_get_headers_and_no_body() {
    let s = site();
    let from_get = head_of(&reply(&s, &get("/hello.txt", "")).plan);
    let r = reply(&s, &head_request("/hello.txt", ""));
    let from_head = head_of(&r.plan);
    assert_eq!((from_head.code, &from_head.headers), (200, &from_get.headers));
    assert!(from_head.inline_body.is_empty());
    assert!(r.plan.file.is_none());
    assert_eq!(r.plan.body_len, 0);
}

#[test]
fn a_file_dated_before_1970_is_served_without_last_modified() {
    let s = site();
    let file = std::fs::File::options().write(true).open(s.root.path().join("one.bin")).unwrap();
    file.set_modified(UNIX_EPOCH - Duration::from_secs(86_400)).unwrap();
    let r = reply(&s, &get("/one.bin", ""));
    let h = head_of(&r.plan);
    assert_eq!((h.code, h.header("last-modified")), (200, None));
    assert_eq!(file_bytes(&r.plan), b"x");
}

#[test]
fn a_directory_serves_index_html() {
    let s = site();
    let r = reply(&s, &get("/docs/", ""));
    let h = head_of(&r.plan);
    assert_eq!((h.code, h.header("content-type")), (200, Some("text/html; charset=utf-8")));
    assert_eq!(file_bytes(&r.plan), b"<h1>docs</h1>");
}

#[test]
fn an_empty_file_is_200_with_length_0_and_no_span() {
    let s = site();
    let r = reply(&s, &get("/empty.bin", ""));
    let h = head_of(&r.plan);
    assert_eq!((h.code, h.header("content-length")), (200, Some("0")));
    assert!(r.plan.file.is_none());
}

#[test]
fn query_strings_are_ignored() {
    let s = site();
    assert_eq!(file_bytes(&reply(&s, &get("/hello.txt?v=2&x=%zz", "")).plan), HELLO);
}

#[test]
fn absolute_form_targets_are_served_by_their_path() {
    let s = site();
    assert_eq!(file_bytes(&reply(&s, &get("http://elsewhere.example/hello.txt", "")).plan), HELLO);
}

/// (status, Content-Range, bytes sent) for a GET of `path` with `range`.
fn ranged(s: &Site, path: &str, range: &str) -> (u16, Option<String>, Vec<u8>) {
    let r = reply(s, &get(path, &format!("Range: {range}\r\n")));
    let h = head_of(&r.plan);
    let body = if r.plan.file.is_some() { file_bytes(&r.plan) } else { h.inline_body.clone() };
    assert_eq!(h.header("content-length").unwrap(), body.len().to_string(), "Content-Length matches the body");
    assert_eq!(r.plan.body_len, body.len() as u64);
    (h.code, h.header("content-range").map(str::to_owned), body)
}

fn partial(range: &str, body: &[u8]) -> (u16, Option<String>, Vec<u8>) {
    (206, Some(range.to_owned()), body.to_vec())
}

fn unsatisfiable(total: u64) -> (u16, Option<String>, Vec<u8>) {
    let text = b"416 Range Not Satisfiable\n";
    (416, Some(format!("bytes */{total}")), text.to_vec())
}

fn whole(body: &[u8]) -> (u16, Option<String>, Vec<u8>) {
    (200, None, body.to_vec())
}

#[test]
fn each_range_form_is_206_with_content_range() {
    let s = site();
    assert_eq!(ranged(&s, "/hello.txt", "bytes=0-4"), partial("bytes 0-4/11", b"hello"));
    assert_eq!(ranged(&s, "/hello.txt", "bytes=6-"), partial("bytes 6-10/11", b"world"));
    assert_eq!(ranged(&s, "/hello.txt", "bytes=-5"), partial("bytes 6-10/11", b"world"));
    assert_eq!(ranged(&s, "/hello.txt", "bytes=0-0"), partial("bytes 0-0/11", b"h"));
    assert_eq!(ranged(&s, "/hello.txt", "bytes=4-100"), partial("bytes 4-10/11", b"o world"));
    assert_eq!(ranged(&s, "/hello.txt", "bytes=-100"), partial("bytes 0-10/11", HELLO));
}

#[test]
fn unsatisfiable_ranges_are_416_with_the_length() {
    let s = site();
    assert_eq!(ranged(&s, "/hello.txt", "bytes=11-"), unsatisfiable(11));
    assert_eq!(ranged(&s, "/hello.txt", "bytes=20-30"), unsatisfiable(11));
    assert_eq!(ranged(&s, "/hello.txt", "bytes=-0"), unsatisfiable(11));
    let r = reply(&s, &get("/hello.txt", "Range: bytes=11-\r\n"));
    assert!(!r.plan.close, "a 416 keeps the connection");
}

#[test]
fn invalid_multi_and_malformed_ranges_are_ignored() {
    let s = site();
    assert_eq!(ranged(&s, "/hello.txt", "bytes=5-3"), whole(HELLO));
    assert_eq!(ranged(&s, "/hello.txt", "bytes=0-1,3-4"), whole(HELLO));
    assert_eq!(ranged(&s, "/hello.txt", "bytes=x-"), whole(HELLO));
    assert_eq!(ranged(&s, "/hello.txt", "pages=1-2"), whole(HELLO));
}

#[test]
fn ranges_on_a_zero_and_a_one_byte_file() {
    let s = site();
    assert_eq!(ranged(&s, "/empty.bin", "bytes=0-0"), unsatisfiable(0));
    assert_eq!(ranged(&s, "/empty.bin", "bytes=0-"), unsatisfiable(0));
    assert_eq!(ranged(&s, "/empty.bin", "bytes=-1"), unsatisfiable(0));
    assert_eq!(ranged(&s, "/one.bin", "bytes=0-0"), partial("bytes 0-0/1", b"x"));
    assert_eq!(ranged(&s, "/one.bin", "bytes=-1"), partial("bytes 0-0/1", b"x"));
    assert_eq!(ranged(&s, "/one.bin", "bytes=0-9"), partial("bytes 0-0/1", b"x"));
    assert_eq!(ranged(&s, "/one.bin", "bytes=1-"), unsatisfiable(1));
    assert_eq!(ranged(&s, "/one.bin", "bytes=-0"), unsatisfiable(1));
}

#[test]
fn range_is_ignored_on_head_and_with_if_range() {
    let s = site();
    let on_head = head_of(&reply(&s, &head_request("/hello.txt", "Range: bytes=0-1\r\n")).plan);
    assert_eq!((on_head.code, on_head.header("content-length")), (200, Some("11")));
    let r = reply(&s, &get("/hello.txt", "Range: bytes=0-1\r\nIf-Range: \"abc\"\r\n"));
    assert_eq!(head_of(&r.plan).code, 200);
    assert_eq!(file_bytes(&r.plan), HELLO);
}

/// Status, Connection header, and whether the plan closes.
fn error_of(s: &Site, request: &[u8]) -> (u16, Option<String>, bool) {
    let r = reply(s, request);
    let h = head_of(&r.plan);
    assert_eq!(h.code, r.plan.status.code());
    assert!(r.plan.file.is_none());
    let text = format!("{} {}\n", h.code, r.plan.status.reason());
    assert_eq!(h.header("content-length"), Some(text.len().to_string().as_str()));
    assert_eq!(h.header("content-type"), Some("text/plain; charset=utf-8"));
    if request.starts_with(b"HEAD ") {
        assert!(h.inline_body.is_empty());
    } else {
        assert_eq!(h.inline_body, text.as_bytes());
    }
    (h.code, h.header("connection").map(str::to_owned), r.plan.close)
}

const NO_CONNECTION_HEADER: Option<String> = None;

fn closing(code: u16) -> (u16, Option<String>, bool) {
    (code, Some("close".into()), true)
}

#[test]
fn missing_files_and_bare_directories_are_404_and_keep_the_connection() {
    let s = site();
    assert_eq!(error_of(&s, &get("/nope", "")), (404, NO_CONNECTION_HEADER, false));
    assert_eq!(error_of(&s, &get("/empty-dir/", "")), (404, NO_CONNECTION_HEADER, false));
    assert_eq!(error_of(&s, &head_request("/nope", "")), (404, NO_CONNECTION_HEADER, false));
}

#[test]
fn a_symlink_out_of_the_root_is_403() {
    let s = site();
    assert_eq!(error_of(&s, &get("/escape", "")), (403, NO_CONNECTION_HEADER, false));
}

#[test]
fn percent_encoded_traversal_is_400() {
    let s = site();
    for target in ["/../secret", "/%2e%2e/secret", "/%2E%2e%2fsecret", "/docs/%2e%2e/%2e%2e/secret", "/a%00"] {
        assert_eq!(error_of(&s, &get(target, "")).0, 400, "{target}");
    }
}

#[test]
fn other_methods_are_405_with_allow() {
    let s = site();
    for method in ["POST", "PUT", "DELETE", "OPTIONS", "get"] {
        let request = format!("{method} /hello.txt HTTP/1.1\r\nHost: t\r\n\r\n");
        let r = reply(&s, request.as_bytes());
        assert_eq!(head_of(&r.plan).header("allow"), Some("GET, HEAD"));
        assert_eq!(error_of(&s, request.as_bytes()), (405, NO_CONNECTION_HEADER, false), "{method}");
    }
    assert_eq!(error_of(&s, b"OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n").0, 405);
}

#[test]
fn a_405_with_a_body_closes() {
    let s = site();
    let post = b"POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc";
    assert_eq!(error_of(&s, post), closing(405));
}

#[test]
fn get_or_head_with_a_body_is_400_and_closes() {
    let s = site();
    assert_eq!(error_of(&s, &get("/hello.txt", "Content-Length: 3\r\n")), closing(400));
    assert_eq!(error_of(&s, &get("/hello.txt", "Transfer-Encoding: chunked\r\n")), closing(400));
    assert_eq!(error_of(&s, &head_request("/hello.txt", "Content-Length: x\r\n")), closing(400));
    assert_eq!(reply(&s, &get("/hello.txt", "Content-Length: 0\r\n")).plan.status, Status::Ok);
}

#[test]
fn http11_needs_exactly_one_host() {
    let s = site();
    assert_eq!(error_of(&s, b"GET /hello.txt HTTP/1.1\r\n\r\n"), closing(400));
    assert_eq!(error_of(&s, b"GET /hello.txt HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), closing(400));
    assert_eq!(reply(&s, b"GET /hello.txt HTTP/1.0\r\n\r\n").plan.status, Status::Ok);
}

#[test]
fn asterisk_and_authority_targets_on_get_are_400() {
    let s = site();
    assert_eq!(error_of(&s, b"GET * HTTP/1.1\r\nHost: t\r\n\r\n"), closing(400));
    assert_eq!(error_of(&s, b"GET t:80 HTTP/1.1\r\nHost: t\r\n\r\n"), closing(400));
}

#[test]
fn unparseable_requests_are_400_and_close() {
    let s = site();
    let r = reply(&s, b"GARBAGE\x01 / HTTP/1.1\r\n\r\n");
    assert_eq!(error_of(&s, b"GARBAGE\x01 / HTTP/1.1\r\n\r\n"), closing(400));
    assert_eq!(r.consumed, b"GARBAGE\x01 / HTTP/1.1\r\n\r\n".len());
    assert_eq!(r.request_line, "GARBAGE\u{1} / HTTP/1.1");
}

#[test]
fn an_oversized_head_is_431_and_closes() {
    let s = site();
    let request = get("/hello.txt", &format!("X-Big: {}\r\n", "a".repeat(MAX_HEAD_BYTES)));
    assert_eq!(error_of(&s, &request), closing(431));
    let many: String = (0..=MAX_HEADERS).map(|i| format!("X-{i}: 1\r\n")).collect();
    assert_eq!(error_of(&s, &get("/hello.txt", &many)), closing(431));
}

#[test]
fn connection_handling_by_version() {
    let s = site();
    let status_and_connection = |request: &[u8]| {
        let r = reply(&s, request);
        (r.plan.close, head_of(&r.plan).header("connection").map(str::to_owned))
    };
    assert_eq!(status_and_connection(b"GET /hello.txt HTTP/1.0\r\n\r\n"), (true, Some("close".into())));
    assert_eq!(
        status_and_connection(b"GET /hello.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"),
        (false, Some("keep-alive".into()))
    );
    assert_eq!(status_and_connection(&get("/hello.txt", "")), (false, None));
    assert_eq!(status_and_connection(&get("/hello.txt", "Connection: close\r\n")), (true, Some("close".into())));
}

#[test]
fn partial_requests_need_more() {
    let s = site();
    let request = get("/hello.txt", "");
    for end in 0..request.len() {
        assert!(matches!(respond(&request[..end], &s.root, now()), Exchange::NeedMore), "{end} bytes");
    }
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let s = site();
    let mut buf = get("/hello.txt", "");
    buf.extend_from_slice(&head_request("/one.bin", ""));
    buf.extend_from_slice(&get("/nope", ""));
    buf.extend_from_slice(b"GET /hello");
    let mut codes = Vec::new();
    let mut at = 0;
    while let Exchange::Reply(r) = respond(&buf[at..], &s.root, now()) {
        codes.push((r.plan.status.code(), r.request_line.clone()));
        at += r.consumed;
    }
    let expected = [(200, "GET /hello.txt HTTP/1.1"), (200, "HEAD /one.bin HTTP/1.1"), (404, "GET /nope HTTP/1.1")];
    let expected: Vec<_> = expected.iter().map(|&(c, l)| (c, l.to_owned())).collect();
    assert_eq!(codes, expected);
    assert_eq!(&buf[at..], b"GET /hello");
}

#[test]
fn the_log_line_records_status_and_body_bytes() {
    let s = site();
    let client = "192.0.2.9".parse().unwrap();
    let r = reply(&s, &get("/hello.txt", "Range: bytes=0-4\r\n"));
    assert_eq!(
        r.log_line(client, now()),
        "192.0.2.9 - - [26/Nov/2026:06:36:00 +0000] \"GET /hello.txt HTTP/1.1\" 206 5"
    );
    let r = reply(&s, &head_request("/hello.txt", ""));
    assert!(r.log_line(client, now()).ends_with("\"HEAD /hello.txt HTTP/1.1\" 200 -"));
}

fn under_root(root: &Path, plan: &Plan) -> bool {
    plan.file.as_ref().is_none_or(|f| f.path.starts_with(root))
}

/// Pieces that make traversal attempts likelier than uniform characters do.
fn tricky_path() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "/",
        "..",
        ".",
        "%2e",
        "%2E",
        "%2f",
        "%2F",
        "%5c",
        "\\",
        "%00",
        "%",
        "%g",
        "escape",
        "docs",
        "hello.txt",
        "index.html",
        "?",
        "#",
        "a",
        "%25",
        "//",
        "~",
    ]);
    prop::collection::vec(piece, 0..12).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        rng_seed: RngSeed::Fixed(0x7a63_6e69_6373_6572),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Any bytes: no panic, consumed within the buffer, any file under the root.
    #[test]
    fn arbitrary_bytes_never_panic_or_escape(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let s = site();
        if let Exchange::Reply(r) = respond(&bytes, &s.root, now()) {
            prop_assert!(r.consumed <= bytes.len());
            prop_assert!(under_root(s.root.path(), &r.plan));
        }
    }

    /// Request-shaped bytes with arbitrary targets reach the path resolver.
    #[test]
    fn arbitrary_targets_stay_under_the_root(target in "[ -~]{0,40}", tricky in tricky_path()) {
        let s = site();
        for t in [format!("/{target}"), tricky.clone(), format!("/{tricky}")] {
            if let Ok(file) = path::resolve(&s.root, &t) {
                prop_assert!(file.path.starts_with(s.root.path()), "{t:?} -> {:?}", file.path);
            }
            let request = [b"GET ".as_slice(), t.as_bytes(), b" HTTP/1.1\r\nHost: t\r\n\r\n"].concat();
            if let Exchange::Reply(r) = respond(&request, &s.root, now()) {
                prop_assert!(under_root(s.root.path(), &r.plan));
            }
        }
    }

    /// Any string: decoding either refuses or gives plain relative segments.
    #[test]
    fn decoded_paths_are_plain_segments(s in prop_oneof![any::<String>(), tricky_path().prop_map(|p| format!("/{p}"))]) {
        if let Ok(relative) = path::decode_path(&s) {
            prop_assert!(relative.components().all(|c| matches!(c, std::path::Component::Normal(_))));
        }
    }
}

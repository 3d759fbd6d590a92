//! From the path of a request target to an open file under the document root.
//!
//! Two guards, both needed. First the URL path is decoded segment by segment
//! and anything that could climb out is refused before the filesystem is
//! touched: a `..` segment (also spelled `%2e%2e`), an encoded slash `%2f`
//! (it would move segment boundaries after the `..` check), a decoded NUL,
//! and malformed escapes. Then the filesystem has the last word: the path is
//! canonicalized and must stay under the canonical root, which catches
//! symlinks that lead out. Backslashes are ordinary file-name bytes on Linux
//! and cannot climb, so they are left alone.
//!
//! Left open: a directory on the path swapped for a symlink between our
//! canonicalize and open (openat2 with RESOLVE_BENEATH would close it); the
//! last component is opened with O_NOFOLLOW, so a swap there fails.

use std::ffi::OsStr;
use std::fs::{File, Metadata, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::status::Status;

/// The file served for a directory; there are no directory listings.
pub const INDEX_FILE: &str = "index.html";

/// Why a URL path was refused before looking at the filesystem (all answered with 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// The path does not start with `/`.
    NotAbsolute,
    /// A `%` not followed by two hex digits.
    MalformedEscape,
    /// `%00`: no file name holds a NUL.
    Nul,
    /// `%2f`: a slash inside a segment.
    EncodedSlash,
    /// A `..` segment, spelled out or percent-encoded.
    DotDot,
}

/// The canonical document root (`--root`), resolved once at start-up.
#[derive(Debug, Clone)]
pub struct DocRoot {
    canonical: PathBuf,
}

impl DocRoot {
    /// Canonicalize `dir`; fails if it does not exist or is not a directory.
    pub fn new(dir: &Path) -> io::Result<DocRoot> {
        let canonical = std::fs::canonicalize(dir)?;
        if !std::fs::metadata(&canonical)?.is_dir() {
            return Err(io::Error::new(io::ErrorKind::NotADirectory, format!("{} is not a directory", dir.display())));
        }
        Ok(DocRoot { canonical })
    }

    /// The canonical root directory.
    pub fn path(&self) -> &Path {
        &self.canonical
    }

    fn contains(&self, canonical: &Path) -> bool {
        // Component-wise: /srv/www2 is not under /srv/www.
        canonical.starts_with(&self.canonical)
    }
}

/// A regular file under the root, opened for reading.
#[derive(Debug)]
pub struct ResolvedFile {
    /// Its canonical path (under the root).
    pub path: PathBuf,
    /// The open file; its length and times are those of this open file.
    pub file: File,
    pub len: u64,
    pub modified: Option<SystemTime>,
}

/// Decode a URL path (query already cut off) into a relative path of plain
/// segments. Empty and `.` segments are dropped: they name the same directory.
pub fn decode_path(url_path: &str) -> Result<PathBuf, PathError> {
    let rest = url_path.strip_prefix('/').ok_or(PathError::NotAbsolute)?;
    let mut relative = PathBuf::new();
    for raw in rest.split('/') {
        let segment = percent_decode(raw.as_bytes())?;
        match segment.as_slice() {
            b"" | b"." => continue,
            b".." => return Err(PathError::DotDot),
            _ => relative.push(OsStr::from_bytes(&segment)),
        }
    }
    Ok(relative)
}

fn percent_decode(raw: &[u8]) -> Result<Vec<u8>, PathError> {
    let mut out = Vec::with_capacity(raw.len());
    let mut bytes = raw.iter();
    while let Some(&b) = bytes.next() {
        let byte = if b == b'%' {
            let hi = bytes.next().and_then(|&h| hex_value(h));
            let lo = bytes.next().and_then(|&l| hex_value(l));
            match (hi, lo) {
                (Some(hi), Some(lo)) => hi << 4 | lo,
                _ => return Err(PathError::MalformedEscape),
            }
        } else {
            b
        };
        match byte {
            0 => return Err(PathError::Nul),
            b'/' => return Err(PathError::EncodedSlash),
            _ => out.push(byte),
        }
    }
    Ok(out)
}

fn hex_value(digit: u8) -> Option<u8> {
    (digit as char).to_digit(16).map(|v| v as u8)
}

/// The status for an I/O error met while resolving or opening: missing → 404,
/// not allowed (or a symlink loop) → 403, anything else → 500.
pub fn status_for_io_error(err: &io::Error) -> Status {
    match err.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => return Status::NotFound,
        io::ErrorKind::PermissionDenied => return Status::Forbidden,
        _ => {}
    }
    match err.raw_os_error() {
        Some(libc::ENOENT | libc::ENOTDIR | libc::ENAMETOOLONG) => Status::NotFound,
        Some(libc::EACCES | libc::EPERM | libc::ELOOP) => Status::Forbidden,
        _ => Status::InternalServerError,
    }
}

/// Find and open the file `url_path` names under `root`. A directory means
/// its `index.html`. Errors are the status to answer with.
pub fn resolve(root: &DocRoot, url_path: &str) -> Result<ResolvedFile, Status> {
    let relative = decode_path(url_path).map_err(|_| Status::BadRequest)?;
    let (canonical, meta) = canonical_under_root(root, &root.canonical.join(relative), url_path)?;
    let (canonical, meta) = if meta.is_dir() {
        let (index, meta) = canonical_under_root(root, &canonical.join(INDEX_FILE), url_path)?;
        if meta.is_dir() {
            return Err(Status::NotFound);
        }
        (index, meta)
    } else {
        (canonical, meta)
    };
    if !meta.is_file() {
        // FIFOs, sockets, devices: never opened (a FIFO would block the server).
        return Err(Status::Forbidden);
    }
    open_regular_file(canonical)
}

fn canonical_under_root(root: &DocRoot, candidate: &Path, url_path: &str) -> Result<(PathBuf, Metadata), Status> {
    let canonical = std::fs::canonicalize(candidate).map_err(|e| status_for_io_error(&e))?;
    if !root.contains(&canonical) {
        log::warn!(
            "refused {url_path:?}: it resolves to {}, outside the root {}",
            canonical.display(),
            root.canonical.display()
        );
        return Err(Status::Forbidden);
    }
    let meta = std::fs::metadata(&canonical).map_err(|e| status_for_io_error(&e))?;
    Ok((canonical, meta))
}

fn open_regular_file(path: PathBuf) -> Result<ResolvedFile, Status> {
    // O_NOFOLLOW: the path is canonical, so a symlink here was swapped in
    // after we checked. O_NONBLOCK: a FIFO swapped in does not hang the open.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(&path)
        .map_err(|e| status_for_io_error(&e))?;
    let meta = file.metadata().map_err(|e| status_for_io_error(&e))?;
    if !meta.is_file() {
        return Err(Status::Forbidden);
    }
    Ok(ResolvedFile { path, file, len: meta.len(), modified: meta.modified().ok() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn decoded(url_path: &str) -> Result<PathBuf, PathError> {
        decode_path(url_path)
    }

    #[test]
    fn plain_and_escaped_names_decode() {
        assert_eq!(decoded("/"), Ok(PathBuf::new()));
        assert_eq!(decoded("/a/b.txt"), Ok(PathBuf::from("a/b.txt")));
        assert_eq!(decoded("/with%20space%3F"), Ok(PathBuf::from("with space?")));
        assert_eq!(decoded("/caf%C3%A9"), Ok(PathBuf::from("café")));
        assert_eq!(decoded("//a/./b/"), Ok(PathBuf::from("a/b")));
        assert_eq!(decoded("/a%2eb/..c/c.."), Ok(PathBuf::from("a.b/..c/c..")));
    }

    #[test]
    fn non_utf8_bytes_pass_through_as_file_name_bytes() {
        assert_eq!(decoded("/%FF"), Ok(PathBuf::from(OsStr::from_bytes(b"\xff"))));
    }

    #[test]
    fn backslash_is_an_ordinary_byte() {
        assert_eq!(decoded("/a\\..\\b"), Ok(PathBuf::from("a\\..\\b")));
        assert_eq!(decoded("/a%5C..%5Cb"), Ok(PathBuf::from("a\\..\\b")));
    }

    #[test]
    fn dot_dot_in_every_spelling_is_refused() {
        for attempt in ["/..", "/../etc/passwd", "/a/../../b", "/%2e%2e/x", "/%2E%2E", "/.%2e/x", "/%2e./x", "/a/.."] {
            assert_eq!(decoded(attempt), Err(PathError::DotDot), "{attempt}");
        }
    }

    #[test]
    fn encoded_slash_is_refused() {
        for attempt in ["/..%2fetc", "/%2F", "/a%2fb", "/%2e%2e%2f%2e%2e%2fetc%2fpasswd"] {
            assert_eq!(decoded(attempt), Err(PathError::EncodedSlash), "{attempt}");
        }
    }

    #[test]
    fn malformed_escapes_and_nul_are_refused() {
        for attempt in ["/%", "/%2", "/a%zz", "/%g0", "/%%41"] {
            assert_eq!(decoded(attempt), Err(PathError::MalformedEscape), "{attempt}");
        }
        assert_eq!(decoded("/a%00b"), Err(PathError::Nul));
    }

    #[test]
    fn relative_paths_are_refused() {
        assert_eq!(decoded(""), Err(PathError::NotAbsolute));
        assert_eq!(decoded("etc/passwd"), Err(PathError::NotAbsolute));
    }

    #[test]
    fn io_errors_map_to_statuses() {
        let os = io::Error::from_raw_os_error;
        assert_eq!(status_for_io_error(&os(libc::ENOENT)), Status::NotFound);
        assert_eq!(status_for_io_error(&os(libc::ENOTDIR)), Status::NotFound);
        assert_eq!(status_for_io_error(&os(libc::ENAMETOOLONG)), Status::NotFound);
        assert_eq!(status_for_io_error(&os(libc::EACCES)), Status::Forbidden);
        assert_eq!(status_for_io_error(&os(libc::EPERM)), Status::Forbidden);
        assert_eq!(status_for_io_error(&os(libc::ELOOP)), Status::Forbidden);
        assert_eq!(status_for_io_error(&os(libc::EIO)), Status::InternalServerError);
    }

    /// A root with files, a subdirectory with and without index.html, and
    /// symlinks in and out; `outside` is a sibling of the root.
    struct Tree {
        _dir: tempfile::TempDir,
        root: DocRoot,
        outside: PathBuf,
    }

    fn tree() -> Tree {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(root.join("site")).unwrap();
        std::fs::create_dir_all(root.join("bare")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(root.join("hello.txt"), b"hello").unwrap();
        std::fs::write(root.join("site/index.html"), b"<p>hi</p>").unwrap();
        std::fs::write(root.join("a\\b"), b"backslash").unwrap();
        std::fs::write(outside.join("secret"), b"secret").unwrap();
        symlink(outside.join("secret"), root.join("escape")).unwrap();
        symlink(&outside, root.join("outdir")).unwrap();
        symlink("hello.txt", root.join("inside-link")).unwrap();
        std::fs::create_dir_all(root.join("evil")).unwrap();
        symlink(outside.join("secret"), root.join("evil/index.html")).unwrap();
        let root = DocRoot::new(&root).unwrap();
        Tree { _dir: dir, root, outside }
    }

    fn served(t: &Tree, url_path: &str) -> Result<PathBuf, Status> {
        resolve(&t.root, url_path).map(|f| f.path.strip_prefix(t.root.path()).unwrap().to_path_buf())
    }

    #[test]
    fn a_file_under_the_root_is_opened_with_its_length() {
        let t = tree();
        let f = resolve(&t.root, "/hello.txt").unwrap();
        assert_eq!((f.path.file_name().unwrap(), f.len), (OsStr::new("hello.txt"), 5));
        assert!(f.modified.is_some());
    }

    #[test]
    fn a_directory_serves_its_index_html() {
        let t = tree();
        assert_eq!(served(&t, "/site"), Ok(PathBuf::from("site/index.html")));
        assert_eq!(served(&t, "/site/"), Ok(PathBuf::from("site/index.html")));
    }

    #[test]
    fn a_directory_without_index_html_is_404_not_a_listing() {
        let t = tree();
        assert_eq!(served(&t, "/bare/"), Err(Status::NotFound));
        assert_eq!(served(&t, "/"), Err(Status::NotFound));
    }

    #[test]
    fn missing_is_404_and_traversal_is_400() {
        let t = tree();
        assert_eq!(served(&t, "/nope"), Err(Status::NotFound));
        assert_eq!(served(&t, "/hello.txt/x"), Err(Status::NotFound));
        assert_eq!(served(&t, "/%2e%2e/outside/secret"), Err(Status::BadRequest));
        assert_eq!(served(&t, "/..%2foutside%2fsecret"), Err(Status::BadRequest));
    }

    #[test]
    fn symlinks_leading_out_are_403() {
        let t = tree();
        assert!(t.outside.join("secret").exists());
        assert_eq!(served(&t, "/escape"), Err(Status::Forbidden));
        assert_eq!(served(&t, "/outdir/secret"), Err(Status::Forbidden));
        assert_eq!(served(&t, "/evil/"), Err(Status::Forbidden));
    }

    #[test]
    fn symlinks_staying_inside_are_followed() {
        let t = tree();
        assert_eq!(served(&t, "/inside-link"), Ok(PathBuf::from("hello.txt")));
    }

    #[test]
    fn backslash_names_a_file_literally() {
        let t = tree();
        assert_eq!(served(&t, "/a%5Cb"), Ok(PathBuf::from("a\\b")));
    }

    #[test]
    fn a_fifo_is_403_and_never_opened() {
        let t = tree();
        let fifo = t.root.path().join("pipe");
        let c_path = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
        // SAFETY: c_path is a valid NUL-terminated string that outlives the call.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o644) }, 0);
        assert_eq!(served(&t, "/pipe"), Err(Status::Forbidden));
    }

    #[test]
    fn doc_root_must_be_a_directory() {
        let t = tree();
        assert!(DocRoot::new(&t.root.path().join("hello.txt")).is_err());
        assert!(DocRoot::new(&t.root.path().join("missing")).is_err());
    }

    #[test]
    fn a_sibling_with_a_longer_name_is_not_under_the_root() {
        let t = tree();
        let sibling = PathBuf::from(format!("{}2", t.root.path().display()));
        assert!(!t.root.contains(&sibling));
        assert!(t.root.contains(&t.root.path().join("x")));
    }
}

//! `Content-Type` from the file name's extension: a small table of the
//! types a static site serves, `application/octet-stream` for the rest.
//! (A table instead of `mime_guess`: a few dozen lines we can read beat a
//! generated database for what a test server needs.)

use std::path::Path;

/// What we answer for an extension not in the table, or no extension.
pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";

const TABLE: &[(&str, &str)] = &[
    ("html", "text/html; charset=utf-8"),
    ("htm", "text/html; charset=utf-8"),
    ("css", "text/css; charset=utf-8"),
    ("js", "text/javascript; charset=utf-8"),
    ("mjs", "text/javascript; charset=utf-8"),
    ("json", "application/json"),
    ("txt", "text/plain; charset=utf-8"),
    ("md", "text/markdown; charset=utf-8"),
    ("csv", "text/csv; charset=utf-8"),
    ("xml", "application/xml"),
    ("svg", "image/svg+xml"),
    ("png", "image/png"),
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("gif", "image/gif"),
    ("webp", "image/webp"),
    ("avif", "image/avif"),
    ("ico", "image/vnd.microsoft.icon"),
    ("pdf", "application/pdf"),
    ("wasm", "application/wasm"),
    ("woff", "font/woff"),
    ("woff2", "font/woff2"),
    ("ttf", "font/ttf"),
    ("otf", "font/otf"),
    ("mp3", "audio/mpeg"),
    ("ogg", "audio/ogg"),
    ("wav", "audio/wav"),
    ("mp4", "video/mp4"),
    ("webm", "video/webm"),
    ("zip", "application/zip"),
    ("gz", "application/gzip"),
    ("tar", "application/x-tar"),
];

/// The `Content-Type` for `path`, by its extension (case-insensitive).
pub fn content_type_for(path: &Path) -> &'static str {
    let Some(ext) = path.extension().and_then(|e| e.to_str()) else {
        return DEFAULT_CONTENT_TYPE;
    };
    TABLE.iter().find(|(known, _)| known.eq_ignore_ascii_case(ext)).map_or(DEFAULT_CONTENT_TYPE, |(_, ty)| ty)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_extensions_any_case() {
        assert_eq!(content_type_for(Path::new("/r/index.html")), "text/html; charset=utf-8");
        assert_eq!(content_type_for(Path::new("/r/A.PNG")), "image/png");
        assert_eq!(content_type_for(Path::new("/r/x.tar.gz")), "application/gzip");
    }

    #[test]
    fn unknown_or_missing_extension_is_octet_stream() {
        assert_eq!(content_type_for(Path::new("/r/blob.bin")), DEFAULT_CONTENT_TYPE);
        assert_eq!(content_type_for(Path::new("/r/Makefile")), DEFAULT_CONTENT_TYPE);
        assert_eq!(content_type_for(Path::new("/r/.hidden")), DEFAULT_CONTENT_TYPE);
    }
}

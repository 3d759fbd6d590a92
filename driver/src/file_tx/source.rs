//! The file to send: opened, checked to be a regular readable file, and
//! watched for changes while it is sent.

use std::fs::{File, Metadata};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::error::Error;

/// What we remember to notice a change: size, modification and change times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(m: &Metadata) -> Stamp {
        Stamp { len: m.len(), mtime: (m.mtime(), m.mtime_nsec()), ctime: (m.ctime(), m.ctime_nsec()) }
    }
}

/// An open regular file, ready to be sent.
#[derive(Debug)]
pub struct FileSource {
    file: File,
    path: PathBuf,
    stamp: Stamp,
}

fn kind_of(m: &Metadata) -> &'static str {
    let t = m.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

impl FileSource {
    /// Open `path` for sending. Fails, before anything is sent, on a missing
    /// or unreadable file, a directory, a device, a FIFO or a socket.
    pub fn open(path: &Path) -> Result<FileSource, Error> {
        let open_err = |source| Error::FileOpen { path: path.to_path_buf(), source };
        let meta = std::fs::metadata(path).map_err(open_err)?;
        if !meta.file_type().is_file() {
            return Err(Error::NotARegularFile { path: path.to_path_buf(), kind: kind_of(&meta) });
        }
        let file = File::open(path).map_err(open_err)?;
        let meta = file.metadata().map_err(open_err)?;
        Ok(FileSource { file, path: path.to_path_buf(), stamp: Stamp::of(&meta) })
    }

    /// A file the caller opened already (checked to be a regular file).
    pub fn from_file(file: File, path: PathBuf) -> Result<FileSource, Error> {
        let meta = file.metadata().map_err(|source| Error::FileOpen { path: path.clone(), source })?;
        if !meta.file_type().is_file() {
            return Err(Error::NotARegularFile { path, kind: kind_of(&meta) });
        }
        Ok(FileSource { file, stamp: Stamp::of(&meta), path })
    }

    /// Another handle on the same open file.
    pub fn try_clone(&self) -> Result<FileSource, Error> {
        let file = self.file.try_clone().map_err(|source| Error::FileOpen { path: self.path.clone(), source })?;
        Ok(FileSource { file, path: self.path.clone(), stamp: self.stamp })
    }

    /// Size in bytes when it was opened.
    pub fn len(&self) -> u64 {
        self.stamp.len
    }

    /// Whether the file was empty when opened.
    pub fn is_empty(&self) -> bool {
        self.stamp.len == 0
    }

    /// The path it was opened by.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn file(&self) -> &File {
        &self.file
    }

    /// Fail if the file's size or times differ from when it was opened.
    pub(crate) fn check_unchanged(&self, sent: u64) -> Result<(), Error> {
        let now = self
            .file
            .metadata()
            .map(|m| Stamp::of(&m))
            .map_err(|source| Error::FileOpen { path: self.path.clone(), source })?;
        let what = if now.len != self.stamp.len {
            format!("its size went from {} to {} bytes", self.stamp.len, now.len)
        } else if now.mtime != self.stamp.mtime || now.ctime != self.stamp.ctime {
            "it was modified".to_string()
        } else {
            return Ok(());
        };
        Err(Error::FileChanged { path: self.path.clone(), what, sent })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn missing_files_directories_and_devices_are_refused_with_their_kind() {
        let dir = tempfile::tempdir().unwrap();
        let missing = FileSource::open(&dir.path().join("nope")).unwrap_err().to_string();
        assert!(missing.contains("no such file"), "{missing}");
        let d = FileSource::open(dir.path()).unwrap_err().to_string();
        assert!(d.contains("it is a directory"), "{d}");
        let dev = FileSource::open(Path::new("/dev/null")).unwrap_err().to_string();
        assert!(dev.contains("a character device"), "{dev}");
    }

    #[test]
    fn a_file_that_grows_or_is_rewritten_is_noticed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"hello").unwrap();
        let src = FileSource::open(&p).unwrap();
        assert_eq!(src.len(), 5);
        src.check_unchanged(0).unwrap();
        std::fs::OpenOptions::new().append(true).open(&p).unwrap().write_all(b"!").unwrap();
        let e = src.check_unchanged(3).unwrap_err().to_string();
        assert!(e.contains("size went from 5 to 6") && e.contains("after 3 bytes"), "{e}");
    }
}

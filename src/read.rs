//! Reading the files kindling is given, with limits: a size cap (so `/dev/zero` or a
//! 20 GB file is refused, not read until memory runs out), regular files only where a
//! planted symlink could make kindling print something else (`/proc/self/environ`), and
//! UTF-8 errors that say where the bad byte is.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The largest spec, profile file or `SHA256SUMS` kindling reads.
pub const SPEC_LIMIT: u64 = 4 << 20;
/// The largest Ignition config kindling reads (Ignition configs with inline files are
/// rarely above a few megabytes).
pub const CONFIG_LIMIT: u64 = 64 << 20;

/// Why a file could not be read.
#[derive(Debug)]
pub enum ReadError {
    Io(std::io::Error),
    TooLarge { limit: u64 },
    NotRegular,
    NotUtf8 { line: u64, column: u64 },
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Io(error) => write!(f, "{error}"),
            ReadError::TooLarge { limit } => {
                write!(f, "it is larger than kindling's limit of {}", size(*limit))
            }
            ReadError::NotRegular => {
                f.write_str("it is not a regular file (a symlink, device or directory)")
            }
            ReadError::NotUtf8 { line, column } => {
                write!(f, "it is not UTF-8 text (line {line}, column {column})")
            }
        }
    }
}

/// `4 MiB`, `64 MiB`, or bytes.
pub fn size(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

/// Whether a diagnostic may quote lines of a file a spec named (a snippet, a profile file):
/// only a regular file reached without a symlink, outside /proc, /sys and /dev. Anything
/// else (`/proc/self/environ`, a link a pull request planted to `~/.git-credentials`) is
/// pointed at by line and column, never printed.
pub fn may_quote(path: &Path) -> bool {
    let plain = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_file());
    let real = std::fs::canonicalize(path);
    let virtual_tree = real.as_ref().is_ok_and(|real| {
        ["/proc", "/sys", "/dev"]
            .iter()
            .any(|tree| real.starts_with(tree))
    });
    let through_link = real.as_ref().is_ok_and(|real| {
        std::path::absolute(path).is_ok_and(|given| {
            let parent_real = given.parent().and_then(|p| std::fs::canonicalize(p).ok());
            parent_real.is_none_or(|parent| !real.starts_with(parent))
        })
    });
    plain && real.is_ok() && !virtual_tree && !through_link
}

/// Reads at most `limit` bytes of UTF-8 text from `path` (following symlinks).
pub fn text(path: &Path, limit: u64) -> Result<String, ReadError> {
    utf8(file_bytes(
        std::fs::File::open(path).map_err(ReadError::Io)?,
        limit,
    )?)
}

/// Like `text`, but refuses anything that is not a regular file, a symlink included.
pub fn regular_text(path: &Path, limit: u64) -> Result<String, ReadError> {
    utf8(regular_bytes(path, limit)?)
}

/// At most `limit` bytes of the regular file at `path`, never through a symlink.
pub fn regular_bytes(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|error| match error.raw_os_error() {
            Some(libc::ELOOP) => ReadError::NotRegular,
            _ => ReadError::Io(error),
        })?;
    let meta = file.metadata().map_err(ReadError::Io)?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular);
    }
    read_up_to(file, limit, size_hint(&meta, limit))
}

/// At most `limit` bytes of the regular file at `path` or at the end of its symlinks (a
/// directory or device is refused).
pub fn bytes(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(ReadError::Io)?;
    let meta = file.metadata().map_err(ReadError::Io)?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular);
    }
    read_up_to(file, limit, size_hint(&meta, limit))
}

/// At most `limit` bytes of an open file of any kind (a pipe or a device too).
pub fn file_bytes(file: std::fs::File, limit: u64) -> Result<Vec<u8>, ReadError> {
    let hint = file.metadata().map_or(0, |meta| size_hint(&meta, limit));
    read_up_to(file, limit, hint)
}

/// At most `limit` bytes of any reader (standard input, say).
pub fn bounded(reader: impl Read, limit: u64) -> Result<Vec<u8>, ReadError> {
    read_up_to(reader, limit, 0)
}

/// The room to reserve for reading a file of this size: its length and one byte to see the
/// end, so it is read in one call, not in reads doubling from 32 bytes. Nothing for a
/// non-regular file, whose length says nothing.
fn size_hint(meta: &std::fs::Metadata, limit: u64) -> usize {
    if meta.is_file() {
        usize::try_from(meta.len().min(limit) + 1).unwrap_or(0)
    } else {
        0
    }
}

fn read_up_to(reader: impl Read, limit: u64, capacity: usize) -> Result<Vec<u8>, ReadError> {
    let mut bytes = Vec::with_capacity(capacity);
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge { limit });
    }
    Ok(bytes)
}

/// The bytes as a String, or where the first byte that is not UTF-8 is.
pub fn utf8(bytes: Vec<u8>) -> Result<String, ReadError> {
    String::from_utf8(bytes).map_err(|error| {
        let valid = error.utf8_error().valid_up_to();
        let before = &error.as_bytes()[..valid];
        let line = before.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |at| at + 1);
        // `before` is valid UTF-8 up to `valid`, so this cannot fail; count characters.
        let column = std::str::from_utf8(&before[line_start..])
            .map_or(1, |text| text.chars().count() as u64 + 1);
        ReadError::NotUtf8 { line, column }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_input_is_refused_without_reading_it_all() {
        let zeros = std::io::repeat(0).take(1 << 40);
        assert!(matches!(
            bounded(zeros, 1024),
            Err(ReadError::TooLarge { limit: 1024 })
        ));
    }

    #[test]
    fn bad_utf8_is_located() {
        let error = utf8(b"ab\ncd\xffe".to_vec()).unwrap_err();
        assert!(matches!(error, ReadError::NotUtf8 { line: 2, column: 3 }));
    }

    #[test]
    fn symlinks_and_devices_are_not_regular_files() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink("/etc/hostname", &link).unwrap();
        assert!(matches!(
            regular_bytes(&link, 10),
            Err(ReadError::NotRegular)
        ));
        assert!(matches!(
            regular_bytes(Path::new("/dev/zero"), 10),
            Err(ReadError::NotRegular)
        ));
    }

    /// The size hint changes how a file is read, never what is read: a file at the limit is
    /// read whole and one byte over is refused, by every way in, and a file that grows
    /// after its size was taken is still read to its end.
    #[test]
    fn files_are_read_whole_up_to_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        for (len, limit) in [
            (0, 10),
            (1, 10),
            (10, 10),
            (11, 10),
            (4096, 4096),
            (4097, 4096),
        ] {
            let data: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            std::fs::write(&path, &data).unwrap();
            let results = [
                bytes(&path, limit),
                regular_bytes(&path, limit),
                file_bytes(std::fs::File::open(&path).unwrap(), limit),
                text(&path, limit).map(String::into_bytes),
            ];
            for result in results {
                match result {
                    Ok(read) => assert!(len as u64 <= limit && read == data, "{len}/{limit}"),
                    Err(ReadError::TooLarge { .. }) => assert!(len as u64 > limit, "{len}/{limit}"),
                    Err(other) => panic!("{len}/{limit}: {other}"),
                }
            }
        }
        let file = std::fs::File::open(&path).unwrap();
        let hint = size_hint(&file.metadata().unwrap(), 1 << 20);
        std::fs::write(&path, vec![b'z'; 9000]).unwrap();
        assert_eq!(read_up_to(file, 1 << 20, hint).unwrap().len(), 9000);
    }
}

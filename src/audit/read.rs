//! Reading audit files as a stream of whole-line chunks: plain or gzip
//! (rotated by logrotate with `compress`), in bounded memory.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// Size of one chunk handed to a verifier worker; a few are in flight.
pub const CHUNK: usize = 128 << 10;

/// Longest line the reader accepts (a record is at most 16 KiB).
pub const MAX_LINE: usize = super::log::MAX_RECORD + 1;

/// Opens `path` for reading: non-blocking open (a FIFO is refused, not waited
/// on), a regular file, transparently gunzipped when it starts with the gzip
/// magic. `Ok(None)` when it does not exist.
pub fn open(path: &Path) -> Result<Option<Box<dyn Read + Send>>, String> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(
            (nix::fcntl::OFlag::O_NONBLOCK
                | nix::fcntl::OFlag::O_CLOEXEC
                | nix::fcntl::OFlag::O_NOFOLLOW)
                .bits(),
        )
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(nix::libc::ELOOP) => {
            return Err("is a symbolic link (name the file itself)".into())
        }
        Err(e) => return Err(format!("cannot read: {}", e.kind())),
    };
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    if crate::os::files::is_kernel_fs(&file) {
        return Err("is on procfs or sysfs".into());
    }
    let mut magic = [0u8; 2];
    let n = read_up_to(&file, &mut magic)?;
    let file = reopen_at_start(file)?;
    if n == 2 && magic == [0x1f, 0x8b] {
        let gz = flate2::read::MultiGzDecoder::new(BufReader::with_capacity(64 << 10, file));
        Ok(Some(Box::new(gz)))
    } else {
        Ok(Some(Box::new(file)))
    }
}

/// What [`next_line`] read.
pub enum Line {
    /// A line (with its newline, unless the file ends without one).
    Text,
    /// A line longer than the bound: consumed, not kept.
    TooLong,
    End,
}

/// Reads one line (with its newline) into `buf`; a line longer than `max`
/// bytes is consumed and reported as `TooLong`, never buffered whole.
pub fn next_line<R: BufRead>(r: &mut R, buf: &mut Vec<u8>, max: usize) -> std::io::Result<Line> {
    buf.clear();
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    let n = Read::take(&mut *r, limit).read_until(b'\n', buf)?;
    if n == 0 {
        return Ok(Line::End);
    }
    if buf.last() == Some(&b'\n') || n <= max {
        return Ok(Line::Text);
    }
    buf.clear();
    loop {
        let (done, used) = match r.fill_buf() {
            Ok([]) => return Ok(Line::TooLong),
            Ok(avail) => match avail.iter().position(|&b| b == b'\n') {
                Some(i) => (true, i + 1),
                None => (false, avail.len()),
            },
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        r.consume(used);
        if done {
            return Ok(Line::TooLong);
        }
    }
}

fn read_up_to(mut f: &File, buf: &mut [u8]) -> Result<usize, String> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(n)
}

fn reopen_at_start(mut f: File) -> Result<File, String> {
    use std::io::Seek;
    f.seek(std::io::SeekFrom::Start(0))
        .map_err(|e| e.to_string())?;
    Ok(f)
}

/// Splits a byte stream into chunks that end at a line boundary. The last
/// chunk may end without a newline (a truncated file): [`Chunks::next`]
/// returns it as is and the verifier reports it.
pub struct Chunks {
    src: Box<dyn Read + Send>,
    carry: Vec<u8>,
    done: bool,
}

impl Chunks {
    pub fn new(src: Box<dyn Read + Send>) -> Chunks {
        Chunks {
            src,
            carry: Vec::new(),
            done: false,
        }
    }

    /// The next chunk of whole lines, or `None` at the end.
    pub fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, String> {
        if self.done {
            return Ok(None);
        }
        let mut buf = std::mem::take(&mut self.carry);
        buf.reserve(CHUNK + MAX_LINE);
        let start = buf.len();
        buf.resize(start + CHUNK, 0);
        let mut filled = start;
        while filled < buf.len() {
            match self.src.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(k) => filled += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("read: {e}")),
            }
        }
        buf.truncate(filled);
        if filled < start + CHUNK {
            // End of the stream: whatever is left, complete or not.
            self.done = true;
            return Ok(if buf.is_empty() { None } else { Some(buf) });
        }
        match buf.iter().rposition(|&b| b == b'\n') {
            Some(i) => {
                self.carry = buf[i + 1..].to_vec();
                if self.carry.len() > MAX_LINE {
                    return Err(format!("a line longer than {MAX_LINE} bytes"));
                }
                buf.truncate(i + 1);
                Ok(Some(buf))
            }
            None => Err(format!("a line longer than {MAX_LINE} bytes")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_end_at_line_boundaries_and_gzip_is_read() {
        let text: String = (0..50_000).map(|i| format!("line {i}\n")).collect();
        let d = tempfile::tempdir().unwrap();
        let plain = d.path().join("a");
        std::fs::write(&plain, &text).unwrap();
        let gz = d.path().join("a.gz");
        let mut enc = flate2::write::GzEncoder::new(
            std::fs::File::create(&gz).unwrap(),
            flate2::Compression::fast(),
        );
        std::io::Write::write_all(&mut enc, text.as_bytes()).unwrap();
        enc.finish().unwrap();
        for p in [&plain, &gz] {
            let mut c = Chunks::new(open(p).unwrap().unwrap());
            let mut all = Vec::new();
            while let Some(ch) = c.next_chunk().unwrap() {
                assert_eq!(ch.last(), Some(&b'\n'));
                all.extend(ch);
            }
            assert_eq!(all, text.as_bytes());
        }
        assert!(open(&d.path().join("missing")).unwrap().is_none());
    }
}

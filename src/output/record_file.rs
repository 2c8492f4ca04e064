//! Where a recording goes: a file (zstd-compressed when its name ends in
//! `.zst`) or standard output, and the header it starts with.

use crate::stream::{FORMAT, Header, VERSION, timestamp};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::SystemTime;

pub enum Output {
    Plain(BufWriter<Box<dyn Write>>),
    Compressed(zstd::Encoder<'static, BufWriter<File>>),
}

/// Opens `path` (`-`: standard output) for a recording.
pub fn open(path: &Path) -> Result<Output, String> {
    if path == Path::new("-") {
        return Ok(Output::Plain(BufWriter::new(Box::new(io::stdout()))));
    }
    let file = crate::source::files::create_for_user(path).map_err(|e| {
        format!(
            "cannot write the recording {}: {}",
            path.display(),
            crate::source::error::os_words(&e)
        )
    })?;
    if path.extension().is_some_and(|e| e == "zst") {
        let encoder = zstd::Encoder::new(BufWriter::new(file), 3)
            .map_err(|e| format!("cannot start compressing {}: {e}", path.display()))?;
        return Ok(Output::Compressed(encoder));
    }
    Ok(Output::Plain(BufWriter::new(Box::new(file))))
}

/// A failed write named with its file and, for a full disk, the fix.
pub fn explain_write(path: &Path, err: anyhow::Error) -> anyhow::Error {
    let Some(io) = err.downcast_ref::<io::Error>() else {
        return err;
    };
    let fix = match io.kind() {
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => {
            ": free some space, or record to another disk"
        }
        _ => "",
    };
    let file = if path == Path::new("-") {
        "standard output".to_string()
    } else {
        path.display().to_string()
    };
    anyhow::anyhow!(
        "cannot write the recording {file}: {}{fix}; what was written before is kept",
        crate::source::error::os_words(io)
    )
}

impl Output {
    /// Writes what is buffered and, compressed, the end of the frame: a
    /// recording stopped by Ctrl-C is whole.
    pub fn finish(self) -> anyhow::Result<()> {
        match self {
            Output::Plain(mut w) => w.flush()?,
            Output::Compressed(e) => e.finish()?.flush()?,
        }
        Ok(())
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Output::Plain(w) => w.write(buf),
            Output::Compressed(e) => e.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Output::Plain(w) => w.flush(),
            Output::Compressed(e) => e.flush(),
        }
    }
}

/// The stream's first line for a recording made now.
pub fn header(source: &str, filter: &str, port: Option<u16>) -> Header {
    let (host, kernel) = crate::source::host::describe();
    Header {
        format: FORMAT.into(),
        version: VERSION,
        minor: crate::stream::MINOR,
        host,
        kernel,
        start: timestamp(SystemTime::now()),
        source: source.into(),
        filter: filter.into(),
        port,
    }
}

/// A recording read back whole (plain or zstd): what it holds up to the
/// first damaged line. A file that is not a recording at all is an error.
pub fn read(path: &Path) -> Result<crate::stream::Read, String> {
    let cannot = |e: io::Error| {
        format!(
            "cannot read the recording {}: {}",
            path.display(),
            crate::source::error::os_words(&e)
        )
    };
    let mut file = io::BufReader::new(std::fs::File::open(path).map_err(cannot)?);
    let zstd_magic = [0x28, 0xb5, 0x2f, 0xfd];
    let compressed = io::BufRead::fill_buf(&mut file)
        .map_err(cannot)?
        .starts_with(&zstd_magic);
    // Read as it decompresses, a line at a time: never the whole file.
    let read = if compressed {
        let decoder = zstd::Decoder::with_buffer(file)
            .map_err(|e| format!("cannot decompress {}: {e}", path.display()))?;
        crate::stream::read_from(io::BufReader::new(decoder))
    } else {
        crate::stream::read_from(file)
    };
    if read.header.is_none() {
        let why = read
            .damage
            .map_or_else(|| "it is empty".to_string(), |d| d.why);
        return Err(format!(
            "{} is not a tcpscope recording ({why}): make one with tcpscope record FILE",
            path.display()
        ));
    }
    Ok(read)
}

//! Opening a log file as text, decompressing in-process (liblzma, bzip2,
//! flate2): no `xz` or `gzip` program is needed to read the archives.
//!
//! Archives are decoded on a thread of their own, a few chunks ahead of
//! the reader, so decompressing and splitting records overlap as in
//! `xzcat | cat`. A compress_on_write live file is decoded member by member
//! instead of as one stream: the daemon may be appending a member while we
//! read, and an incomplete last member is "not yet written", not corruption.
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::sync::mpsc;

use super::files::{Codec, GROUP_HINT, LogFile};

/// Read-buffer size: large reads keep the decoders busy.
const BUF: usize = 256 * 1024;

/// Opens `file` for reading, with the group hint on a permission error.
pub fn open(path: &Path) -> io::Result<File> {
    File::open(path).map_err(|e| {
        if e.kind() == io::ErrorKind::PermissionDenied {
            io::Error::new(e.kind(), format!("{e}; {GROUP_HINT}"))
        } else {
            e
        }
    })
}

/// Decoded chunks waiting for the reader: enough to keep both threads busy.
const AHEAD: usize = 4;

/// The decoded text of `file` as a buffered reader.
pub fn reader(file: &LogFile) -> io::Result<Box<dyn BufRead + Send>> {
    let f = open(&file.path)?;
    Ok(match file.codec {
        Codec::Plain => Box::new(BufReader::with_capacity(BUF, f)),
        Codec::Gzip if file.start.is_none() => {
            // The live compress_on_write file: whole members only.
            let mut compressed = Vec::new();
            BufReader::new(f).read_to_end(&mut compressed)?;
            let (text, _) = gzip_members(&compressed)?;
            Box::new(io::Cursor::new(text))
        }
        Codec::Gzip => read_ahead(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(
            BUF, f,
        ))),
        Codec::Xz => read_ahead(liblzma::read::XzDecoder::new_multi_decoder(
            BufReader::with_capacity(BUF, f),
        )),
        Codec::Bzip2 => read_ahead(bzip2::read::MultiBzDecoder::new(BufReader::with_capacity(
            BUF, f,
        ))),
    })
}

/// Runs `decoder` on its own thread; chunks (or the error that ended it)
/// come through a bounded channel. Dropping the reader stops the thread at
/// its next send.
fn read_ahead(mut decoder: impl Read + Send + 'static) -> Box<dyn BufRead + Send> {
    let (tx, rx) = mpsc::sync_channel::<io::Result<Vec<u8>>>(AHEAD);
    std::thread::spawn(move || {
        loop {
            let mut chunk = vec![0; BUF];
            let mut filled = 0;
            // Fill whole chunks: decoders return small pieces.
            let result = loop {
                match decoder.read(&mut chunk[filled..]) {
                    Ok(0) => break Ok(true),
                    Ok(n) => {
                        filled += n;
                        if filled == chunk.len() {
                            break Ok(false);
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => break Err(e),
                }
            };
            chunk.truncate(filled);
            if !chunk.is_empty() && tx.send(Ok(chunk)).is_err() {
                return;
            }
            match result {
                Ok(false) => {}
                Ok(true) => return,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            }
        }
    });
    Box::new(Chunks {
        rx,
        current: Vec::new(),
        pos: 0,
    })
}

/// The receiving end of [`read_ahead`].
struct Chunks {
    rx: mpsc::Receiver<io::Result<Vec<u8>>>,
    current: Vec<u8>,
    pos: usize,
}

impl Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = buf.len().min(avail.len());
        buf[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

/// Buffered already: the chunks are the buffer, so nothing is copied twice.
impl BufRead for Chunks {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.pos == self.current.len() {
            match self.rx.recv() {
                Ok(Ok(chunk)) => {
                    self.current = chunk;
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                // The decoder finished.
                Err(_) => return Ok(&[]),
            }
        }
        Ok(&self.current[self.pos..])
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.current.len());
    }
}

/// Decodes the complete gzip members at the start of `data`: (text, bytes
/// of `data` consumed). An incomplete last member is left for later; a
/// member that is complete but wrong is an error.
pub fn gzip_members(data: &[u8]) -> io::Result<(Vec<u8>, usize)> {
    let mut text = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let mut member = rest;
        let mut out = Vec::new();
        let result = flate2::bufread::GzDecoder::new(&mut member).read_to_end(&mut out);
        match result {
            Ok(_) => {
                text.extend_from_slice(&out);
                rest = member;
            }
            // The daemon is still appending this member.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e),
        }
    }
    Ok((text, data.len() - rest.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn member(text: &str) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(text.as_bytes()).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn whole_members_are_decoded_and_a_torn_one_is_left() {
        let mut data = member("one\n");
        data.extend(member("two\n"));
        let whole = data.len();
        let third = member("three\n");
        data.extend(&third[..third.len() - 3]);
        let (text, used) = gzip_members(&data).unwrap();
        assert_eq!(text, b"one\ntwo\n");
        assert_eq!(used, whole);
    }

    #[test]
    fn a_corrupt_member_is_an_error() {
        let mut data = member("one\n");
        let n = data.len();
        data[n - 6] ^= 0xff; // the CRC
        assert!(gzip_members(&data).is_err());
    }
}

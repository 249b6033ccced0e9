//! Opening a log file as text, decompressing in-process (liblzma, bzip2,
//! flate2): no `xz` or `gzip` program is needed to read the archives.
//!
//! A compress_on_write live file is decoded member by member instead of as
//! one stream: the daemon may be appending a member while we read, and an
//! incomplete last member is "not yet written", not corruption.
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

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

/// The decoded text of `file` as a buffered reader.
pub fn reader(file: &LogFile) -> io::Result<Box<dyn BufRead>> {
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
        Codec::Gzip => Box::new(BufReader::with_capacity(
            BUF,
            flate2::read::MultiGzDecoder::new(BufReader::with_capacity(BUF, f)),
        )),
        Codec::Xz => Box::new(BufReader::with_capacity(
            BUF,
            liblzma::read::XzDecoder::new_multi_decoder(BufReader::with_capacity(BUF, f)),
        )),
        Codec::Bzip2 => Box::new(BufReader::with_capacity(
            BUF,
            bzip2::read::MultiBzDecoder::new(BufReader::with_capacity(BUF, f)),
        )),
    })
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

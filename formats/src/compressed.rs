//! Files that may be zstd-compressed (`records.csv.zst`, `load.json.zst`), in one place. A reader tells a
//! zstd stream from plain text by its magic number, so every reader of records or loads accepts either
//! form whatever the file is called; a writer compresses when the path it writes ends in `.zst`.
//!
//! A zstd file that ends in the middle of a frame (a copy cut short, a disk that filled up) is refused,
//! naming how far the stream went, never read as a shorter file.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The extension of a zstd-compressed file.
pub const ZSTD_EXTENSION: &str = "zst";
/// The first four bytes of every zstd frame.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
/// zstd's level for what we write: fast enough to keep up with a records thread, ~8× on records.
const LEVEL: i32 = 3;

/// How a run writes its load and records (`--compress`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// Plain text: what vSwarm's tools read.
    #[default]
    None,
    /// zstd: `load.json.zst`, `records.csv.zst`.
    Zstd,
}

impl Compression {
    /// The names `--compress` takes.
    pub const NAMES: [&'static str; 2] = ["none", "zstd"];

    /// Parses `none` or `zstd`.
    pub fn parse(text: &str) -> Result<Compression, String> {
        match text {
            "none" => Ok(Compression::None),
            "zstd" => Ok(Compression::Zstd),
            other => Err(format!(
                "`{other}` is not a compression: {}",
                Compression::NAMES.join(" or ")
            )),
        }
    }

    /// Its name, as `--compress` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Zstd => "zstd",
        }
    }

    /// The path a file meant for `plain` is written to: `plain`, or with `.zst` appended if compressed
    /// (and not already there).
    pub fn path(self, plain: &Path) -> PathBuf {
        match self {
            Compression::Zstd if !is_zstd_path(plain) => zstd_path(plain),
            _ => plain.to_owned(),
        }
    }
}

/// Whether `path` names a zstd-compressed file (it ends in `.zst`).
pub fn is_zstd_path(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == ZSTD_EXTENSION)
}

/// `path` with `.zst` appended (`records.csv` → `records.csv.zst`).
pub fn zstd_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(ZSTD_EXTENSION);
    PathBuf::from(name)
}

/// Opens `path` for reading: its text, decompressed if it is a zstd stream.
pub fn open(path: &Path) -> io::Result<Box<dyn BufRead + Send>> {
    let mut file = File::open(path)?;
    let mut magic = Vec::with_capacity(ZSTD_MAGIC.len());
    (&mut file)
        .take(ZSTD_MAGIC.len() as u64)
        .read_to_end(&mut magic)?;
    file.rewind()?;
    if magic == ZSTD_MAGIC {
        let total = file.metadata()?.len();
        Ok(Box::new(BufReader::with_capacity(
            1 << 20,
            Decompressed {
                decoder: zstd::stream::read::Decoder::new(file)?,
                total,
            },
        )))
    } else {
        Ok(Box::new(BufReader::with_capacity(1 << 20, file)))
    }
}

/// `input` (a stream: a load sent over the network) for reading: its text, decompressed if it is a zstd
/// stream (known by its first bytes, as [`open`] knows a file).
pub fn reader(input: Box<dyn Read + Send>) -> io::Result<Box<dyn BufRead + Send>> {
    let mut input = BufReader::with_capacity(1 << 20, input);
    // A stream's first read may be short: read until the magic can be told, or the stream ends.
    let mut head = Vec::new();
    while head.len() < ZSTD_MAGIC.len() {
        let got = input.fill_buf()?;
        if got.is_empty() {
            break;
        }
        let take = got.len().min(ZSTD_MAGIC.len() - head.len());
        head.extend_from_slice(&got[..take]);
        input.consume(take);
    }
    let whole = io::Cursor::new(head.clone()).chain(input);
    if head == ZSTD_MAGIC {
        Ok(Box::new(BufReader::with_capacity(
            1 << 20,
            zstd::stream::read::Decoder::new(whole)?,
        )))
    } else {
        Ok(Box::new(BufReader::with_capacity(1 << 20, whole)))
    }
}

/// A zstd stream whose errors say how far into the compressed file they were met.
struct Decompressed {
    decoder: zstd::stream::read::Decoder<'static, BufReader<File>>,
    total: u64,
}

impl Read for Decompressed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.decoder.read(buf).map_err(|e| {
            // How far the decoder has read into the file: the file's own position.
            let mut file: &File = self.decoder.get_ref().get_ref();
            let at = file.stream_position().unwrap_or(self.total);
            let what = if at >= self.total {
                format!(
                    "the zstd stream ends at byte {} in the middle of a frame: the file is truncated",
                    self.total
                )
            } else {
                format!(
                    "the zstd stream is broken at or before byte {at} of {}: the file is corrupted",
                    self.total
                )
            };
            io::Error::new(io::ErrorKind::InvalidData, format!("{what} ({e})"))
        })
    }
}

/// A file being written plainly or zstd-compressed; [`Compressed::finish`] ends the stream.
pub enum Compressed<W: Write> {
    /// Written as it is.
    Plain(W),
    /// Compressed on the way.
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write> Compressed<W> {
    /// Writes to `out`, compressed if `path` (the file `out` writes) ends in `.zst`.
    pub fn for_path(out: W, path: &Path) -> io::Result<Self> {
        Ok(if is_zstd_path(path) {
            Compressed::Zstd(zstd::stream::write::Encoder::new(out, LEVEL)?)
        } else {
            Compressed::Plain(out)
        })
    }

    /// Ends the stream (a zstd frame's last block and checksum) and returns the file, flushed.
    pub fn finish(self) -> io::Result<W> {
        let mut out = match self {
            Compressed::Plain(out) => out,
            Compressed::Zstd(encoder) => encoder.finish()?,
        };
        out.flush()?;
        Ok(out)
    }
}

impl<W: Write> Write for Compressed<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Compressed::Plain(out) => out.write(buf),
            Compressed::Zstd(encoder) => encoder.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Compressed::Plain(out) => out.write_all(buf),
            Compressed::Zstd(encoder) => encoder.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Compressed::Plain(out) => out.flush(),
            Compressed::Zstd(encoder) => encoder.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(path: &Path, text: &[u8]) {
        let mut out = Compressed::for_path(File::create(path).unwrap(), path).unwrap();
        out.write_all(text).unwrap();
        out.finish().unwrap();
    }

    fn read_all(path: &Path) -> io::Result<Vec<u8>> {
        let mut text = Vec::new();
        open(path)?.read_to_end(&mut text)?;
        Ok(text)
    }

    /// A stream that gives one byte a read, as a network may.
    struct Trickle(io::Cursor<Vec<u8>>);

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(1);
            self.0.read(&mut buf[..n])
        }
    }

    #[test]
    fn a_stream_reads_as_its_file_plain_or_zstd_however_it_arrives() {
        let dir = tempfile::tempdir().unwrap();
        let text: Vec<u8> = (0..50_000u32)
            .flat_map(|i| format!("{i},").into_bytes())
            .collect();
        for (name, short) in [("plain.json", &b"[]"[..]), ("packed.json.zst", &b"[]"[..])] {
            let path = dir.path().join(name);
            for body in [&text[..], short, &b""[..]] {
                written(&path, body);
                let sent = std::fs::read(&path).unwrap();
                let mut got = Vec::new();
                reader(Box::new(Trickle(io::Cursor::new(sent))))
                    .unwrap()
                    .read_to_end(&mut got)
                    .unwrap();
                assert_eq!(got, body, "{name}");
            }
        }
    }

    #[test]
    fn either_form_reads_back_the_same_text() {
        let dir = tempfile::tempdir().unwrap();
        let text: Vec<u8> = (0..50_000)
            .flat_map(|i: u32| format!("{i},x,{}\n", i * 7).into_bytes())
            .collect();
        let plain = dir.path().join("a.csv");
        let packed = zstd_path(&plain);
        assert_eq!(packed, dir.path().join("a.csv.zst"));
        written(&plain, &text);
        written(&packed, &text);
        assert_eq!(std::fs::read(&plain).unwrap(), text);
        assert_eq!(std::fs::read(&packed).unwrap()[..4], ZSTD_MAGIC);
        assert!(std::fs::metadata(&packed).unwrap().len() * 3 < text.len() as u64);
        assert_eq!(read_all(&plain).unwrap(), text);
        assert_eq!(read_all(&packed).unwrap(), text);
        // Told apart by content, not by name: a short plain file, and an empty one.
        std::fs::write(&plain, "ab").unwrap();
        assert_eq!(read_all(&plain).unwrap(), b"ab");
        std::fs::write(&plain, "").unwrap();
        assert_eq!(read_all(&plain).unwrap(), b"");
    }

    #[test]
    fn a_truncated_stream_is_refused_naming_where_it_ends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv.zst");
        let text: Vec<u8> = (0..200_000)
            .flat_map(|i: u32| format!("{i},{}\n", i.wrapping_mul(2_654_435_761)).into_bytes())
            .collect();
        written(&path, &text);
        let whole = std::fs::read(&path).unwrap();
        let cut = whole.len() * 2 / 3;
        std::fs::write(&path, &whole[..cut]).unwrap();
        let e = read_all(&path).unwrap_err().to_string();
        assert!(
            e.contains(&format!("ends at byte {cut} in the middle of a frame")),
            "{e}"
        );
        // Cut just before the end (the checksum), too.
        std::fs::write(&path, &whole[..whole.len() - 2]).unwrap();
        let e = read_all(&path).unwrap_err().to_string();
        assert!(e.contains("truncated"), "{e}");
    }
}

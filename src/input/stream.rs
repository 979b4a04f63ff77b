//! One pass over a text input's bytes (SPEC 6, "Determinism and safety"): every input is read once,
//! so a FIFO works like a file. The bytes arrive as UTF-8 (decoded ahead of this stream when the file
//! is compressed or in another encoding, see `super::text`; the summary's hash is of the stored bytes,
//! taken before). As they go by they are checked to be UTF-8 (the first bad byte
//! is fatal, named by its offset), and kept
//! from the start of the current record on, so that a malformed row's text is shown without reading
//! the file again. A record may not grow past [`MAX_RECORD_BYTES`]: `/dev/zero` named as a CSV file
//! is a fatal error, not a run until memory runs out.

use std::cell::Cell;
use std::collections::VecDeque;
use std::io::{self, Read};
use std::sync::Arc;

/// The largest CSV record cpor reads (SPEC 6).
pub const MAX_RECORD_BYTES: u64 = 64 << 20;

/// Bytes read from the file at a time.
const CHUNK_BYTES: usize = 1 << 20;

/// A chunk of checked text, from its offset in the text on (kept while a record may need it).
type Chunk = Arc<Vec<u8>>;

/// A reader over a text file's bytes that checks and keeps them as described above.
pub struct TextStream<R> {
    source: R,
    /// Chunks from the one holding `mark` to the newest, each with its file offset. Every chunk ends
    /// on a character boundary: an incomplete UTF-8 sequence at a chunk's end moves to the next.
    chunks: VecDeque<(u64, Chunk)>,
    /// Bytes of the newest chunk already handed out.
    served: usize,
    /// The start of an incomplete UTF-8 sequence left at the end of the last read.
    carried: Vec<u8>,
    /// File offset just past the newest chunk.
    end: u64,
    /// File offset where the record being read starts; bytes before it are no longer kept.
    mark: Cell<u64>,
    finished: bool,
}

impl<R: Read> TextStream<R> {
    pub fn new(source: R) -> TextStream<R> {
        TextStream {
            source,
            chunks: VecDeque::new(),
            served: 0,
            carried: Vec::new(),
            end: 0,
            mark: Cell::new(0),
            finished: false,
        }
    }

    /// Tells the stream that a record starts at file offset `offset`: earlier bytes may go.
    pub fn mark(&self, offset: u64) {
        self.mark.set(offset);
    }

    /// The bytes of the file from `start` to `end`, if still kept (they are from the mark on).
    pub fn text(&self, start: u64, end: u64) -> Option<String> {
        let mut bytes = Vec::new();
        let mut covered = start;
        for (offset, chunk) in &self.chunks {
            let chunk_end = offset + chunk.len() as u64;
            if chunk_end <= covered || *offset >= end {
                continue;
            }
            if *offset > covered {
                return None;
            }
            // Both bounds lie within this chunk by the two checks above.
            let from = (covered - offset) as usize;
            let to = (end.min(chunk_end) - offset) as usize;
            bytes.extend_from_slice(chunk.get(from..to)?);
            covered = offset + to as u64;
        }
        (covered == end).then(|| String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Reads the next chunk from the source; `false` at the end of the file.
    fn fill(&mut self) -> io::Result<bool> {
        if self.finished {
            return Ok(false);
        }
        let mark = self.mark.get();
        if self.end.saturating_sub(mark) > MAX_RECORD_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the record starting at byte offset {mark} is longer than 64 MiB"),
            ));
        }
        while self.chunks.front().is_some_and(|(offset, chunk)| offset + chunk.len() as u64 <= mark) {
            self.chunks.pop_front();
        }
        let mut buffer = std::mem::take(&mut self.carried);
        let carried = buffer.len();
        buffer.resize(carried + CHUNK_BYTES, 0);
        let read = loop {
            match self.source.read(&mut buffer[carried..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        buffer.truncate(carried + read);
        let start = self.end - carried as u64;
        if read == 0 {
            self.finished = true;
            if buffer.is_empty() {
                return Ok(false);
            }
            // The file ends inside a character.
            return Err(not_utf8(start, &buffer));
        }
        match std::str::from_utf8(&buffer) {
            Ok(_) => {}
            // Only an incomplete sequence at the very end: it moves to the next chunk.
            Err(e) if e.error_len().is_none() => {
                self.carried = buffer.split_off(e.valid_up_to());
            }
            Err(e) => {
                return Err(not_utf8(start + e.valid_up_to() as u64, buffer.get(e.valid_up_to()..).unwrap_or(&[])))
            }
        }
        self.end = start + buffer.len() as u64 + self.carried.len() as u64;
        let chunk = Arc::new(buffer);
        self.chunks.push_back((start, chunk));
        self.served = 0;
        Ok(true)
    }
}

impl<R: Read> Read for TextStream<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some((_, chunk)) = self.chunks.back() {
                if let Some(rest) = chunk.get(self.served..).filter(|rest| !rest.is_empty()) {
                    let n = rest.len().min(out.len());
                    out[..n].copy_from_slice(&rest[..n]);
                    self.served += n;
                    return Ok(n);
                }
            }
            if !self.fill()? {
                return Ok(0);
            }
        }
    }
}

fn not_utf8(offset: u64, bytes: &[u8]) -> io::Error {
    let byte = bytes.first().map_or(String::new(), |b| format!(" (0x{b:02X})"));
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("not valid UTF-8: the byte at offset {offset}{byte} is not part of a UTF-8 character"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::testing::Trickle;

    fn read_all(bytes: &[u8], chunk: usize) -> io::Result<Vec<u8>> {
        let mut stream = TextStream::new(Trickle(bytes, chunk));
        let mut out = Vec::new();
        stream.read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn utf8_split_across_reads_passes_whole() {
        let text = "tenant,workload\né,ü€𝄞\n".repeat(3);
        for chunk in 1..8 {
            assert_eq!(read_all(text.as_bytes(), chunk).expect("valid"), text.as_bytes(), "chunk {chunk}");
        }
    }

    #[test]
    fn the_first_bad_byte_is_named_by_its_offset() {
        let mut bytes = b"a,b\nTeams".to_vec();
        bytes.push(0xff);
        bytes.extend_from_slice(b",x\n");
        for chunk in [1, 3, 64] {
            let error = read_all(&bytes, chunk).expect_err("invalid");
            assert!(error.to_string().contains("offset 9 (0xFF)"), "{error}");
        }
        // A character cut off by the end of the file.
        let error = read_all(&[b'a', 0xc3], 64).expect_err("cut");
        assert!(error.to_string().contains("offset 1"), "{error}");
    }

    #[test]
    fn kept_text_from_the_mark() {
        let text = b"0123456789abcdef";
        let mut stream = TextStream::new(Trickle(text, 5));
        let mut out = [0u8; 16];
        stream.read_exact(&mut out).expect("read");
        assert_eq!(stream.text(3, 12).as_deref(), Some("3456789ab"));
        stream.mark(12);
        let _ = stream.read(&mut out);
        assert_eq!(stream.text(0, 4), None, "before the mark, no longer kept");
    }
}

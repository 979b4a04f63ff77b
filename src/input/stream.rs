//! One pass over a text input's bytes (SPEC 6, "Determinism and safety"): every input is read once,
//! so a FIFO works like a file. The bytes arrive as UTF-8 (decoded ahead of this stream when the file
//! is compressed or in another encoding, see `super::text`; the summary's hash is of the stored bytes,
//! taken before). As they go by they are checked to be UTF-8 (the first bad byte
//! is fatal, named by its offset). A record may not grow past [`MAX_RECORD_BYTES`]: `/dev/zero`
//! named as a CSV file is a fatal error, not a run until memory runs out.

use std::io::{self, BufRead, Read};

/// The largest CSV record cpor reads (SPEC 6).
pub const MAX_RECORD_BYTES: u64 = 64 << 20;

/// Bytes read from the file at a time.
const CHUNK_BYTES: usize = 1 << 20;

/// A reader over a text file's bytes that checks them as described above. Its buffer is read into
/// again for each chunk (not zeroed again, not grown).
pub struct TextStream<R> {
    source: R,
    /// The current chunk, `buffer[served..checked]` still to be handed out, then `carried` bytes:
    /// the start of a UTF-8 sequence the read cut off, moved to the next chunk's start.
    buffer: Vec<u8>,
    served: usize,
    checked: usize,
    carried: usize,
    /// File offset just past the bytes read so far.
    end: u64,
    /// File offset where the record being read starts.
    mark: u64,
    finished: bool,
}

impl<R: Read> TextStream<R> {
    pub fn new(source: R) -> TextStream<R> {
        TextStream { source, buffer: Vec::new(), served: 0, checked: 0, carried: 0, end: 0, mark: 0, finished: false }
    }

    /// Tells the stream that a record starts at file offset `offset`: the record cap counts from there.
    pub fn mark(&mut self, offset: u64) {
        self.mark = offset;
    }

    /// Reads the next chunk from the source; `false` at the end of the file.
    fn fill(&mut self) -> io::Result<bool> {
        if self.finished {
            return Ok(false);
        }
        let mark = self.mark;
        if self.end.saturating_sub(mark) > MAX_RECORD_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the record starting at byte offset {mark} is longer than 64 MiB"),
            ));
        }
        let carried = self.carried;
        self.buffer.copy_within(self.checked..self.checked + carried, 0);
        if self.buffer.len() < carried + CHUNK_BYTES {
            self.buffer.resize(carried + CHUNK_BYTES, 0);
        }
        let read = loop {
            match self.source.read(&mut self.buffer[carried..carried + CHUNK_BYTES]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        let start = self.end - carried as u64;
        self.end += read as u64;
        let filled = self.buffer.get(..carried + read).unwrap_or(&[]);
        (self.served, self.checked, self.carried) = (0, filled.len(), 0);
        if read == 0 {
            self.finished = true;
            if filled.is_empty() {
                return Ok(false);
            }
            // The file ends inside a character.
            return Err(not_utf8(start, filled));
        }
        match std::str::from_utf8(filled) {
            Ok(_) => {}
            // Only an incomplete sequence at the very end: it moves to the next chunk.
            Err(e) if e.error_len().is_none() => {
                (self.checked, self.carried) = (e.valid_up_to(), filled.len() - e.valid_up_to());
            }
            Err(e) => {
                return Err(not_utf8(start + e.valid_up_to() as u64, filled.get(e.valid_up_to()..).unwrap_or(&[])))
            }
        }
        Ok(true)
    }
}

impl<R: Read> BufRead for TextStream<R> {
    /// The checked bytes not yet handed out; empty at the end of the file.
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.served == self.checked {
            if !self.fill()? {
                break;
            }
        }
        Ok(self.buffer.get(self.served..self.checked).unwrap_or(&[]))
    }

    fn consume(&mut self, amount: usize) {
        self.served = (self.served + amount).min(self.checked);
    }
}

impl<R: Read> Read for TextStream<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let rest = self.fill_buf()?;
        let n = rest.len().min(out.len());
        out[..n].copy_from_slice(&rest[..n]);
        self.consume(n);
        Ok(n)
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
}

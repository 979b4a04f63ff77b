//! How a text input's bytes become UTF-8 records (SPEC 9.2): its encoding — UTF-8, UTF-16 with a
//! byte-order mark, or the one `--encoding` names — and its delimiter — `--delimiter`, else sniffed
//! from the header line.
//!
//! Both work on the stream, never on the whole file: the decoder turns the source into UTF-8 chunk by
//! chunk ahead of [`super::stream::TextStream`], which keeps its guarantees (one pass, the UTF-8 check,
//! the record cap) over the decoded text; the sniffer reads the header line only, and hands it back.

use std::io::{self, Read};

use encoding_rs::{DecoderResult, Encoding, UTF_16BE, UTF_16LE, UTF_8};

/// How to read the text files of a run: `--delimiter` and `--encoding`, when given.
#[derive(Clone, Copy, Debug, Default)]
pub struct TextOptions {
    /// The field delimiter, a single byte; `None`: sniffed per file from its header line.
    pub delimiter: Option<u8>,
    /// The encoding of every text file; `None`: UTF-8, or UTF-16 when a byte-order mark says so.
    pub encoding: Option<&'static Encoding>,
}

/// `--delimiter`: `,`, `;`, `tab` (or a tab character) or `|`.
pub fn parse_delimiter(text: &str) -> Result<u8, String> {
    match text {
        "," => Ok(b','),
        ";" => Ok(b';'),
        "|" => Ok(b'|'),
        "\t" => Ok(b'\t'),
        _ if text.trim().eq_ignore_ascii_case("tab") => Ok(b'\t'),
        _ => Err(format!("'{}' is not a delimiter: give ',', ';', 'tab' or '|'", text.escape_debug())),
    }
}

/// `--encoding`: a WHATWG encoding label (`windows-1252`, `latin1`, `utf-16le`, `shift_jis`…).
/// UTF-8 named so is read as without the flag: its invalid bytes stay fatal.
pub fn parse_encoding(text: &str) -> Result<&'static Encoding, String> {
    match Encoding::for_label_no_replacement(text.trim().as_bytes()) {
        Some(encoding) => Ok(encoding),
        None => Err(format!(
            "'{}' is not an encoding label cpor knows: give a WHATWG label such as windows-1252 or utf-16le",
            text.escape_debug()
        )),
    }
}

/// Candidate delimiters, in the order that breaks ties.
const DELIMITERS: [u8; 4] = [b',', b'\t', b';', b'|'];

/// The delimiter occurring most often outside quotes in `header` (the bytes up to the first line
/// end outside quotes are looked at); ties go to the earlier of `,` `\t` `;` `|`; `,` when none occurs.
pub fn sniff_delimiter(header: &[u8]) -> u8 {
    let mut counts = [0usize; DELIMITERS.len()];
    let mut quoted = false;
    for &byte in header_line(header) {
        match byte {
            b'"' => quoted = !quoted,
            _ if !quoted => {
                if let Some(i) = DELIMITERS.iter().position(|&d| d == byte) {
                    counts[i] += 1;
                }
            }
            _ => {}
        }
    }
    // `max_by_key` keeps the last of equal maxima; reversed, that is the first in tie order.
    let best = (0..DELIMITERS.len()).rev().max_by_key(|&i| counts[i]).unwrap_or(0);
    if counts[best] == 0 {
        b','
    } else {
        DELIMITERS[best]
    }
}

/// A source whose first bytes were read ahead, to be read again.
pub type Replayed<R> = io::Chain<io::Cursor<Vec<u8>>, R>;

/// Reads the source's header line (up to its first line end outside quotes, or `limit` bytes, or
/// the end) and returns it with a reader that yields every byte again, header included: the sniff
/// reads the stream once, as everything else does.
pub fn peek_header<R: Read>(mut source: R, limit: usize) -> io::Result<(Vec<u8>, Replayed<R>)> {
    let mut header = Vec::new();
    let mut quoted = false;
    let mut buffer = [0u8; 8192];
    'reading: while header.len() < limit {
        let n = match source.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let start = header.len();
        header.extend_from_slice(&buffer[..n]);
        for &byte in &header[start..] {
            match byte {
                b'"' => quoted = !quoted,
                b'\n' | b'\r' if !quoted => break 'reading,
                _ => {}
            }
        }
    }
    let peeked = header.clone();
    Ok((peeked, io::Cursor::new(header).chain(source)))
}

/// The header line of what `peek_header` peeked: up to its first line end outside quotes (the peek
/// holds the rest of the block it was read in, the first records among it).
pub fn header_line(peeked: &[u8]) -> &[u8] {
    let mut quoted = false;
    for (at, &byte) in peeked.iter().enumerate() {
        match byte {
            b'"' => quoted = !quoted,
            b'\n' | b'\r' if !quoted => return &peeked[..at],
            _ => {}
        }
    }
    peeked
}

/// Turns `source` into UTF-8 (see the module's comment). Without `encoding`, a UTF-16 byte-order mark
/// selects UTF-16 of that order and any other source passes unchanged (UTF-8, checked downstream
/// with its byte offsets). With `encoding`, a byte-order mark still wins, as WHATWG decoding has it.
pub fn decoded<'a, R: Read + Send + 'a>(
    mut source: R,
    encoding: Option<&'static Encoding>,
) -> io::Result<Box<dyn Read + Send + 'a>> {
    let mut start = [0u8; 2];
    let mut got = 0;
    while got < start.len() {
        match source.read(&mut start[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    let start = start[..got].to_vec();
    let encoding = match (&start[..], encoding) {
        (_, Some(encoding)) if encoding != UTF_8 => Some(encoding),
        ([0xff, 0xfe], _) => Some(UTF_16LE),
        ([0xfe, 0xff], _) => Some(UTF_16BE),
        _ => None,
    };
    let source = io::Cursor::new(start).chain(source);
    Ok(match encoding {
        None => Box::new(source),
        Some(encoding) => Box::new(Decoding::new(source, encoding)),
    })
}

/// Bytes of the source decoded at a time.
const DECODE_CHUNK_BYTES: usize = 1 << 16;

/// A reader of UTF-8 decoded from `source` in `encoding`, a chunk at a time.
struct Decoding<R> {
    source: R,
    decoder: encoding_rs::Decoder,
    encoding: &'static Encoding,
    input: Vec<u8>,
    /// Undecoded input: `input[read..]`.
    read: usize,
    /// Offset in the source of `input[0]`.
    offset: u64,
    output: Vec<u8>,
    /// Decoded output not yet handed out: `output[served..written]`.
    served: usize,
    written: usize,
    at_end: bool,
    done: bool,
}

impl<R: Read> Decoding<R> {
    fn new(source: R, encoding: &'static Encoding) -> Decoding<R> {
        let decoder = encoding.new_decoder();
        let output_len =
            decoder.max_utf8_buffer_length_without_replacement(DECODE_CHUNK_BYTES).unwrap_or(DECODE_CHUNK_BYTES * 3);
        Decoding {
            source,
            decoder,
            encoding,
            input: Vec::with_capacity(DECODE_CHUNK_BYTES),
            read: 0,
            offset: 0,
            output: vec![0; output_len.max(16)],
            served: 0,
            written: 0,
            at_end: false,
            done: false,
        }
    }
}

impl<R: Read> Read for Decoding<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.served < self.written {
                let n = (self.written - self.served).min(out.len());
                out[..n].copy_from_slice(&self.output[self.served..self.served + n]);
                self.served += n;
                return Ok(n);
            }
            if self.done {
                return Ok(0);
            }
            if self.read == self.input.len() && !self.at_end {
                self.offset += self.input.len() as u64;
                self.input.resize(DECODE_CHUNK_BYTES, 0);
                let n = loop {
                    match self.source.read(&mut self.input) {
                        Ok(n) => break n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(e),
                    }
                };
                self.input.truncate(n);
                self.read = 0;
                self.at_end = n == 0;
            }
            let pending = &self.input[self.read..];
            let (result, read, written) =
                self.decoder.decode_to_utf8_without_replacement(pending, &mut self.output, self.at_end);
            self.read += read;
            self.served = 0;
            self.written = written;
            match result {
                DecoderResult::InputEmpty => self.done = self.at_end,
                DecoderResult::OutputFull => {}
                DecoderResult::Malformed(bad, extra) => {
                    // The bad bytes end `extra` bytes before what was read; they may start in the chunk before.
                    let offset = (self.offset + self.read as u64).saturating_sub(u64::from(extra) + u64::from(bad));
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("not valid {}: the byte at offset {offset} starts no character", self.encoding.name()),
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::testing::Trickle;

    fn decode(bytes: &[u8], chunk: usize, encoding: Option<&'static Encoding>) -> io::Result<String> {
        let mut out = Vec::new();
        decoded(Trickle(bytes, chunk), encoding)?.read_to_end(&mut out)?;
        String::from_utf8(out).map_err(|e| io::Error::other(e.to_string()))
    }

    #[test]
    fn delimiter_sniffing() {
        for (header, expected) in [
            ("claim_id,partner_id,tenant_id", b','),
            ("claim_id\tpartner_id\ttenant_id", b'\t'),
            ("claim_id;partner_id;tenant_id", b';'),
            ("claim_id|partner_id|tenant_id", b'|'),
            ("claim_id", b','),
            ("", b','),
            // Ties go to the first of , \t ; |.
            ("a;b,c", b','),
            ("a|b\tc", b'\t'),
            ("a|b;c", b';'),
            // Delimiters inside quotes do not count, quoted line ends neither.
            ("\"a,b,c\";d;e", b';'),
            ("\"Tenant, ID\";\"Date\"", b';'),
            ("\"a\nb,c,d\"|e", b'|'),
            // Only the header line counts.
            ("a;b\nc,d,e,f", b';'),
            ("a;b\r\nc,d,e,f", b';'),
        ] {
            assert_eq!(sniff_delimiter(header.as_bytes()) as char, expected as char, "{header:?}");
        }
    }

    #[test]
    fn peeked_header_is_read_again() {
        let text = b"\"a\nb\";c\nd;e\n".repeat(2000);
        let (header, mut rest) = peek_header(Trickle(&text, 3), 1 << 20).expect("reads");
        assert_eq!(sniff_delimiter(&header), b';');
        assert!(header.starts_with(b"\"a\nb\";c\n"));
        let mut all = Vec::new();
        rest.read_to_end(&mut all).expect("reads");
        assert_eq!(all, text);
    }

    #[test]
    fn delimiter_flag_values() {
        for (text, byte) in [(",", b','), (";", b';'), ("tab", b'\t'), ("TAB", b'\t'), ("\t", b'\t'), ("|", b'|')] {
            assert_eq!(parse_delimiter(text), Ok(byte), "{text:?}");
        }
        for bad in ["", ":", ",,", "comma"] {
            assert!(parse_delimiter(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn encoding_labels() {
        assert_eq!(parse_encoding("windows-1252"), Ok(encoding_rs::WINDOWS_1252));
        assert_eq!(parse_encoding("latin1"), Ok(encoding_rs::WINDOWS_1252));
        assert_eq!(parse_encoding(" UTF-16LE "), Ok(UTF_16LE));
        assert!(parse_encoding("klingon").is_err());
        // A label WHATWG maps to its "replacement" decoder would turn the file into one U+FFFD.
        assert!(parse_encoding("iso-2022-kr").is_err());
    }

    fn utf16(text: &str, big_endian: bool) -> Vec<u8> {
        let mut bytes = if big_endian { vec![0xfe, 0xff] } else { vec![0xff, 0xfe] };
        for unit in text.encode_utf16() {
            bytes.extend_from_slice(&if big_endian { unit.to_be_bytes() } else { unit.to_le_bytes() });
        }
        bytes
    }

    #[test]
    fn utf16_with_a_bom_is_decoded_across_chunks() {
        // Characters of two and four UTF-16 bytes, split at every possible point by the small reads.
        let text = "tenant\tworkload\nMüller GmbH\t€ 𝄞 Teams\n".repeat(40);
        for big_endian in [false, true] {
            let bytes = utf16(&text, big_endian);
            for chunk in [1, 2, 3, 5, 7, 64, 1 << 20] {
                assert_eq!(decode(&bytes, chunk, None).expect("decodes"), text, "BE {big_endian}, chunk {chunk}");
            }
        }
        // Longer than a decoder chunk: decoded in several rounds.
        let long = "é€𝄞,x\n".repeat(DECODE_CHUNK_BYTES / 4);
        assert_eq!(decode(&utf16(&long, false), 4099, None).expect("decodes"), long);
    }

    #[test]
    fn utf16_cut_inside_a_character_is_an_error() {
        let mut bytes = utf16("ab", false);
        bytes.push(b'c');
        let error = decode(&bytes, 64, None).expect_err("cut");
        assert!(error.to_string().contains("UTF-16LE"), "{error}");
    }

    #[test]
    fn windows_1252_is_decoded_when_named() {
        // "Müller;€;Straße" in windows-1252: ü 0xFC, € 0x80, ß 0xDF.
        let bytes = b"M\xfcller;\x80;Stra\xdfe\n";
        for chunk in [1, 2, 64] {
            assert_eq!(decode(bytes, chunk, Some(encoding_rs::WINDOWS_1252)).expect("decodes"), "Müller;€;Straße\n");
        }
        // Without the flag the bytes pass unchanged, for the UTF-8 check to refuse.
        let mut out = Vec::new();
        decoded(&bytes[..], None).expect("reads").read_to_end(&mut out).expect("reads");
        assert_eq!(out, bytes);
    }

    #[test]
    fn utf8_passes_unchanged_with_or_without_a_bom() {
        for bytes in [&b"\xef\xbb\xbfa,b\n"[..], b"a,b\n", b"a", b""] {
            let mut out = Vec::new();
            decoded(Trickle(bytes, 1), None).expect("reads").read_to_end(&mut out).expect("reads");
            assert_eq!(out, bytes);
        }
    }
}

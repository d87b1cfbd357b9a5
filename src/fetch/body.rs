//! A response body, decompressed as it streams in, under one cap counted twice: on the bytes
//! received (compressed) and on the bytes they decode to. reqwest's own decompression is
//! off, because it would hand over decoded bytes only: a 10 KB gzip bomb would expand
//! unchecked behind it. Here every chunk is decoded into a buffer that refuses to grow past
//! the cap, so no response is ever held beyond `max_body`, whatever its ratio.

use std::io::Write;

use flate2::write::{DeflateDecoder, MultiGzDecoder, ZlibDecoder};

/// The brotli decoder's internal buffer (output is pushed to the capped buffer in pieces of
/// at most this size).
const BROTLI_BUFFER: usize = 16 * 1024;

/// What the server said the body is encoded with (`Content-Encoding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Gzip,
    /// Zlib-wrapped per the RFC, or raw deflate as some servers send it: told apart by the
    /// first two bytes.
    Deflate,
    Brotli,
}

impl Encoding {
    /// `None` for an encoding we cannot decode (or a stack of several).
    pub fn from_header(value: Option<&str>) -> Option<Encoding> {
        let Some(value) = value else {
            return Some(Encoding::Identity);
        };
        let codings: Vec<String> = value
            .split(',')
            .map(|c| c.trim().to_ascii_lowercase())
            .filter(|c| !c.is_empty() && c != "identity")
            .collect();
        match codings.as_slice() {
            [] => Some(Encoding::Identity),
            [one] => match one.as_str() {
                "gzip" | "x-gzip" => Some(Encoding::Gzip),
                "deflate" => Some(Encoding::Deflate),
                "br" => Some(Encoding::Brotli),
                _ => None,
            },
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Encoding::Identity => "identity",
            Encoding::Gzip => "gzip",
            Encoding::Deflate => "deflate",
            Encoding::Brotli => "br",
        }
    }
}

/// Why a body was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("more than {0} bytes received")]
    WireLimit(u64),
    #[error("decodes to more than {0} bytes")]
    DecodedLimit(u64),
    #[error("{0}")]
    Decode(String),
}

/// The marker a [`Capped`] buffer fails with, so a cap is told apart from corrupt input
/// when it comes back through a decoder's `io::Error`.
#[derive(Debug)]
struct OverLimit;

impl std::fmt::Display for OverLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("over the limit")
    }
}

impl std::error::Error for OverLimit {}

/// A byte buffer that refuses to hold more than `limit` bytes, and never reserves more than
/// that either (a doubling `Vec` would reach twice the cap).
#[derive(Debug)]
struct Capped {
    buf: Vec<u8>,
    limit: usize,
}

impl Write for Capped {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let needed = self.buf.len().saturating_add(data.len());
        if needed > self.limit {
            return Err(std::io::Error::other(OverLimit));
        }
        if needed > self.buf.capacity() {
            let grown = self
                .buf
                .capacity()
                .saturating_mul(2)
                .clamp(needed, self.limit);
            self.buf.reserve_exact(grown - self.buf.len());
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

enum Decoder {
    Identity(Capped),
    Gzip(MultiGzDecoder<Capped>),
    /// The first bytes of a deflate body, until there are two to tell zlib from raw.
    DeflateStart(Capped, Vec<u8>),
    Zlib(ZlibDecoder<Capped>),
    RawDeflate(DeflateDecoder<Capped>),
    Brotli(Box<brotli_decompressor::DecompressorWriter<Capped>>),
}

/// Receives a body chunk by chunk; [`BodySink::finish`] gives the decoded bytes.
pub struct BodySink {
    received: u64,
    limit: u64,
    decoder: Decoder,
}

fn io_error(e: std::io::Error) -> BodyError {
    BodyError::Decode(e.to_string())
}

impl BodySink {
    pub fn new(encoding: Encoding, limit: u64) -> BodySink {
        let out = Capped {
            buf: Vec::new(),
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
        };
        let decoder = match encoding {
            Encoding::Identity => Decoder::Identity(out),
            Encoding::Gzip => Decoder::Gzip(MultiGzDecoder::new(out)),
            Encoding::Deflate => Decoder::DeflateStart(out, Vec::new()),
            Encoding::Brotli => Decoder::Brotli(Box::new(
                brotli_decompressor::DecompressorWriter::new(out, BROTLI_BUFFER),
            )),
        };
        BodySink {
            received: 0,
            limit,
            decoder,
        }
    }

    /// Bytes received so far (before decoding).
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Bytes held: the larger of those received and those decoded so far.
    pub fn held(&self) -> u64 {
        let decoded = match &self.decoder {
            Decoder::Identity(out) | Decoder::DeflateStart(out, _) => out.buf.len(),
            Decoder::Gzip(d) => d.get_ref().buf.len(),
            Decoder::Zlib(d) => d.get_ref().buf.len(),
            Decoder::RawDeflate(d) => d.get_ref().buf.len(),
            Decoder::Brotli(d) => d.get_ref().buf.len(),
        };
        self.received.max(decoded as u64)
    }

    fn classify(&self, e: std::io::Error) -> BodyError {
        if e.get_ref().is_some_and(|inner| inner.is::<OverLimit>()) {
            BodyError::DecodedLimit(self.limit)
        } else {
            io_error(e)
        }
    }

    /// Take one chunk as received.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), BodyError> {
        self.received = self.received.saturating_add(chunk.len() as u64);
        if self.received > self.limit {
            return Err(BodyError::WireLimit(self.limit));
        }
        let result = match &mut self.decoder {
            Decoder::Identity(out) => {
                // The wire count above already holds identity bodies to the cap.
                out.write_all(chunk)
            }
            Decoder::Gzip(d) => d.write_all(chunk),
            Decoder::Zlib(d) => d.write_all(chunk),
            Decoder::RawDeflate(d) => d.write_all(chunk),
            Decoder::Brotli(d) => d.write_all(chunk),
            Decoder::DeflateStart(_, head) => {
                head.extend_from_slice(chunk);
                if head.len() < 2 {
                    return Ok(());
                }
                return self.start_deflate();
            }
        };
        result.map_err(|e| self.classify(e))
    }

    /// Decide zlib or raw deflate from the first two bytes and feed them on.
    fn start_deflate(&mut self) -> Result<(), BodyError> {
        let placeholder = Decoder::Identity(Capped {
            buf: Vec::new(),
            limit: 0,
        });
        let Decoder::DeflateStart(out, head) = std::mem::replace(&mut self.decoder, placeholder)
        else {
            return Ok(());
        };
        // RFC 1950: compression method 8, and the header checksum divisible by 31.
        let zlib = head.len() >= 2
            && head[0] & 0x0f == 8
            && (u16::from(head[0]) << 8 | u16::from(head[1])) % 31 == 0;
        let result = if zlib {
            let mut d = ZlibDecoder::new(out);
            let r = d.write_all(&head);
            self.decoder = Decoder::Zlib(d);
            r
        } else {
            let mut d = DeflateDecoder::new(out);
            let r = d.write_all(&head);
            self.decoder = Decoder::RawDeflate(d);
            r
        };
        result.map_err(|e| self.classify(e))
    }

    /// The decoded body; fails on a compressed stream that ends early or is corrupt.
    pub fn finish(mut self) -> Result<Vec<u8>, BodyError> {
        if matches!(self.decoder, Decoder::DeflateStart(..)) {
            self.start_deflate()?;
        }
        let limit = self.limit;
        let classify = |e: std::io::Error| {
            if e.get_ref().is_some_and(|inner| inner.is::<OverLimit>()) {
                BodyError::DecodedLimit(limit)
            } else {
                io_error(e)
            }
        };
        let out = match self.decoder {
            Decoder::Identity(out) | Decoder::DeflateStart(out, _) => out,
            Decoder::Gzip(d) => d.finish().map_err(classify)?,
            Decoder::Zlib(d) => d.finish().map_err(classify)?,
            Decoder::RawDeflate(d) => d.finish().map_err(classify)?,
            Decoder::Brotli(mut d) => {
                d.close().map_err(classify)?;
                d.into_inner()
                    .map_err(|_| BodyError::Decode("brotli stream ended early".into()))?
            }
        };
        Ok(out.buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn feed_in(sink: &mut BodySink, data: &[u8], chunk: usize) -> Result<(), BodyError> {
        data.chunks(chunk).try_for_each(|c| sink.push(c))
    }

    #[test]
    fn sink_decodes_every_encoding_when_body_arrives_in_small_chunks() {
        let text = b"<rss version=\"2.0\"><channel><title>t</title></channel></rss>".repeat(50);
        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), Compression::default());
        zlib.write_all(&text).unwrap();
        let zlib = zlib.finish().unwrap();
        let mut raw = flate2::write::DeflateEncoder::new(Vec::new(), Compression::default());
        raw.write_all(&text).unwrap();
        let raw = raw.finish().unwrap();
        let mut br = brotli::CompressorWriter::new(Vec::new(), 4096, 9, 22);
        br.write_all(&text).unwrap();
        let br = br.into_inner();
        let cases = [
            (Encoding::Identity, text.clone()),
            (Encoding::Gzip, gzip(&text)),
            (Encoding::Deflate, zlib),
            (Encoding::Deflate, raw),
            (Encoding::Brotli, br),
        ];
        for (encoding, wire) in cases {
            for chunk in [1, 7, 4096] {
                let mut sink = BodySink::new(encoding, 1 << 20);
                feed_in(&mut sink, &wire, chunk).unwrap();
                assert_eq!(sink.received(), wire.len() as u64);
                // Decoders may keep the last bytes until `finish`.
                let held = sink.held();
                assert!(held >= wire.len() as u64 && held <= text.len().max(wire.len()) as u64);
                assert_eq!(
                    sink.finish().unwrap(),
                    text,
                    "{encoding:?} in {chunk}-byte chunks"
                );
            }
        }
    }

    #[test]
    fn sink_stops_at_cap_when_gzip_bomb_expands() {
        // 64 MiB of zeros compress to ~64 KB; the cap is 1 MiB.
        let mut e = flate2::write::GzEncoder::new(Vec::new(), Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..64 {
            e.write_all(&zeros).unwrap();
        }
        let bomb = e.finish().unwrap();
        assert!(bomb.len() < 1 << 20);
        let limit = 1 << 20;
        let mut sink = BodySink::new(Encoding::Gzip, limit);
        let err = feed_in(&mut sink, &bomb, 16 * 1024).unwrap_err();
        assert_eq!(err, BodyError::DecodedLimit(limit));
        // The buffer never reserved past the cap.
        if let Decoder::Gzip(d) = &sink.decoder {
            assert!(d.get_ref().buf.capacity() <= limit as usize);
        }
    }

    #[test]
    fn sink_stops_at_cap_when_received_bytes_exceed_it() {
        let mut sink = BodySink::new(Encoding::Identity, 10);
        sink.push(b"0123456789").unwrap();
        assert_eq!(sink.push(b"x"), Err(BodyError::WireLimit(10)));
        // Compressed bytes count too, before decoding.
        let mut sink = BodySink::new(Encoding::Gzip, 10);
        assert_eq!(
            feed_in(&mut sink, &gzip(&[7u8; 4096]), 64),
            Err(BodyError::WireLimit(10))
        );
    }

    #[test]
    fn sink_reports_decode_error_when_gzip_is_truncated_or_corrupt() {
        let whole = gzip(b"<rss>some feed text that is long enough</rss>");
        let mut sink = BodySink::new(Encoding::Gzip, 1 << 20);
        sink.push(&whole[..whole.len() / 2]).unwrap();
        assert!(matches!(sink.finish(), Err(BodyError::Decode(_))));
        let mut sink = BodySink::new(Encoding::Gzip, 1 << 20);
        let r = sink
            .push(b"this is not gzip at all")
            .and_then(|_| sink.finish().map(drop));
        assert!(matches!(r, Err(BodyError::Decode(_))), "{r:?}");
    }

    #[test]
    fn encoding_from_header_refuses_unknown_or_stacked_codings() {
        assert_eq!(Encoding::from_header(None), Some(Encoding::Identity));
        assert_eq!(Encoding::from_header(Some("GZIP")), Some(Encoding::Gzip));
        assert_eq!(
            Encoding::from_header(Some("identity")),
            Some(Encoding::Identity)
        );
        assert_eq!(Encoding::from_header(Some("br")), Some(Encoding::Brotli));
        assert_eq!(
            Encoding::from_header(Some("deflate")),
            Some(Encoding::Deflate)
        );
        assert_eq!(Encoding::from_header(Some("zstd")), None);
        assert_eq!(Encoding::from_header(Some("gzip, gzip")), None);
    }
}

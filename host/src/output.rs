//! A bounded output pipe for the guest's stdout and stderr.
//!
//! It keeps the first `capacity` bytes and counts the rest as dropped. It
//! never fails a write and never traps: wasmtime's `MemoryOutputPipe` traps
//! on overflow (and closes the stream once full), which would turn a chatty
//! guest into a failed run. Writes are always accepted whole and the stream
//! is always ready, so what the guest sees does not depend on timing.
//!
//! Every byte a guest offers is counted, because the write permit is larger
//! than any buffer a 32-bit guest can hold: a write is never short. With a
//! 64 KiB permit, CPython (whose unbuffered stdout ignores a short write's
//! count) printed 100 MiB and the report counted 6.6 MB (issue 18).

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// Largest write a guest is offered at once (`check-write`): 4 GiB - 1,
/// more than a 32-bit guest's whole memory, so no write is ever cut short
/// and the counts see every byte attempted. A constant, so the guest's view
/// of the stream never depends on how much it printed. (The bytes of one
/// write are copied out of the guest's memory, which its own limit bounds.)
const WRITE_PERMIT: usize = u32::MAX as usize;

/// What a run printed to one stream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapturedOutput {
    /// The first bytes, up to the limit, decoded as UTF-8 (lossily: invalid
    /// sequences, including one cut at the limit, become U+FFFD).
    pub kept: String,
    /// Bytes kept (before decoding).
    pub kept_bytes: u64,
    /// Bytes written past the limit and not kept.
    pub dropped_bytes: u64,
}

#[derive(Debug, Default)]
struct Buffer {
    kept: Vec<u8>,
    capacity: usize,
    dropped: u64,
}

impl Buffer {
    fn write(&mut self, bytes: &[u8]) {
        let room = self.capacity - self.kept.len();
        let take = room.min(bytes.len());
        self.kept.extend_from_slice(&bytes[..take]);
        self.dropped += (bytes.len() - take) as u64;
    }
}

/// The shared, bounded buffer behind one guest stream. Clones share it.
#[derive(Debug, Clone, Default)]
pub(crate) struct BoundedOutput {
    buffer: Arc<Mutex<Buffer>>,
}

impl BoundedOutput {
    /// A pipe that keeps at most `capacity` bytes.
    pub(crate) fn new(capacity: usize) -> Self {
        let buffer = Buffer {
            kept: Vec::new(),
            capacity,
            dropped: 0,
        };
        Self {
            buffer: Arc::new(Mutex::new(buffer)),
        }
    }

    fn write(&self, bytes: &[u8]) {
        // A poisoned lock only means another writer panicked mid-append; the
        // buffer is still a valid prefix, so keep going.
        self.buffer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .write(bytes);
    }

    /// What was written so far.
    pub(crate) fn captured(&self) -> CapturedOutput {
        let b = self.buffer.lock().unwrap_or_else(PoisonError::into_inner);
        CapturedOutput {
            kept: String::from_utf8_lossy(&b.kept).into_owned(),
            kept_bytes: b.kept.len() as u64,
            dropped_bytes: b.dropped,
        }
    }
}

impl IsTerminal for BoundedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for BoundedOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for BoundedOutput {
    async fn ready(&mut self) {}
}

impl OutputStream for BoundedOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        BoundedOutput::write(self, &bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_PERMIT)
    }
}

impl AsyncWrite for BoundedOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        BoundedOutput::write(&self, buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_first_bytes_and_counts_the_rest() {
        let pipe = BoundedOutput::new(8);
        let mut stream = pipe.p2_stream();
        for chunk in ["hello ", "world", "!!"] {
            assert_eq!(stream.check_write().unwrap(), WRITE_PERMIT);
            stream.write(Bytes::from(chunk)).unwrap();
        }
        stream.flush().unwrap();
        // A second stream handle shares the buffer, and writing past the
        // limit never fails.
        pipe.p2_stream().write(Bytes::from_static(b"more")).unwrap();
        let out = pipe.captured();
        assert_eq!(out.kept, "hello wo");
        assert_eq!(out.dropped_bytes, 3 + 2 + 4);
    }

    #[test]
    fn zero_capacity_drops_everything() {
        let pipe = BoundedOutput::new(0);
        pipe.p2_stream().write(Bytes::from_static(b"abc")).unwrap();
        assert_eq!(
            pipe.captured(),
            CapturedOutput {
                kept: String::new(),
                kept_bytes: 0,
                dropped_bytes: 3
            }
        );
    }

    #[test]
    fn cut_utf8_is_replaced_not_an_error() {
        let pipe = BoundedOutput::new(2);
        pipe.p2_stream()
            .write(Bytes::from("é!".to_owned()))
            .unwrap();
        let pipe2 = BoundedOutput::new(1);
        pipe2
            .p2_stream()
            .write(Bytes::from("é".to_owned()))
            .unwrap();
        assert_eq!(pipe.captured().kept, "é");
        assert_eq!(pipe2.captured().kept, "\u{fffd}");
        assert_eq!(pipe2.captured().dropped_bytes, 1);
    }
}

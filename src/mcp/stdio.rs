//! The stdio transport, with a frame filter in front of rmcp.
//!
//! rmcp silently drops lines that are not JSON. JSON-RPC 2.0 asks for a Parse error
//! response (`-32700`, `id: null`), and a client that sent a broken frame deserves to
//! hear about it rather than wait forever, so this filter answers those lines itself and
//! passes every well-formed line through. Oversized lines are discarded without being
//! buffered whole, and answered the same way. All output goes through one writer task
//! so frames from rmcp and from the filter never interleave mid-line.

use std::io::ErrorKind;

use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

/// Largest accepted frame. Tool arguments (Code Mode scripts included) are far smaller.
pub const MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;

enum Line {
    Complete(Vec<u8>),
    TooLong(usize),
    Eof,
}

/// Reads one `\n`-terminated line, never holding more than `max` bytes of it.
async fn read_line<R: AsyncBufReadExt + Unpin>(r: &mut R, max: usize) -> std::io::Result<Line> {
    let mut buf = Vec::new();
    let mut discarded = 0usize;
    loop {
        let chunk = r.fill_buf().await?;
        if chunk.is_empty() {
            return Ok(if discarded > 0 {
                Line::TooLong(discarded)
            } else if buf.is_empty() {
                Line::Eof
            } else {
                Line::Complete(buf)
            });
        }
        let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        if discarded > 0 || buf.len() + take > max + 1 {
            discarded += buf.len() + take;
            buf.clear();
        } else {
            buf.extend_from_slice(&chunk[..take]);
        }
        r.consume(take);
        if done {
            return Ok(if discarded > 0 {
                Line::TooLong(discarded)
            } else {
                Line::Complete(buf)
            });
        }
    }
}

fn error_frame(code: i64, message: String) -> Vec<u8> {
    let mut v = serde_json::to_vec(&json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": { "code": code, "message": message }
    }))
    .unwrap_or_default();
    v.push(b'\n');
    v
}

/// Copies frames from `input` to rmcp's reader, answering unparsable ones on `out`.
async fn filter_input<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    input: R,
    mut to_rmcp: W,
    out: mpsc::Sender<Vec<u8>>,
) {
    let mut reader = BufReader::with_capacity(64 * 1024, input);
    loop {
        let line = match read_line(&mut reader, MAX_FRAME_BYTES).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!("stdin read failed: {e}");
                break;
            }
        };
        match line {
            Line::Eof => break,
            Line::TooLong(n) => {
                tracing::warn!(bytes = n, "discarded an oversized frame");
                let _ = out
                    .send(error_frame(
                        -32600,
                        format!("Invalid Request: frame of {n} bytes exceeds the {MAX_FRAME_BYTES}-byte limit"),
                    ))
                    .await;
            }
            Line::Complete(bytes) => {
                let text = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
                let text = text.strip_suffix(b"\r").unwrap_or(text);
                if text.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(text) {
                    tracing::debug!("unparsable frame: {e}");
                    let _ = out
                        .send(error_frame(-32700, format!("Parse error: {e}")))
                        .await;
                    continue;
                }
                let write = async {
                    to_rmcp.write_all(text).await?;
                    to_rmcp.write_all(b"\n").await?;
                    to_rmcp.flush().await
                };
                if let Err(e) = write.await {
                    if e.kind() != ErrorKind::BrokenPipe {
                        tracing::warn!("forwarding a frame failed: {e}");
                    }
                    break;
                }
            }
        }
    }
    // Dropping `to_rmcp` here is what tells rmcp the client went away.
}

/// Forwards rmcp's output frames to the writer channel, line by line.
async fn collect_output<R: AsyncRead + Unpin>(from_rmcp: R, out: mpsc::Sender<Vec<u8>>) {
    let mut reader = BufReader::new(from_rmcp);
    loop {
        let mut line = Vec::new();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                if out.send(line).await.is_err() {
                    break;
                }
            }
        }
    }
}

async fn write_output<W: AsyncWrite + Unpin>(mut sink: W, mut frames: mpsc::Receiver<Vec<u8>>) {
    while let Some(frame) = frames.recv().await {
        if sink.write_all(&frame).await.is_err() || sink.flush().await.is_err() {
            break;
        }
    }
}

/// Wires `input`/`output` (stdin/stdout in production) to rmcp through the filter and
/// returns the (reader, writer) pair to hand to rmcp's `serve`.
pub fn filtered_transport<R, W>(
    input: R,
    output: W,
) -> (
    tokio::io::DuplexStream,
    tokio::io::DuplexStream,
    tokio::task::JoinHandle<()>,
)
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (rmcp_in, filter_out) = tokio::io::duplex(1024 * 1024);
    let (rmcp_out, collector_in) = tokio::io::duplex(1024 * 1024);
    let (tx, rx) = mpsc::channel::<Vec<u8>>(64);
    tokio::spawn(filter_input(input, filter_out, tx.clone()));
    tokio::spawn(collect_output(collector_in, tx));
    let writer = tokio::spawn(write_output(output, rx));
    (rmcp_in, rmcp_out, writer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_are_capped_without_buffering_everything() {
        let data = b"short\nxxxxxxxxxxxxxxxxxxxx\nok\nunterminated".to_vec();
        let mut r = BufReader::with_capacity(4, &data[..]);
        assert!(
            matches!(read_line(&mut r, 10).await.unwrap(), Line::Complete(l) if l == b"short\n")
        );
        assert!(matches!(
            read_line(&mut r, 10).await.unwrap(),
            Line::TooLong(21)
        ));
        assert!(matches!(read_line(&mut r, 10).await.unwrap(), Line::Complete(l) if l == b"ok\n"));
        assert!(
            matches!(read_line(&mut r, 100).await.unwrap(), Line::Complete(l) if l == b"unterminated")
        );
        assert!(matches!(read_line(&mut r, 10).await.unwrap(), Line::Eof));
    }
}

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

/// Writes rmcp's output frames, line by line, and the filter's error frames to `sink`, one
/// whole frame at a time, until rmcp's output and the filter have both ended. One task: a
/// response goes from rmcp to stdout without another hand-over.
async fn write_output<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    from_rmcp: R,
    mut sink: W,
    mut errors: mpsc::Receiver<Vec<u8>>,
) {
    let mut reader = BufReader::new(from_rmcp);
    let mut line = Vec::new();
    let (mut rmcp_open, mut filter_open) = (true, true);
    while rmcp_open || filter_open {
        let frame = tokio::select! {
            // Cancel-safe: what `read_until` read stays in `line` for the next call.
            r = reader.read_until(b'\n', &mut line), if rmcp_open => match r {
                Ok(n) if n > 0 && line.ends_with(b"\n") => std::mem::take(&mut line),
                Ok(n) if n > 0 => continue,
                _ => {
                    rmcp_open = false;
                    std::mem::take(&mut line)
                }
            },
            f = errors.recv(), if filter_open => match f {
                Some(frame) => frame,
                None => {
                    filter_open = false;
                    continue;
                }
            },
        };
        if frame.is_empty() {
            continue;
        }
        if sink.write_all(&frame).await.is_err() || sink.flush().await.is_err() {
            break;
        }
    }
}

/// The process's stdin as an async reader. A pipe or a socket (what MCP clients pass) is
/// read through the runtime's reactor; anything else (a terminal, a file) through tokio's
/// `stdin()`, which hands every read to a blocking-pool thread: one more thread wake-up per
/// request, measurable on an idle machine (docs/PERFORMANCE.md).
///
/// `PGMCP_STDIO_REACTOR=0` in the environment keeps tokio's `stdin()`/`stdout()` (for
/// measurements).
pub fn stdin() -> Box<dyn AsyncRead + Send + Unpin> {
    #[cfg(unix)]
    if let Some(r) = reactor_stdio::open(0) {
        return Box::new(r);
    }
    Box::new(tokio::io::stdin())
}

/// The process's stdout as an async writer; see [`stdin`].
pub fn stdout() -> Box<dyn AsyncWrite + Send + Unpin> {
    #[cfg(unix)]
    if let Some(w) = reactor_stdio::open(1) {
        return Box::new(w);
    }
    Box::new(tokio::io::stdout())
}

#[cfg(unix)]
mod reactor_stdio {
    use std::os::fd::{FromRawFd, OwnedFd, RawFd};

    /// fd 0 or 1 as a non-blocking stream, when it is a pipe or a socket.
    ///
    /// A pipe is opened again through `/proc/self/fd`, which gives this process a new open
    /// file description of the same pipe: `O_NONBLOCK` is set on that one only, never on
    /// the description the client (or anyone else holding the pipe) shares. A socket cannot
    /// be opened that way; its own description is made non-blocking (as libuv, which many
    /// clients use to start servers, does with its end).
    pub(super) fn open(fd: RawFd) -> Option<Stream> {
        if std::env::var("PGMCP_STDIO_REACTOR").is_ok_and(|v| v == "0") {
            return None;
        }
        // SAFETY: fstat fills the zeroed struct we pass.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        if unsafe { libc::fstat(fd, &mut st) } != 0 {
            return None;
        }
        match st.st_mode & libc::S_IFMT {
            libc::S_IFIFO => {
                let path = std::ffi::CString::new(format!("/proc/self/fd/{fd}")).ok()?;
                let flags = if fd == 0 {
                    libc::O_RDONLY
                } else {
                    libc::O_WRONLY
                };
                // SAFETY: open with a valid C string; the descriptor is owned below.
                let new = unsafe {
                    libc::open(path.as_ptr(), flags | libc::O_NONBLOCK | libc::O_CLOEXEC)
                };
                if new < 0 {
                    return None;
                }
                // SAFETY: `new` is ours alone.
                let file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(new) });
                if fd == 0 {
                    tokio::net::unix::pipe::Receiver::from_file(file)
                        .ok()
                        .map(Stream::PipeIn)
                } else {
                    tokio::net::unix::pipe::Sender::from_file(file)
                        .ok()
                        .map(Stream::PipeOut)
                }
            }
            libc::S_IFSOCK => {
                // SAFETY: dup of an open descriptor; the copy is owned below.
                let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
                if new < 0 {
                    return None;
                }
                // SAFETY: `new` is ours alone.
                let sock =
                    std::os::unix::net::UnixStream::from(unsafe { OwnedFd::from_raw_fd(new) });
                sock.set_nonblocking(true).ok()?;
                tokio::net::UnixStream::from_std(sock)
                    .ok()
                    .map(Stream::Socket)
            }
            _ => None,
        }
    }

    pub(super) enum Stream {
        PipeIn(tokio::net::unix::pipe::Receiver),
        PipeOut(tokio::net::unix::pipe::Sender),
        Socket(tokio::net::UnixStream),
    }

    use std::pin::Pin;
    use std::task::{Context, Poll};
    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

    impl AsyncRead for Stream {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            match self.get_mut() {
                Stream::PipeIn(r) => Pin::new(r).poll_read(cx, buf),
                Stream::Socket(s) => Pin::new(s).poll_read(cx, buf),
                Stream::PipeOut(_) => Poll::Ready(Err(std::io::ErrorKind::Unsupported.into())),
            }
        }
    }

    impl AsyncWrite for Stream {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            match self.get_mut() {
                Stream::PipeOut(w) => Pin::new(w).poll_write(cx, buf),
                Stream::Socket(s) => Pin::new(s).poll_write(cx, buf),
                Stream::PipeIn(_) => Poll::Ready(Err(std::io::ErrorKind::Unsupported.into())),
            }
        }

        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            match self.get_mut() {
                Stream::PipeOut(w) => Pin::new(w).poll_flush(cx),
                Stream::Socket(s) => Pin::new(s).poll_flush(cx),
                Stream::PipeIn(_) => Poll::Ready(Ok(())),
            }
        }

        fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            match self.get_mut() {
                Stream::PipeOut(w) => Pin::new(w).poll_shutdown(cx),
                Stream::Socket(s) => Pin::new(s).poll_shutdown(cx),
                Stream::PipeIn(_) => Poll::Ready(Ok(())),
            }
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
    tokio::spawn(filter_input(input, filter_out, tx));
    let writer = tokio::spawn(write_output(collector_in, output, rx));
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

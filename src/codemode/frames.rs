//! The parent ⇄ worker protocol: length-prefixed JSON frames over the worker's stdin and
//! stdout. A frame is a 4-byte big-endian length followed by that many bytes of JSON.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::sandbox::{Manifest, Outcome, SandboxLimits};
use super::transpile::TranspileLimits;

/// Largest frame either side accepts; a bigger length means a corrupt or hostile stream.
pub const MAX_FRAME: usize = 64 * 1024 * 1024;

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ToWorker {
    /// Sent first: what to build the realm for, and the limits to put on the process,
    /// while no program is known yet.
    Prepare {
        manifest: Manifest,
        limits: SandboxLimits,
        os: OsLimits,
    },
    /// Sent first instead of `Prepare`: become a zygote for this profile, which prepares its
    /// realm once and forks one prepared child per execution (see `codemode::zygote`).
    Zygote {
        manifest: Manifest,
        limits: SandboxLimits,
        os: OsLimits,
    },
    /// Run one program in the prepared realm; sent once per worker. `source` is the agent's
    /// TypeScript: the worker transpiles it (`Prepared::run_source`), under its own limits.
    Run {
        source: String,
        transpile: TranspileLimits,
        /// Tests only: before running, try the system calls the seccomp filter must refuse
        /// and report what happened in `Usage` (set by the server, never by user input).
        #[serde(default)]
        seccomp_selftest: bool,
    },
    /// The completion of a `pg.*` call.
    Result { id: u64, ok: bool, value: Value },
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum FromWorker {
    /// The worker has prepared its realm and is waiting for `Run`.
    Ready,
    /// A `pg.*` call for the parent to serve through the registry.
    Call { id: u64, tool: String, args: Value },
    /// The program finished (successfully or not) inside the engine.
    Done {
        outcome: Box<Outcome>,
        usage: Option<Usage>,
    },
}

/// Resources the run consumed, as measured where it ran.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    pub cpu_ms: u64,
    /// Peak resident memory of the worker process; unknown in thread isolation.
    pub max_rss_kb: Option<u64>,
    /// With `OsLimits::seccomp_selftest`: each probed system call and the errno it got.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp_selftest: Option<Vec<(String, i32)>>,
}

/// Operating-system limits a worker applies to itself once its realm is prepared, before it
/// says it is ready (and so before any user code): what it mapped until then is not user
/// code's to spend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OsLimits {
    /// Bytes of address space user code may add on top of what the worker already mapped.
    pub memory_bytes: u64,
    /// CPU seconds of the whole process (RLIMIT_CPU). The parent lowers it for each run to
    /// that run's timeout (`prlimit`) before sending the program.
    pub cpu_seconds: u64,
    /// Stack reserved for the JS thread.
    pub stack_bytes: usize,
}

pub fn encode<T: Serialize>(msg: &T) -> Vec<u8> {
    let body = serde_json::to_vec(msg).unwrap_or_else(|_| b"{}".to_vec());
    let mut out = Vec::with_capacity(body.len() + 4);
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// Blocking read of one frame (the worker side).
pub fn read_blocking<T: for<'de> Deserialize<'de>>(
    r: &mut impl std::io::Read,
) -> std::io::Result<T> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let len = body_len(len)?;
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)?;
    serde_json::from_slice(&body)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// The body length a frame header announces, refused above [`MAX_FRAME`] before anything
/// is allocated for it.
fn body_len(header: [u8; 4]) -> std::io::Result<usize> {
    let len = u32::from_be_bytes(header) as usize;
    if len > MAX_FRAME {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "frame too large",
        ));
    }
    Ok(len)
}

/// Async read of one frame (the parent side).
pub async fn read_async<T: for<'de> Deserialize<'de>>(
    r: &mut (impl tokio::io::AsyncRead + Unpin),
) -> std::io::Result<T> {
    use tokio::io::AsyncReadExt;
    let mut len = [0u8; 4];
    r.read_exact(&mut len).await?;
    let len = body_len(len)?;
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).await?;
    serde_json::from_slice(&body)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Frames arriving on a stream, decoded from a buffer the caller fills with a cancel-safe
/// read (`read_buf`), so one `select!` loop can read frames, write replies and watch
/// deadlines without a task per direction.
#[derive(Default)]
pub struct FrameBuf {
    pub buf: bytes::BytesMut,
}

impl FrameBuf {
    /// The next whole frame in the buffer, if one has arrived.
    pub fn next_frame<T: for<'de> Deserialize<'de>>(&mut self) -> std::io::Result<Option<T>> {
        let Some(head) = self.buf.get(..4) else {
            return Ok(None);
        };
        let len = body_len([head[0], head[1], head[2], head[3]])?;
        if self.buf.len() < 4 + len {
            self.buf.reserve(4 + len - self.buf.len());
            return Ok(None);
        }
        let frame = self.buf.split_to(4 + len);
        serde_json::from_slice(&frame[4..])
            .map(Some)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    }
}

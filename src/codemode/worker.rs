//! Where untrusted code runs. Boa cannot interrupt a native loop, survive a parser stack
//! overflow or an allocation failure, so by default each execution runs in a *worker
//! process* — this binary re-executed with [`WORKER_ARG`] — that the server can kill:
//!
//! * the worker has no database connection, no credentials and an empty environment; every
//!   `pg.*` call is a frame the parent serves through the registry;
//! * before user code runs it limits itself (address space, CPU seconds, no new file
//!   descriptors, no core dumps) and runs the engine on a thread with a large stack;
//! * the parent owns the deadline and kills the worker at it, whatever the worker is doing;
//! * one execution per worker, then it exits: no state crosses executions. A few idle
//!   workers are kept started to hide the spawn cost.
//!
//! `thread` isolation runs the same engine on a thread of the server instead; it keeps the
//! instruction budget and every engine limit but cannot enforce memory, cannot survive a
//! crash, and at the deadline can only abandon the thread (the instruction budget ends it).

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout};
use tokio::sync::{Mutex, mpsc};

use super::frames::{self, FromWorker, OsLimits, ToWorker, Usage};
use super::sandbox::{self, Bridge, Manifest, Outcome, SandboxLimits};

/// argv[1] that turns the pgmcp binary into a sandbox worker.
pub const WORKER_ARG: &str = "__sandbox-worker";

/// Why a run ended outside the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    Timeout,
    MemoryLimit,
    CpuLimit,
    StackOverflow,
    Crashed(String),
    Cancelled,
    Spawn(String),
}

impl Failure {
    pub fn code(&self) -> &'static str {
        match self {
            Failure::Timeout => "TIMEOUT",
            Failure::MemoryLimit => "MEMORY_LIMIT",
            Failure::CpuLimit => "CPU_LIMIT",
            Failure::StackOverflow => "STACK_OVERFLOW",
            Failure::Crashed(_) => "WORKER_CRASHED",
            Failure::Cancelled => "CANCELLED",
            Failure::Spawn(_) => "WORKER_UNAVAILABLE",
        }
    }
}

/// One program to run and its limits. In thread isolation only `os.stack_bytes` applies.
pub struct Job {
    pub js: String,
    pub manifest: Manifest,
    pub limits: SandboxLimits,
    pub os: OsLimits,
    pub deadline: Instant,
}

/// Serves one `pg.*` call: `(tool, args) -> Ok(success) | Err(tool error JSON)`.
pub type Serve =
    Arc<dyn Fn(String, Value) -> BoxFuture<'static, Result<Value, Value>> + Send + Sync>;

// ------------------------------------------------------------------------------------------
// Worker side
// ------------------------------------------------------------------------------------------

/// Entry point of the worker process. Never returns to `main`'s normal path.
pub fn worker_main() -> i32 {
    use std::os::fd::FromRawFd;
    // SAFETY: fds 0 and 1 are the pipes the parent gave us and nothing else in this process
    // uses them; taking ownership here is what keeps std's locked handles out of the way.
    let mut input = std::io::BufReader::new(unsafe { std::fs::File::from_raw_fd(0) });
    let mut output = std::io::BufWriter::new(unsafe { std::fs::File::from_raw_fd(1) });
    if write_frame(&mut output, &FromWorker::Ready).is_err() {
        return 70;
    }
    let (js, manifest, limits, os) = match frames::read_blocking::<ToWorker>(&mut input) {
        Ok(ToWorker::Run {
            js,
            manifest,
            limits,
            os,
        }) => (js, manifest, limits, os),
        _ => return 0, // parent went away or sent nonsense: nothing to run
    };
    if let Err(e) = apply_os_limits(&os) {
        eprintln!("pgmcp worker: cannot apply limits: {e}");
        return 71;
    }
    let runner = std::thread::Builder::new()
        .name("pgmcp-js".into())
        .stack_size(os.stack_bytes)
        .spawn(move || {
            // Last layer before user code: from here on this thread can only compute,
            // allocate and talk over its pipes.
            if let Err(e) = super::seccomp::install() {
                eprintln!("pgmcp worker: cannot install the seccomp filter: {e}");
                std::process::exit(73);
            }
            let selftest = os.seccomp_selftest.then(super::seccomp::selftest);
            let mut bridge = FrameBridge { input, output };
            let outcome = sandbox::run(&js, &manifest, &limits, &mut bridge);
            let mut usage = process_usage();
            usage.seccomp_selftest = selftest;
            let usage = Some(usage);
            let _ = write_frame(
                &mut bridge.output,
                &FromWorker::Done {
                    outcome: Box::new(outcome),
                    usage,
                },
            );
        });
    match runner.map(|h| h.join()) {
        Ok(Ok(())) => 0,
        _ => 72,
    }
}

/// CPU time and peak memory of this (worker) process.
fn process_usage() -> Usage {
    // SAFETY: getrusage fills the zeroed struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return Usage::default();
    }
    let ms = |tv: libc::timeval| tv.tv_sec as u64 * 1000 + tv.tv_usec as u64 / 1000;
    Usage {
        cpu_ms: ms(ru.ru_utime) + ms(ru.ru_stime),
        max_rss_kb: Some(ru.ru_maxrss as u64),
        seccomp_selftest: None,
    }
}

/// CPU time of the calling thread (thread isolation).
fn thread_usage() -> Usage {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we pass.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } != 0 {
        return Usage::default();
    }
    Usage {
        cpu_ms: ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000,
        max_rss_kb: None,
        seccomp_selftest: None,
    }
}

fn write_frame(out: &mut impl Write, msg: &FromWorker) -> std::io::Result<()> {
    out.write_all(&frames::encode(msg))?;
    out.flush()
}

struct FrameBridge {
    input: std::io::BufReader<std::fs::File>,
    output: std::io::BufWriter<std::fs::File>,
}

impl Bridge for FrameBridge {
    fn submit(&mut self, call_id: u64, tool: &str, args: Value) -> Result<(), String> {
        write_frame(
            &mut self.output,
            &FromWorker::Call {
                id: call_id,
                tool: tool.to_string(),
                args,
            },
        )
        .map_err(|_| "the server closed the bridge".to_string())
    }

    fn wait(&mut self) -> Option<(u64, Result<Value, Value>)> {
        match frames::read_blocking::<ToWorker>(&mut self.input) {
            Ok(ToWorker::Result { id, ok, value }) => {
                Some((id, if ok { Ok(value) } else { Err(value) }))
            }
            _ => None,
        }
    }
}

#[cfg(unix)]
fn apply_os_limits(os: &OsLimits) -> std::io::Result<()> {
    fn set(resource: libc::__rlimit_resource_t, soft: u64, hard: u64) -> std::io::Result<()> {
        let lim = libc::rlimit {
            rlim_cur: soft as libc::rlim_t,
            rlim_max: hard as libc::rlim_t,
        };
        // SAFETY: setrlimit with a valid pointer to an initialised struct.
        if unsafe { libc::setrlimit(resource, &lim) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
    // One malloc arena: glibc otherwise reserves 64 MB of address space per arena for the
    // JS thread, and the address-space limit below would measure reservations, not use.
    // SAFETY: mallopt only tunes the allocator; called before the JS thread exists.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) };
    // What is mapped already (binary, libraries, heap so far) is not user code's to spend;
    // the JS thread's stack reservation is added on top.
    let mapped = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .next()
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map(|pages| pages * 4096)
        .unwrap_or(64 << 20);
    let address_space = mapped + os.stack_bytes as u64 + os.memory_bytes;
    set(libc::RLIMIT_CORE, 0, 0)?;
    set(libc::RLIMIT_AS, address_space, address_space)?;
    set(libc::RLIMIT_CPU, os.cpu_seconds, os.cpu_seconds + 1)?;
    // stdin, stdout, stderr: nothing new can be opened.
    set(libc::RLIMIT_NOFILE, 3, 3)?;
    Ok(())
}

#[cfg(not(unix))]
fn apply_os_limits(_os: &OsLimits) -> std::io::Result<()> {
    Ok(())
}

// ------------------------------------------------------------------------------------------
// Parent side
// ------------------------------------------------------------------------------------------

struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
    stderr: Option<ChildStderr>,
    pid: Option<u32>,
}

/// Idle, pre-started workers. Each is used for exactly one execution.
pub struct WorkerPool {
    exe: PathBuf,
    idle: Mutex<Vec<Worker>>,
    target: usize,
    /// One refill task at a time, so concurrent executions cannot overshoot `target`.
    refilling: std::sync::atomic::AtomicBool,
}

impl WorkerPool {
    pub fn new(exe: PathBuf, target: usize) -> Arc<Self> {
        Arc::new(WorkerPool {
            exe,
            idle: Mutex::new(Vec::new()),
            target,
            refilling: std::sync::atomic::AtomicBool::new(false),
        })
    }

    async fn spawn(exe: &PathBuf) -> std::io::Result<Worker> {
        let mut cmd = tokio::process::Command::new(exe);
        cmd.arg(WORKER_ARG)
            .env_clear()
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn()?;
        let mut stdout = child
            .stdout
            .take()
            .ok_or_else(|| std::io::Error::other("no stdout"))?;
        let ready = tokio::time::timeout(
            Duration::from_secs(10),
            frames::read_async::<FromWorker>(&mut stdout),
        )
        .await;
        match ready {
            Ok(Ok(FromWorker::Ready)) => {}
            _ => return Err(std::io::Error::other("the sandbox worker did not start")),
        }
        Ok(Worker {
            stdin: child
                .stdin
                .take()
                .ok_or_else(|| std::io::Error::other("no stdin"))?,
            stderr: child.stderr.take(),
            pid: child.id(),
            stdout,
            child,
        })
    }

    async fn take(self: &Arc<Self>) -> std::io::Result<Worker> {
        let worker = self.idle.lock().await.pop();
        match worker {
            Some(w) => Ok(w),
            None => Self::spawn(&self.exe).await,
        }
    }

    /// Tops the idle set up in the background.
    pub fn refill(self: &Arc<Self>) {
        use std::sync::atomic::Ordering;
        if self.target == 0 || self.refilling.swap(true, Ordering::AcqRel) {
            return;
        }
        let pool = self.clone();
        tokio::spawn(async move {
            while pool.idle.lock().await.len() < pool.target {
                match Self::spawn(&pool.exe).await {
                    Ok(w) => pool.idle.lock().await.push(w),
                    Err(e) => {
                        tracing::warn!("cannot pre-start a sandbox worker: {e}");
                        break;
                    }
                }
            }
            pool.refilling.store(false, Ordering::Release);
        });
    }
}

/// Runs `js` in a fresh worker process, serving its `pg.*` calls with `serve`, until it
/// finishes, `deadline` passes or `cancel` fires.
pub async fn run_in_process(
    pool: &Arc<WorkerPool>,
    job: Job,
    serve: Serve,
    cancel: tokio_util::sync::CancellationToken,
) -> Result<(Outcome, Option<Usage>), Failure> {
    let Job {
        js,
        manifest,
        limits,
        os,
        deadline,
    } = job;
    let Worker {
        mut child,
        mut stdin,
        mut stdout,
        stderr,
        pid,
    } = pool
        .take()
        .await
        .map_err(|e| Failure::Spawn(e.to_string()))?;
    // Frames are read on their own task: a read cut short by select! would lose bytes.
    let (from_tx, mut from_rx) = mpsc::channel::<FromWorker>(64);
    let reader = tokio::spawn(async move {
        while let Ok(frame) = frames::read_async::<FromWorker>(&mut stdout).await {
            if from_tx.send(frame).await.is_err() {
                break;
            }
        }
    });
    let stderr_tail = tokio::spawn(read_tail(stderr));
    let start = ToWorker::Run {
        js,
        manifest,
        limits,
        os,
    };
    // One task owns stdin, so replies are written whole and in order.
    let (reply_tx, mut reply_rx) = mpsc::unbounded_channel::<ToWorker>();
    let _ = reply_tx.send(start);
    let writer = tokio::spawn(async move {
        while let Some(msg) = reply_rx.recv().await {
            let mut frame = frames::encode(&msg);
            // The worker refuses a frame over MAX_FRAME and would lose the whole bridge; fail
            // just that call instead (one huge row can exceed it: row caps keep one row).
            if frame.len() > frames::MAX_FRAME + 4
                && let ToWorker::Result { id, .. } = msg
            {
                frame = frames::encode(&too_large(id, frame.len() - 4));
            }
            if stdin.write_all(&frame).await.is_err() || stdin.flush().await.is_err() {
                break;
            }
        }
    });
    let ended = drive(
        &mut from_rx,
        |id, result| {
            let (ok, value) = match result {
                Ok(v) => (true, v),
                Err(v) => (false, v),
            };
            let _ = reply_tx.send(ToWorker::Result { id, ok, value });
        },
        deadline,
        &serve,
        &cancel,
    )
    .await;
    let result = match ended {
        Ended::Done(outcome, usage) => Ok((*outcome, usage)),
        Ended::Failed(failure) => {
            let _ = child.start_kill();
            Err(failure)
        }
        Ended::Gone => {
            // The worker died on its own: find out how.
            let status = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
            let tail = tokio::time::timeout(Duration::from_secs(1), stderr_tail)
                .await
                .ok()
                .and_then(|r| r.ok())
                .unwrap_or_default();
            tracing::debug!(stderr = %tail, "sandbox worker died");
            Err(classify(status.ok().and_then(|s| s.ok()), &tail))
        }
    };
    // The worker is finished with (or killed); reap it off the response path.
    let _ = child.start_kill();
    tokio::spawn(async move {
        let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
    });
    reader.abort();
    writer.abort();
    // Replace the used worker only now: spawning one costs a few ms of CPU, which should
    // not compete with the execution it would have served.
    pool.refill();
    tracing::debug!(pid = ?pid, ok = result.is_ok(), "sandbox worker finished");
    result
}

/// The completion sent instead of a call result too large for one frame.
fn too_large(id: u64, bytes: usize) -> ToWorker {
    ToWorker::Result {
        id,
        ok: false,
        value: serde_json::json!({
            "error": format!(
                "the result of this call is {bytes} bytes of JSON, more than code can receive ({} bytes)",
                frames::MAX_FRAME
            ),
            "code": "RESULT_TOO_LARGE",
            "category": "limit",
            "recoverable": true,
            "suggestion": "Select less data per call: fewer rows (LIMIT) or smaller values (substring, length).",
        }),
    }
}

async fn read_tail(stderr: Option<ChildStderr>) -> String {
    use tokio::io::AsyncReadExt;
    let Some(mut stderr) = stderr else {
        return String::new();
    };
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while let Ok(n) = stderr.read(&mut chunk).await {
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > 64 * 1024 {
            buf.drain(..buf.len() - 16 * 1024);
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

fn classify(status: Option<std::process::ExitStatus>, stderr: &str) -> Failure {
    #[cfg(unix)]
    use std::os::unix::process::ExitStatusExt;
    if stderr.contains("cannot install the seccomp filter") {
        return Failure::Crashed("the sandbox worker could not install its seccomp filter".into());
    }
    if stderr.contains("has overflowed its stack") {
        return Failure::StackOverflow;
    }
    if stderr.contains("memory allocation of")
        || stderr.contains("out of memory")
        || stderr.contains("capacity overflow")
    {
        return Failure::MemoryLimit;
    }
    #[cfg(unix)]
    if let Some(sig) = status.and_then(|s| s.signal()) {
        if sig == libc::SIGXCPU || sig == libc::SIGKILL {
            return Failure::CpuLimit;
        }
        return Failure::Crashed(format!("the sandbox worker was killed by signal {sig}"));
    }
    Failure::Crashed(match status.and_then(|s| s.code()) {
        Some(code) => format!("the sandbox worker exited with status {code}"),
        None => "the sandbox worker stopped unexpectedly".into(),
    })
}

/// Thread isolation: the same engine on a thread of this process.
pub async fn run_in_thread(
    job: Job,
    serve: Serve,
    cancel: tokio_util::sync::CancellationToken,
) -> Result<(Outcome, Option<Usage>), Failure> {
    let Job {
        js,
        manifest,
        limits,
        os,
        deadline,
    } = job;
    let stack_bytes = os.stack_bytes;
    let (from_tx, mut from_rx) = mpsc::channel::<FromWorker>(64);
    let (to_tx, to_rx) = std::sync::mpsc::channel::<(u64, Result<Value, Value>)>();
    struct ThreadBridge {
        from: mpsc::Sender<FromWorker>,
        to: std::sync::mpsc::Receiver<(u64, Result<Value, Value>)>,
    }
    impl Bridge for ThreadBridge {
        fn submit(&mut self, call_id: u64, tool: &str, args: Value) -> Result<(), String> {
            self.from
                .blocking_send(FromWorker::Call {
                    id: call_id,
                    tool: tool.to_string(),
                    args,
                })
                .map_err(|_| "the server closed the bridge".to_string())
        }
        fn wait(&mut self) -> Option<(u64, Result<Value, Value>)> {
            self.to.recv().ok()
        }
    }
    let done_tx = from_tx.clone();
    let spawned = std::thread::Builder::new()
        .name("pgmcp-js".into())
        .stack_size(stack_bytes)
        .spawn(move || {
            let mut bridge = ThreadBridge {
                from: from_tx,
                to: to_rx,
            };
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                sandbox::run(&js, &manifest, &limits, &mut bridge)
            }));
            if let Ok(outcome) = outcome {
                let usage = Some(thread_usage());
                let _ = done_tx.blocking_send(FromWorker::Done {
                    outcome: Box::new(outcome),
                    usage,
                });
            }
        });
    if let Err(e) = spawned {
        return Err(Failure::Spawn(e.to_string()));
    }
    // Dropping `to_tx` on return closes the bridge, so a thread waiting on a call ends
    // with BRIDGE_CLOSED; a thread in a busy loop runs into its instruction budget.
    let ended = drive(
        &mut from_rx,
        |id, result| {
            let _ = to_tx.send((id, result));
        },
        deadline,
        &serve,
        &cancel,
    )
    .await;
    match ended {
        Ended::Done(outcome, usage) => Ok((*outcome, usage)),
        Ended::Gone => Err(Failure::Crashed("the sandbox thread panicked".into())),
        Ended::Failed(failure) => Err(failure),
    }
}

enum Ended {
    Done(Box<Outcome>, Option<Usage>),
    /// The program's side closed without reporting (a dead worker or thread).
    Gone,
    Failed(Failure),
}

/// Serves a running program's `pg.*` calls, concurrently, until it reports its outcome,
/// goes away, the deadline passes or `cancel` fires. Calls still in flight at the end are
/// dropped, which cancels their statements at the server (see `db::CancelGuard`).
async fn drive(
    from: &mut mpsc::Receiver<FromWorker>,
    mut reply: impl FnMut(u64, Result<Value, Value>),
    deadline: Instant,
    serve: &Serve,
    cancel: &tokio_util::sync::CancellationToken,
) -> Ended {
    let mut in_flight = FuturesUnordered::new();
    let sleep = tokio::time::sleep_until(deadline.into());
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            frame = from.recv() => match frame {
                Some(FromWorker::Call { id, tool, args }) => {
                    let serve = serve.clone();
                    in_flight.push(async move { (id, serve(tool, args).await) });
                }
                Some(FromWorker::Done { outcome, usage }) => return Ended::Done(outcome, usage),
                Some(FromWorker::Ready) => {}
                None => return Ended::Gone,
            },
            Some((id, result)) = in_flight.next(), if !in_flight.is_empty() => reply(id, result),
            _ = &mut sleep => return Ended::Failed(Failure::Timeout),
            _ = cancel.cancelled() => return Ended::Failed(Failure::Cancelled),
        }
    }
}

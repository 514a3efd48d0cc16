//! Where untrusted code runs. Boa cannot interrupt a native loop, survive a parser stack
//! overflow or an allocation failure, so by default each execution runs in a *worker
//! process* — this binary re-executed with [`WORKER_ARG`] — that the server can kill:
//!
//! * the worker has no database connection, no credentials and an empty environment; every
//!   `pg.*` call is a frame the parent serves through the registry;
//! * before user code runs it limits itself (address space, CPU seconds, no new file
//!   descriptors, no core dumps) and runs the engine on a thread with a large stack, under a
//!   seccomp filter;
//! * the parent owns the deadline and kills the worker at it, whatever the worker is doing;
//! * one execution per worker, then it exits: no state crosses executions. A few idle
//!   workers are kept started, each with its realm already built and its limits and filter
//!   already on (the [`Profile`] it was prepared for), so an execution only sends its
//!   program;
//! * on Linux a worker is not started but *forked* from a zygote that prepared the realm for
//!   its profile once (`codemode::zygote`): the child is still a fresh process that runs one
//!   program and exits, and it puts on the same limits and filter before it says it is ready.
//!   Without a zygote (it cannot start, `PGMCP_CODE_ZYGOTE=0`, other systems) workers are
//!   spawned as described above.
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
use tokio::process::Child;
use tokio::sync::mpsc;

use super::frames::{self, FromWorker, OsLimits, ToWorker, Usage};
use super::sandbox::{self, Bridge, Manifest, Outcome, SandboxLimits};
use super::transpile::TranspileLimits;

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
    /// Every worker slot (`--code-max-workers`) stayed taken: the queue was full or the
    /// wait ran out. Retry after about this many milliseconds.
    Busy {
        retry_after_ms: u64,
        queue_full: bool,
    },
}

impl Failure {
    pub fn code(&self) -> crate::error::Code {
        use crate::error::Code;
        match self {
            Failure::Timeout => Code::Timeout,
            Failure::MemoryLimit => Code::MemoryLimit,
            Failure::CpuLimit => Code::CpuLimit,
            Failure::StackOverflow => Code::StackOverflow,
            Failure::Crashed(_) => Code::WorkerCrashed,
            Failure::Cancelled => Code::Cancelled,
            Failure::Spawn(_) => Code::WorkerUnavailable,
            Failure::Busy { .. } => Code::Busy,
        }
    }
}

/// What a worker prepares before its program is known: a realm for the `pg` manifest and
/// the engine limits, and the process limits. A server has one per read-only mode; idle
/// workers are prepared for the profile of the executions they will serve.
pub struct Profile {
    pub manifest: Manifest,
    pub limits: SandboxLimits,
    /// In thread isolation only `os.stack_bytes` applies.
    pub os: OsLimits,
    /// The `Prepare` frame, encoded once.
    frame: Vec<u8>,
}

impl Profile {
    pub fn new(manifest: Manifest, limits: SandboxLimits, os: OsLimits) -> Arc<Profile> {
        let frame = frames::encode(&ToWorker::Prepare {
            manifest: manifest.clone(),
            limits: limits.clone(),
            os,
        });
        Arc::new(Profile {
            manifest,
            limits,
            os,
            frame,
        })
    }

    fn same(a: &Arc<Profile>, b: &Arc<Profile>) -> bool {
        Arc::ptr_eq(a, b) || a.frame == b.frame
    }
}

/// One program to run in a realm of `profile`.
pub struct Job {
    /// The agent's TypeScript, transpiled where it runs (the worker process, or the JS thread
    /// in thread isolation).
    pub source: String,
    pub transpile: TranspileLimits,
    pub profile: Arc<Profile>,
    /// CPU seconds for this run, when below the profile's (process isolation).
    pub cpu_seconds: u64,
    pub deadline: Instant,
    /// Tests only: report what the seccomp filter does to the system calls it must refuse
    /// (`Usage::seccomp_selftest`).
    pub seccomp_selftest: bool,
}

/// Serves one `pg.*` call: `(tool, args) -> Ok(success) | Err(tool error JSON)`.
pub type Serve =
    Arc<dyn Fn(String, Value) -> BoxFuture<'static, Result<Value, Value>> + Send + Sync>;

// ------------------------------------------------------------------------------------------
// Worker side
// ------------------------------------------------------------------------------------------

/// Entry point of the worker process. Never returns to `main`'s normal path.
///
/// The worker reads `Prepare`, builds its realm on the JS thread (a fresh realm in a fresh
/// process; no user code has touched it), limits itself and installs the seccomp filter on
/// that thread, says `Ready`, and only then waits for `Run`. After reporting the outcome it
/// exits at once: the realm is not torn down.
pub fn worker_main() -> i32 {
    use std::os::fd::FromRawFd;
    // One malloc arena: glibc otherwise reserves 64 MB of address space per arena for the
    // JS thread, and the address-space limit would measure reservations, not use.
    // SAFETY: mallopt only tunes the allocator; called before any other thread exists.
    #[cfg(target_os = "linux")]
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1)
    };
    // SAFETY: fds 0 and 1 are the pipes the parent gave us and nothing else in this process
    // uses them; taking ownership here is what keeps std's locked handles out of the way.
    let mut input = std::io::BufReader::new(unsafe { std::fs::File::from_raw_fd(0) });
    let mut output = std::io::BufWriter::new(unsafe { std::fs::File::from_raw_fd(1) });
    let (manifest, limits, os) = match frames::read_blocking::<ToWorker>(&mut input) {
        Ok(ToWorker::Prepare {
            manifest,
            limits,
            os,
        }) => (manifest, limits, os),
        #[cfg(target_os = "linux")]
        Ok(ToWorker::Zygote {
            manifest,
            limits,
            os,
        }) => {
            // fd 1 is the zygote's control socket, which it uses raw: not closed here.
            std::mem::forget(output);
            return super::zygote::zygote_main(input, manifest, limits, os);
        }
        _ => return 0, // parent went away or sent nonsense: nothing to run
    };
    let runner = std::thread::Builder::new()
        .name("pgmcp-js".into())
        .stack_size(os.stack_bytes)
        .spawn(move || {
            // The realm is built on the thread that will run it (a Context is not Send).
            let mut prepared = sandbox::Prepared::new(&manifest, &limits);
            drop(manifest);
            let filter = super::seccomp::prepare();
            // What is mapped now (binary, libraries, this thread's stack reservation, the
            // realm) is not user code's to spend.
            if let Err(e) = apply_os_limits(&os, mapped_bytes()) {
                eprintln!("pgmcp worker: cannot apply limits: {e}");
                return 71;
            }
            // Last layer before user code: from here on this thread can only compute,
            // allocate and talk over its pipes.
            if let Err(e) = filter.and_then(|f| f.apply()) {
                eprintln!("pgmcp worker: cannot install the seccomp filter: {e}");
                std::process::exit(73);
            }
            if write_frame(&mut output, &FromWorker::Ready).is_err() {
                return 70;
            }
            serve_one(&mut prepared, input, output)
        });
    match runner.map(|h| h.join()) {
        Ok(Ok(code)) => code,
        _ => 72,
    }
}

/// Runs the one program a prepared worker (spawned, or forked from a zygote) receives, reports
/// its outcome, waits for the parent to close the channel and exits. Its limits and seccomp
/// filter are on already.
pub(super) fn serve_one(
    prepared: &mut sandbox::Prepared,
    mut input: std::io::BufReader<std::fs::File>,
    output: std::io::BufWriter<std::fs::File>,
) -> i32 {
    let (source, transpile, seccomp_selftest) = match frames::read_blocking::<ToWorker>(&mut input)
    {
        Ok(ToWorker::Run {
            source,
            transpile,
            seccomp_selftest,
        }) => (source, transpile, seccomp_selftest),
        _ => return 0,
    };
    let selftest = seccomp_selftest.then(super::seccomp::selftest);
    let mut bridge = FrameBridge { input, output };
    let outcome = prepared.run_source(&source, &transpile, &mut bridge);
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
    // One run per worker. Wait for the parent to close our stdin (it kills us as soon as
    // it has the outcome): exiting on our own here, while the parent is still reading the
    // outcome, measurably slowed its response. Then leave without tearing the realm down:
    // `_exit`, not `std::process::exit`, whose C `exit` runs this thread's thread-local
    // destructors, and Boa's garbage collector is one: it would free every object of the
    // realm, in a forked child a copy-on-write fault on nearly every page of the heap
    // (measured: two thirds of a forked child's CPU time for `return 1`). Nothing is
    // buffered: every frame was flushed, stderr is unbuffered.
    let mut rest = [0u8; 256];
    while matches!(std::io::Read::read(&mut bridge.input, &mut rest), Ok(n) if n > 0) {}
    // SAFETY: ends the process at once; nothing of it is needed any more.
    unsafe { libc::_exit(0) }
}

/// CPU time and peak memory of this (worker) process.
pub(super) fn process_usage() -> Usage {
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

/// Bytes of address space this process has mapped.
pub(super) fn mapped_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .next()
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map(|pages| pages * 4096)
        .unwrap_or(64 << 20)
}

/// Lowers a prepared worker's CPU limit to this run's (soft; the hard limit a second
/// above). Best effort: the worker's own limit from its profile stays as the backstop.
fn lower_cpu_limit(pid: u32, cpu_seconds: u64) {
    #[cfg(target_os = "linux")]
    {
        let lim = libc::rlimit {
            rlim_cur: cpu_seconds as libc::rlim_t,
            rlim_max: cpu_seconds.saturating_add(1) as libc::rlim_t,
        };
        // SAFETY: prlimit on our own child with a valid pointer to an initialised struct.
        if unsafe {
            libc::prlimit(
                pid as libc::pid_t,
                libc::RLIMIT_CPU,
                &lim,
                std::ptr::null_mut(),
            )
        } != 0
        {
            tracing::debug!(
                "cannot lower the worker's CPU limit: {}",
                std::io::Error::last_os_error()
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (pid, cpu_seconds);
}

/// Limits the process to `mapped` bytes of address space plus the user's allowance, its
/// CPU time, no new files and no core dumps.
#[cfg(unix)]
pub(super) fn apply_os_limits(os: &OsLimits, mapped: u64) -> std::io::Result<()> {
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
    let address_space = mapped + os.memory_bytes;
    set(libc::RLIMIT_CORE, 0, 0)?;
    set(libc::RLIMIT_AS, address_space, address_space)?;
    set(libc::RLIMIT_CPU, os.cpu_seconds, os.cpu_seconds + 1)?;
    // stdin, stdout, stderr: nothing new can be opened.
    set(libc::RLIMIT_NOFILE, 3, 3)?;
    Ok(())
}

#[cfg(not(unix))]
pub(super) fn apply_os_limits(_os: &OsLimits, _mapped: u64) -> std::io::Result<()> {
    Ok(())
}

// ------------------------------------------------------------------------------------------
// Parent side
// ------------------------------------------------------------------------------------------

type Writer = Box<dyn tokio::io::AsyncWrite + Send + Unpin>;
type Reader = Box<dyn tokio::io::AsyncRead + Send + Unpin>;

struct Worker {
    /// This worker's place under `--code-max-workers`, given back once the process is gone.
    slot: tokio::sync::OwnedSemaphorePermit,
    proc: Proc,
    stdin: Writer,
    stdout: Reader,
    stderr: Option<Reader>,
    pid: Option<u32>,
    profile: Arc<Profile>,
}

/// A worker process: spawned by the server, or forked by a zygote (whose child it is, so
/// the zygote kills and reaps it and reports its exit status).
enum Proc {
    Spawned(Child),
    #[cfg(target_os = "linux")]
    Forked {
        zygote: Arc<super::zygote::Zygote>,
        pid: u32,
        exit: tokio::sync::oneshot::Receiver<i32>,
        ended: Option<Exit>,
    },
}

/// How a worker process ended, as far as the server can tell.
#[derive(Clone, Copy)]
enum Exit {
    Status(std::process::ExitStatus),
    Unknown,
    /// Its zygote died (and the child with it, `PR_SET_PDEATHSIG`).
    ZygoteGone,
}

impl Proc {
    fn start_kill(&mut self) {
        match self {
            Proc::Spawned(child) => {
                let _ = child.start_kill();
            }
            #[cfg(target_os = "linux")]
            Proc::Forked { zygote, pid, .. } => zygote.kill(*pid),
        }
    }

    /// Waits for the process to end (cancel-safe).
    async fn wait(&mut self) -> Exit {
        match self {
            Proc::Spawned(child) => match child.wait().await {
                Ok(status) => Exit::Status(status),
                Err(_) => Exit::Unknown,
            },
            #[cfg(target_os = "linux")]
            Proc::Forked { exit, ended, .. } => {
                if let Some(e) = ended {
                    return *e;
                }
                use std::os::unix::process::ExitStatusExt;
                let e = match exit.await {
                    Ok(raw) => Exit::Status(std::process::ExitStatus::from_raw(raw)),
                    Err(_) => Exit::ZygoteGone,
                };
                *ended = Some(e);
                e
            }
        }
    }

    fn is_forked(&self) -> bool {
        !matches!(self, Proc::Spawned(_))
    }

    /// Whether an idle worker is not to be used: gone already (its zygote died), or the
    /// child of a retired zygote (whose layout is to be left behind).
    fn stale(&self) -> bool {
        match self {
            Proc::Spawned(_) => false,
            #[cfg(target_os = "linux")]
            Proc::Forked { zygote, .. } => !zygote.alive() || zygote.retired(),
        }
    }
}

/// Idle, prepared workers. Each is used for exactly one execution.
///
/// On Linux workers are forked from a *zygote* per profile (see `codemode::zygote`), which
/// prepared the realm once: a new worker costs a fork, not a process start and a realm. If
/// no zygote can be started, workers are spawned as before (the binary re-executed).
/// `PGMCP_CODE_ZYGOTE=0` in the server's environment, or [`WorkerPool::set_fork`], turns
/// the zygote off.
///
/// Every live worker process, idle or running, holds one of `--code-max-workers` slots from
/// the moment it is spawned until it has exited: reaped, or, for a forked worker, its stderr
/// closed (only it holds that pipe, and the kernel closes it after releasing its memory; what
/// is left is a zombie its zygote reaps). Zygotes hold none: one per profile, and they run no
/// user code. An execution that finds no idle worker and no free slot waits in
/// a bounded queue (`--code-max-queued`, `--code-queue-timeout`) and then fails with BUSY,
/// so a flood of executions cannot become a flood of processes.
pub struct WorkerPool {
    exe: PathBuf,
    slots: Arc<tokio::sync::Semaphore>,
    max_workers: usize,
    queued: std::sync::atomic::AtomicUsize,
    max_queued: usize,
    queue_timeout: Duration,
    idle: std::sync::Mutex<Vec<Worker>>,
    target: usize,
    /// The profile refills prepare workers for: the latest execution's (or `warm`'s).
    profile: std::sync::Mutex<Option<Arc<Profile>>>,
    /// One refill task at a time, so concurrent executions cannot overshoot `target`.
    refilling: std::sync::atomic::AtomicBool,
    /// Fork workers from zygotes.
    fork: std::sync::atomic::AtomicBool,
    /// The live zygotes, by profile (the latest few profiles).
    #[cfg(target_os = "linux")]
    zygotes: tokio::sync::Mutex<Vec<(Arc<Profile>, Arc<super::zygote::Zygote>)>>,
    /// When a zygote last failed to start: spawned workers for a while, then try again.
    #[cfg(target_os = "linux")]
    zygote_failed: std::sync::Mutex<Option<Instant>>,
    /// A successor zygote is being started.
    #[cfg(target_os = "linux")]
    replacing: std::sync::atomic::AtomicBool,
    /// Children a zygote forks before it is retired ([`super::zygote::MAX_FORKS`]).
    #[cfg(target_os = "linux")]
    max_forks: std::sync::atomic::AtomicU64,
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// How a pool caps its workers.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    /// Live worker processes at most, idle ones included.
    pub max_workers: usize,
    /// Executions that may wait for a slot at once.
    pub max_queued: usize,
    /// How long one of them waits.
    pub queue_timeout: Duration,
}

impl Default for Caps {
    /// The server's defaults: `--code-max-workers` for this machine, as many queued, 10 s.
    fn default() -> Self {
        let max_workers = crate::config::default_max_workers();
        Caps {
            max_workers,
            max_queued: max_workers,
            queue_timeout: Duration::from_secs(10),
        }
    }
}

/// Zygotes kept at most (one per profile in use: read-write and read-only).
#[cfg(target_os = "linux")]
const MAX_ZYGOTES: usize = 4;

/// How long after a zygote failed to start workers are spawned instead.
#[cfg(target_os = "linux")]
const ZYGOTE_RETRY: Duration = Duration::from_secs(30);

/// A zygote's successor is started when it has this fraction (1/n) of its forks left.
#[cfg(target_os = "linux")]
const ZYGOTE_REPLACE_AHEAD: u64 = 10;

impl WorkerPool {
    /// A pool with the default caps.
    pub fn new(exe: PathBuf, target: usize) -> Arc<Self> {
        Self::with_caps(exe, target, Caps::default())
    }

    pub fn with_caps(exe: PathBuf, target: usize, caps: Caps) -> Arc<Self> {
        let max_workers = caps.max_workers.max(1);
        let fork = cfg!(target_os = "linux")
            && !matches!(
                std::env::var("PGMCP_CODE_ZYGOTE").as_deref(),
                Ok("0" | "off" | "false")
            );
        Arc::new(WorkerPool {
            exe,
            slots: Arc::new(tokio::sync::Semaphore::new(max_workers)),
            max_workers,
            queued: std::sync::atomic::AtomicUsize::new(0),
            max_queued: caps.max_queued,
            queue_timeout: caps.queue_timeout,
            idle: std::sync::Mutex::new(Vec::new()),
            target,
            profile: std::sync::Mutex::new(None),
            refilling: std::sync::atomic::AtomicBool::new(false),
            fork: std::sync::atomic::AtomicBool::new(fork),
            #[cfg(target_os = "linux")]
            zygotes: tokio::sync::Mutex::new(Vec::new()),
            #[cfg(target_os = "linux")]
            zygote_failed: std::sync::Mutex::new(None),
            #[cfg(target_os = "linux")]
            replacing: std::sync::atomic::AtomicBool::new(false),
            #[cfg(target_os = "linux")]
            max_forks: std::sync::atomic::AtomicU64::new(super::zygote::MAX_FORKS),
        })
    }

    /// Forks workers from zygotes (`true`, the default on Linux) or spawns each one.
    pub fn set_fork(&self, on: bool) {
        self.fork.store(
            on && cfg!(target_os = "linux"),
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// Retires a zygote after `n` children instead of [`super::zygote::MAX_FORKS`] (tests:
    /// zygote succession without a thousand executions).
    pub fn set_zygote_max_forks(&self, n: u64) {
        #[cfg(target_os = "linux")]
        self.max_forks
            .store(n.max(1), std::sync::atomic::Ordering::Relaxed);
        #[cfg(not(target_os = "linux"))]
        let _ = n;
    }

    /// Process ids of the live zygotes (for tests and diagnostics).
    pub async fn zygote_pids(&self) -> Vec<u32> {
        self.zygote_prefault_pages()
            .await
            .into_iter()
            .map(|(pid, _)| pid)
            .collect()
    }

    /// Pages each child of the live zygotes pre-faults, by zygote pid (for tests and
    /// diagnostics).
    pub async fn zygote_prefault_pages(&self) -> Vec<(u32, u32)> {
        #[cfg(target_os = "linux")]
        {
            self.zygotes
                .lock()
                .await
                .iter()
                .filter(|(_, z)| z.alive())
                .map(|(_, z)| (z.pid(), z.prefault_pages()))
                .collect()
        }
        #[cfg(not(target_os = "linux"))]
        Vec::new()
    }

    /// Live worker processes (idle, running, or killed and not yet gone).
    pub fn live(&self) -> usize {
        self.max_workers - self.slots.available_permits()
    }

    /// A slot for a new worker: at once if one is free, else after waiting in the queue
    /// until `deadline` or the queue timeout, whichever is sooner.
    async fn slot(&self, deadline: Instant) -> Result<tokio::sync::OwnedSemaphorePermit, Failure> {
        use std::sync::atomic::Ordering;
        if let Ok(slot) = self.slots.clone().try_acquire_owned() {
            return Ok(slot);
        }
        let retry_after_ms = (self.queue_timeout.as_millis() as u64 / 2).clamp(100, 5_000);
        if self.queued.fetch_add(1, Ordering::AcqRel) >= self.max_queued {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(Failure::Busy {
                retry_after_ms,
                queue_full: true,
            });
        }
        let wait = self
            .queue_timeout
            .min(deadline.saturating_duration_since(Instant::now()));
        let got = tokio::time::timeout(wait, self.slots.clone().acquire_owned()).await;
        self.queued.fetch_sub(1, Ordering::AcqRel);
        match got {
            Ok(Ok(slot)) => Ok(slot),
            _ => Err(Failure::Busy {
                retry_after_ms,
                queue_full: false,
            }),
        }
    }

    /// Drops idle workers not to be used: forked ones whose zygote died died with it; those
    /// of a retired zygote are replaced by children of its successor.
    fn purge_stale(idle: &mut Vec<Worker>) {
        while let Some(i) = idle.iter().position(|w| w.proc.stale()) {
            Self::retire(idle.remove(i));
        }
    }

    /// Kills a worker and gives its slot back once the process has been reaped.
    fn retire(worker: Worker) {
        let Worker { mut proc, slot, .. } = worker;
        proc.start_kill();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(5), proc.wait()).await;
            drop(slot);
        });
    }

    /// A new worker prepared for `profile`: forked from its zygote, or spawned.
    async fn spawn(
        self: &Arc<Self>,
        profile: &Arc<Profile>,
        slot: tokio::sync::OwnedSemaphorePermit,
    ) -> std::io::Result<Worker> {
        #[cfg(target_os = "linux")]
        let slot = {
            let mut slot = slot;
            if self.fork.load(std::sync::atomic::Ordering::Relaxed)
                && let Some(zygote) = self.zygote(profile).await
            {
                match Self::fork_worker(&zygote, profile, slot).await {
                    Ok(worker) => return Ok(worker),
                    Err((e, back)) => {
                        // This worker is spawned instead, and so are the next ones for a
                        // while: a zygote that cannot fork is not restarted on every call.
                        // (A zygote that died is only replaced.)
                        tracing::warn!("cannot fork a sandbox worker, spawning instead: {e}");
                        if zygote.alive() {
                            *lock(&self.zygote_failed) = Some(Instant::now());
                        }
                        zygote.shut();
                        slot = back;
                    }
                }
            }
            slot
        };
        Self::spawn_process(&self.exe, profile, slot).await
    }

    /// The live zygote for `profile`, started if there is none (`None` if it cannot be).
    #[cfg(target_os = "linux")]
    async fn zygote(
        self: &Arc<Self>,
        profile: &Arc<Profile>,
    ) -> Option<Arc<super::zygote::Zygote>> {
        let mut zygotes = self.zygotes.lock().await;
        // Dead ones, and those that forked their share (children in flight keep theirs).
        let max = self.max_forks.load(std::sync::atomic::Ordering::Relaxed);
        zygotes.retain(|(_, z)| {
            let keep = z.alive() && z.forks() < max;
            if !keep {
                z.retire();
            }
            keep
        });
        if let Some((_, z)) = zygotes.iter().find(|(p, _)| Profile::same(p, profile)) {
            if z.forks() >= max - max / ZYGOTE_REPLACE_AHEAD {
                self.replace_zygote(profile);
            }
            return Some(z.clone());
        }
        if lock(&self.zygote_failed).is_some_and(|t| t.elapsed() < ZYGOTE_RETRY) {
            return None;
        }
        match super::zygote::Zygote::start(&self.exe, profile).await {
            Ok(z) => {
                let z = Arc::new(z);
                if zygotes.len() >= MAX_ZYGOTES {
                    // Its children in flight keep it alive until they are done.
                    zygotes.remove(0).1.retire();
                }
                zygotes.push((profile.clone(), z.clone()));
                Some(z)
            }
            Err(e) => {
                tracing::warn!("cannot start a sandbox zygote, spawning workers instead: {e}");
                *lock(&self.zygote_failed) = Some(Instant::now());
                None
            }
        }
    }

    /// Starts the successor of `profile`'s zygote in the background, so that retiring one
    /// after its last allowed fork ([`super::zygote::MAX_FORKS`]) costs no execution the tens of
    /// milliseconds a zygote takes to prepare its realm. The old one stays in use until the
    /// new one is ready (and alive while its children are).
    #[cfg(target_os = "linux")]
    fn replace_zygote(self: &Arc<Self>, profile: &Arc<Profile>) {
        use std::sync::atomic::Ordering;
        if self.replacing.swap(true, Ordering::AcqRel) {
            return;
        }
        let (pool, profile) = (self.clone(), profile.clone());
        tokio::spawn(async move {
            match super::zygote::Zygote::start(&pool.exe, &profile).await {
                Ok(z) => {
                    let mut zygotes = pool.zygotes.lock().await;
                    zygotes.retain(|(p, old)| {
                        let keep = !Profile::same(p, &profile);
                        if !keep {
                            old.retire();
                        }
                        keep
                    });
                    if zygotes.len() >= MAX_ZYGOTES {
                        zygotes.remove(0).1.retire();
                    }
                    zygotes.push((profile, Arc::new(z)));
                }
                Err(e) => tracing::warn!("cannot start a successor sandbox zygote: {e}"),
            }
            pool.replacing.store(false, Ordering::Release);
            // Idle children of the old zygote make way for the successor's.
            pool.refill();
        });
    }

    /// Forks a worker from `zygote` and waits until it is ready (limits and filter on). On
    /// failure the slot comes back once the child is gone.
    #[cfg(target_os = "linux")]
    async fn fork_worker(
        zygote: &Arc<super::zygote::Zygote>,
        profile: &Arc<Profile>,
        slot: tokio::sync::OwnedSemaphorePermit,
    ) -> Result<Worker, (String, tokio::sync::OwnedSemaphorePermit)> {
        let forked = match zygote.fork().await {
            Ok(f) => f,
            Err(e) => return Err((e, slot)),
        };
        let mut proc = Proc::Forked {
            zygote: zygote.clone(),
            pid: forked.pid,
            exit: forked.exit,
            ended: None,
        };
        let pid = forked.pid;
        let sock = std::os::unix::net::UnixStream::from(forked.sock);
        let stream = sock
            .set_nonblocking(true)
            .and_then(|_| tokio::net::UnixStream::from_std(sock));
        let stderr = tokio::net::unix::pipe::Receiver::from_owned_fd(forked.stderr).ok();
        let mut stderr: Option<Reader> = stderr.map(|r| Box::new(r) as Reader);
        let (read, write) = match stream {
            Ok(s) => s.into_split(),
            Err(e) => {
                proc.start_kill();
                let _ = tokio::time::timeout(Duration::from_secs(1), proc.wait()).await;
                return Err((e.to_string(), slot));
            }
        };
        let mut stdout: Reader = Box::new(read);
        let ready = tokio::time::timeout(
            Duration::from_secs(10),
            frames::read_async::<FromWorker>(&mut stdout),
        )
        .await;
        if !matches!(ready, Ok(Ok(FromWorker::Ready))) {
            proc.start_kill();
            let status = tokio::time::timeout(Duration::from_secs(1), proc.wait()).await;
            let mut tail = Vec::new();
            if let Some(stderr) = stderr.as_mut() {
                use tokio::io::AsyncReadExt;
                let _ = tokio::time::timeout(Duration::from_secs(1), stderr.read_to_end(&mut tail))
                    .await;
            }
            let tail = String::from_utf8_lossy(&tail);
            let status = match status {
                Ok(Exit::Status(s)) => Some(s),
                _ => None,
            };
            let why = describe(&classify(status, &tail));
            return Err((
                format!("the forked sandbox worker did not start ({why})"),
                slot,
            ));
        }
        Ok(Worker {
            slot,
            proc,
            stdin: Box::new(write),
            stdout,
            stderr,
            pid: Some(pid),
            profile: profile.clone(),
        })
    }

    /// Starts a worker process and waits until it has prepared its realm for `profile`.
    async fn spawn_process(
        exe: &PathBuf,
        profile: &Arc<Profile>,
        slot: tokio::sync::OwnedSemaphorePermit,
    ) -> std::io::Result<Worker> {
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
        let mut stdin = child
            .stdin
            .take()
            .ok_or_else(|| std::io::Error::other("no stdin"))?;
        let ready = tokio::time::timeout(Duration::from_secs(10), async {
            // A worker that is already gone fails the read of `Ready` instead.
            let _ = stdin.write_all(&profile.frame).await;
            let _ = stdin.flush().await;
            frames::read_async::<FromWorker>(&mut stdout).await
        })
        .await;
        match ready {
            Ok(Ok(FromWorker::Ready)) => {}
            _ => {
                // Say why, when the worker died: its status and what it printed.
                let _ = child.start_kill();
                let status = tokio::time::timeout(Duration::from_secs(1), child.wait()).await;
                let mut tail = Vec::new();
                if let Some(mut stderr) = child.stderr.take() {
                    use tokio::io::AsyncReadExt;
                    let _ =
                        tokio::time::timeout(Duration::from_secs(1), stderr.read_to_end(&mut tail))
                            .await;
                }
                let tail = String::from_utf8_lossy(&tail);
                tracing::debug!(stderr = %tail, "sandbox worker did not start");
                let why = describe(&classify(status.ok().and_then(|s| s.ok()), &tail));
                return Err(std::io::Error::other(format!(
                    "the sandbox worker did not start ({why})"
                )));
            }
        }
        let stderr = child.stderr.take().map(|e| Box::new(e) as Reader);
        Ok(Worker {
            slot,
            stdin: Box::new(stdin),
            stderr,
            pid: child.id(),
            stdout: Box::new(stdout),
            proc: Proc::Spawned(child),
            profile: profile.clone(),
        })
    }

    /// An idle worker prepared for `profile`, or a new one once a slot is free.
    async fn take(
        self: &Arc<Self>,
        profile: &Arc<Profile>,
        deadline: Instant,
    ) -> Result<Worker, Failure> {
        *lock(&self.profile) = Some(profile.clone());
        let worker = {
            let mut idle = lock(&self.idle);
            Self::purge_stale(&mut idle);
            match idle
                .iter()
                .rposition(|w| Profile::same(&w.profile, profile))
            {
                Some(i) => {
                    tracing::trace!(idle = idle.len(), "idle worker taken");
                    Some(idle.remove(i))
                }
                None => {
                    // Idle workers prepared for another profile: retire the oldest, so the
                    // refill replaces it with one for the profile in use now.
                    if !idle.is_empty() {
                        Self::retire(idle.remove(0));
                    }
                    None
                }
            }
        };
        match worker {
            Some(w) => Ok(w),
            None => {
                tracing::trace!("no idle worker");
                let slot = self.slot(deadline).await?;
                self.spawn(profile, slot)
                    .await
                    .map_err(|e| Failure::Spawn(e.to_string()))
            }
        }
    }

    /// Starts the idle workers for `profile` now rather than on the first execution.
    pub fn warm(self: &Arc<Self>, profile: &Arc<Profile>) {
        *lock(&self.profile) = Some(profile.clone());
        self.refill();
    }

    /// Tops the idle set up in the background, for the latest profile.
    pub fn refill(self: &Arc<Self>) {
        use std::sync::atomic::Ordering;
        if self.target == 0 || self.refilling.swap(true, Ordering::AcqRel) {
            return;
        }
        let pool = self.clone();
        tokio::spawn(async move {
            loop {
                let profile = lock(&pool.profile).clone();
                let Some(profile) = profile else { break };
                {
                    let mut idle = lock(&pool.idle);
                    Self::purge_stale(&mut idle);
                    if idle.len() >= pool.target {
                        break;
                    }
                }
                // Idle workers count toward --code-max-workers; with no slot free the
                // pool stays short (and queued executions get the slots first).
                let Ok(slot) = pool.slots.clone().try_acquire_owned() else {
                    break;
                };
                match pool.spawn(&profile, slot).await {
                    Ok(w) => lock(&pool.idle).push(w),
                    Err(e) => {
                        tracing::warn!("cannot pre-start a sandbox worker: {e}");
                        break;
                    }
                }
            }
            pool.refilling.store(false, Ordering::Release);
            // A successor zygote that came up while this task was finishing found it
            // running; the idle children it makes stale are replaced now.
            if lock(&pool.idle).iter().any(|w| w.proc.stale()) {
                pool.refill();
            }
        });
    }
}

/// Runs the job's script in a fresh worker process, serving its `pg.*` calls with `serve`,
/// until it finishes, `deadline` passes or `cancel` fires.
pub async fn run_in_process(
    pool: &Arc<WorkerPool>,
    job: Job,
    serve: Serve,
    cancel: tokio_util::sync::CancellationToken,
) -> Result<(Outcome, Option<Usage>), Failure> {
    let Job {
        source,
        transpile,
        profile,
        cpu_seconds,
        deadline,
        seccomp_selftest,
    } = job;
    let run = frames::encode(&ToWorker::Run {
        source,
        transpile,
        seccomp_selftest,
    });
    // A forked worker lost with its zygote before it made any `pg.*` call had no effect
    // outside itself: the run is retried once on a worker from a new zygote.
    let mut retried = false;
    loop {
        let attempt = run_once(
            pool,
            &profile,
            cpu_seconds,
            deadline,
            run.clone(),
            &serve,
            &cancel,
        );
        match attempt.await {
            Attempt::Done(result) => return *result,
            Attempt::ZygoteGone { calls } if calls == 0 && !retried => {
                tracing::debug!("sandbox zygote died under a worker; running it again");
                retried = true;
            }
            Attempt::ZygoteGone { .. } => {
                return Err(Failure::Crashed(
                    "the sandbox zygote died while the worker ran".into(),
                ));
            }
        }
    }
}

enum Attempt {
    Done(Box<Result<(Outcome, Option<Usage>), Failure>>),
    /// The worker died because its zygote did, after `calls` `pg.*` calls.
    ZygoteGone {
        calls: usize,
    },
}

async fn run_once(
    pool: &Arc<WorkerPool>,
    profile: &Arc<Profile>,
    cpu_seconds: u64,
    deadline: Instant,
    run: Vec<u8>,
    serve: &Serve,
    cancel: &tokio_util::sync::CancellationToken,
) -> Attempt {
    let started = Instant::now();
    let Worker {
        slot,
        mut proc,
        mut stdin,
        mut stdout,
        stderr,
        pid,
        profile: _,
    } = match pool.take(profile, deadline).await {
        Ok(w) => w,
        Err(f) => return Attempt::Done(Box::new(Err(f))),
    };
    // A fork costs a fraction of a millisecond, mostly in the zygote and the new child, but
    // that still competes with this run for the CPU: the worker is replaced now only when
    // none is left idle (executions back to back drain them), else as soon as the run is
    // over. (A spawned worker costs several ms and is replaced only once this one is reaped.)
    if proc.is_forked() && lock(&pool.idle).is_empty() {
        pool.refill();
    }
    if cpu_seconds < profile.os.cpu_seconds
        && let Some(pid) = pid
    {
        lower_cpu_limit(pid, cpu_seconds);
    }
    let mut io = WorkerIo {
        stdin: &mut stdin,
        stdout: &mut stdout,
        stderr,
        stderr_tail: Vec::new(),
        stderr_eof: false,
        calls: 0,
    };
    let taken = started.elapsed();
    let ended = io.drive(run, deadline, serve, cancel).await;
    let ran = started.elapsed() - taken;
    let result = match ended {
        Ended::Done(outcome, usage) => Attempt::Done(Box::new(Ok((*outcome, usage)))),
        Ended::Failed(failure) => {
            proc.start_kill();
            Attempt::Done(Box::new(Err(failure)))
        }
        Ended::Gone => {
            // The worker died on its own: find out how.
            let status = tokio::time::timeout(Duration::from_secs(5), proc.wait()).await;
            let _ = tokio::time::timeout(Duration::from_secs(1), io.drain_stderr()).await;
            let tail = String::from_utf8_lossy(&io.stderr_tail).into_owned();
            tracing::debug!(stderr = %tail, "sandbox worker died");
            match status {
                Ok(Exit::ZygoteGone) => Attempt::ZygoteGone { calls: io.calls },
                Ok(Exit::Status(s)) => Attempt::Done(Box::new(Err(classify(Some(s), &tail)))),
                _ => Attempt::Done(Box::new(Err(classify(None, &tail)))),
            }
        }
    };
    // The worker is finished with (or killed); reap it off the response path. Its slot is
    // free only once the process is gone, and only then can a replacement take it.
    // Replacing the used worker only now also keeps the few ms of CPU a spawn costs from
    // competing with the execution it would have served.
    // A forked worker that reported its outcome exits by itself once its channel closes
    // (dropped here), which saves its zygote a wake-up; any other is killed now.
    let finished = matches!(&result, Attempt::Done(r) if r.is_ok()) && proc.is_forked();
    let stderr = match io.stderr.take() {
        Some(r) => Stderr::Open(r),
        None if io.stderr_eof => Stderr::Ended,
        None => Stderr::Unknown,
    };
    drop((stdin, stdout));
    if !finished {
        proc.start_kill();
    }
    if proc.is_forked() {
        // With a slot free, the replacement need not wait for this one's reaping.
        pool.refill();
    }
    let refill = pool.clone();
    tokio::spawn(async move {
        // The slot is free once the process is gone: reaped, or — sooner for a forked
        // worker, whose zygote reaps it — its stderr closed. Only the worker holds that pipe's
        // write end (it cannot fork), and the kernel closes it after it has released the
        // process's memory, so what is left is a zombie its zygote reaps.
        let gone = async {
            tokio::select! {
                _ = proc.wait() => {}
                _ = stderr_closed(stderr), if proc.is_forked() => {}
            }
        };
        if tokio::time::timeout(Duration::from_secs(1), gone)
            .await
            .is_err()
        {
            proc.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(5), proc.wait()).await;
        }
        drop(slot);
        refill.refill();
    });
    tracing::debug!(
        pid = ?pid,
        ok = matches!(&result, Attempt::Done(r) if r.is_ok()),
        take_us = taken.as_micros() as u64,
        run_us = ran.as_micros() as u64,
        "sandbox worker finished"
    );
    result
}

/// A finished worker's stderr, as far as the server has read it.
enum Stderr {
    Open(Reader),
    /// Read to its end.
    Ended,
    /// Not readable (never set up, or a read failed): says nothing about the process.
    Unknown,
}

/// Resolves when a worker's stderr has ended; never when that cannot be known.
async fn stderr_closed(stderr: Stderr) {
    use tokio::io::AsyncReadExt;
    match stderr {
        Stderr::Ended => {}
        Stderr::Unknown => std::future::pending().await,
        Stderr::Open(mut r) => {
            let mut chunk = [0u8; 1024];
            loop {
                match r.read(&mut chunk).await {
                    Ok(0) => return,
                    Ok(_) => {}
                    Err(_) => std::future::pending().await,
                }
            }
        }
    }
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

/// The parent's ends of one worker's pipes, all driven from one task: no reader or writer
/// task to hand frames through, so a `pg.*` call costs no extra wake-ups.
struct WorkerIo<'a> {
    stdin: &'a mut Writer,
    stdout: &'a mut Reader,
    stderr: Option<Reader>,
    /// The end of what the worker wrote to stderr (read as it comes, so the worker never
    /// blocks on a full pipe), for classifying a crash.
    stderr_tail: Vec<u8>,
    /// Its stderr was read to its end (every write end closed: the worker is gone).
    stderr_eof: bool,
    /// `pg.*` calls the worker made.
    calls: usize,
}

/// Appends to a stderr tail, keeping the last 16 to 64 KB.
fn keep_tail(tail: &mut Vec<u8>, chunk: &[u8]) {
    tail.extend_from_slice(chunk);
    if tail.len() > 64 * 1024 {
        tail.drain(..tail.len() - 16 * 1024);
    }
}

impl WorkerIo<'_> {
    /// Reads stderr to its end.
    async fn drain_stderr(&mut self) {
        use tokio::io::AsyncReadExt;
        let Some(mut stderr) = self.stderr.take() else {
            return;
        };
        let mut chunk = [0u8; 4096];
        while let Ok(n) = stderr.read(&mut chunk).await {
            if n == 0 {
                self.stderr_eof = true;
                break;
            }
            keep_tail(&mut self.stderr_tail, &chunk[..n]);
        }
    }

    /// Sends `run`, then serves the worker's `pg.*` calls, concurrently, until it reports
    /// its outcome, goes away, the deadline passes or `cancel` fires. Calls still in
    /// flight at the end are dropped, which cancels their statements at the server (see
    /// `db::CancelGuard`). Every read and write here is cancel-safe (`read_buf`, `read`,
    /// `write`), so none of them loses bytes when another branch wins.
    async fn drive(
        &mut self,
        run: Vec<u8>,
        deadline: Instant,
        serve: &Serve,
        cancel: &tokio_util::sync::CancellationToken,
    ) -> Ended {
        use tokio::io::AsyncReadExt;
        let WorkerIo {
            stdin,
            stdout,
            stderr,
            stderr_tail,
            stderr_eof,
            calls,
        } = self;
        let mut frames_in = frames::FrameBuf::default();
        // Frames to write, in order; `written` bytes of the first are out already.
        let mut out: std::collections::VecDeque<Vec<u8>> = [run].into();
        let mut written = 0usize;
        let mut in_flight = FuturesUnordered::new();
        let mut chunk = [0u8; 4096];
        let sleep = tokio::time::sleep_until(deadline.into());
        tokio::pin!(sleep);
        loop {
            loop {
                match frames_in.next_frame::<FromWorker>() {
                    Ok(Some(FromWorker::Call { id, tool, args })) => {
                        *calls += 1;
                        let serve = serve.clone();
                        in_flight.push(async move { (id, serve(tool, args).await) });
                    }
                    Ok(Some(FromWorker::Done { outcome, usage })) => {
                        return Ended::Done(outcome, usage);
                    }
                    Ok(Some(FromWorker::Ready)) => {}
                    Ok(None) => break,
                    Err(_) => return Ended::Gone,
                }
            }
            let front = out.front().map(|f| &f[written..]);
            tokio::select! {
                biased;
                _ = cancel.cancelled() => return Ended::Failed(Failure::Cancelled),
                _ = &mut sleep => return Ended::Failed(Failure::Timeout),
                w = stdin.write(front.unwrap_or_default()), if front.is_some() => match w {
                    Ok(n) if n > 0 => {
                        written += n;
                        if out.front().is_some_and(|f| written == f.len()) {
                            out.pop_front();
                            written = 0;
                        }
                    }
                    // The worker stopped reading: it is gone or going, which its stdout
                    // reports.
                    _ => {
                        out.clear();
                        written = 0;
                    }
                },
                Some((id, result)) = in_flight.next(), if !in_flight.is_empty() => {
                    let (ok, value) = match result {
                        Ok(v) => (true, v),
                        Err(v) => (false, v),
                    };
                    let mut frame = frames::encode(&ToWorker::Result { id, ok, value });
                    // The worker refuses a frame over MAX_FRAME and would lose the whole
                    // bridge; fail just that call instead (one huge row can exceed it: row
                    // caps keep one row).
                    if frame.len() > frames::MAX_FRAME + 4 {
                        frame = frames::encode(&too_large(id, frame.len() - 4));
                    }
                    out.push_back(frame);
                }
                r = stdout.read_buf(&mut frames_in.buf) => match r {
                    Ok(0) | Err(_) => return Ended::Gone,
                    Ok(_) => {}
                },
                r = async { stderr.as_mut()?.read(&mut chunk).await.ok() }, if stderr.is_some() => match r {
                    Some(n) if n > 0 => keep_tail(stderr_tail, &chunk[..n]),
                    Some(_) => {
                        *stderr = None;
                        *stderr_eof = true;
                    }
                    None => *stderr = None,
                },
            }
        }
    }
}

/// A failure in a few words, for messages.
fn describe(f: &Failure) -> String {
    match f {
        Failure::Timeout => "it timed out".into(),
        Failure::MemoryLimit => "it ran out of memory".into(),
        Failure::CpuLimit => "it ran out of CPU time".into(),
        Failure::StackOverflow => "it overflowed its stack".into(),
        Failure::Crashed(why) | Failure::Spawn(why) => why.clone(),
        Failure::Cancelled => "cancelled".into(),
        Failure::Busy { .. } => "every sandbox worker was busy".into(),
    }
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
        source,
        transpile,
        profile,
        deadline,
        ..
    } = job;
    let stack_bytes = profile.os.stack_bytes;
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
                sandbox::run_source(
                    &source,
                    &transpile,
                    &profile.manifest,
                    &profile.limits,
                    &mut bridge,
                )
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

//! Workers at the speed of fork: a *zygote* is a worker process that prepares a realm once
//! (engine, realm, prelude, compiled seccomp filter) for one [`Profile`] and then forks one
//! child per execution on request.
//!
//! * The zygote is this binary re-executed with [`super::worker::WORKER_ARG`] (empty
//!   environment), sent a `Zygote` frame on its stdin instead of `Prepare`. Its stdout is
//!   one end of a `SOCK_SEQPACKET` socket pair, the *control* socket; the server keeps the
//!   other end. Its main thread has the JS stack (RLIMIT_STACK set before exec) and it
//!   never starts another thread: before each fork it checks `/proc/self/task` holds one.
//! * On `FORK` it makes a stream socket pair (the child's frame channel) and a pipe (its
//!   stderr), forks, and sends the server the parent ends with `SCM_RIGHTS` in a `FORKED`
//!   record. From then on the server talks to the child directly, with the same frames as
//!   a spawned worker; the zygote only reaps and kills.
//! * The child, before anything else: dies with its zygote (`PR_SET_PDEATHSIG`), moves its
//!   socket to fds 0 and 1 and its pipe to fd 2 and closes every other descriptor, applies
//!   the profile's rlimits and the seccomp filter (on its only thread), says `Ready`, and
//!   then runs exactly one program as a spawned worker would, and exits. The server lowers
//!   its CPU limit to the run's before sending the program, as for spawned workers.
//! * The zygote reaps its children (a `signalfd` for SIGCHLD) and reports each exit status
//!   (`EXITED`), which the server classifies as for a spawned worker; a child is killed only
//!   through its zygote (`KILL`), which cannot mistake a reused pid (it has not reaped it).
//! * The zygote exits when the control socket closes (the server went away or dropped it),
//!   killing its children. If it dies, its children die with it, the server's reader
//!   fails everything waiting on it, and the pool starts a new zygote on the next need.
//! * Children share their zygote's address-space layout (ASLR is chosen at exec) and its
//!   stack-protector canary, so the pool replaces a zygote after [`MAX_FORKS`] children: what
//!   one execution could learn about the layout is stale soon after. The successor is
//!   started in the background before that, and idle children of a retired zygote are not
//!   used.
//! * Before `READY` the zygote moves the code a run uses onto huge pages (`huge_text`: a
//!   first training child reports which code that is), so children need not fault it in.
//! * Then it forks one more *training* child that runs `return 1` in its realm and reports
//!   the pages it wrote; every child faults those in before it says it is ready
//!   (`Prefault`), so a run's first writes are not copy-on-write faults on the client's time.
//! * A child leaves with `_exit` after its run: the realm is never torn down (a C `exit`
//!   would run Boa's thread-local collector, which frees, and so copies, the whole heap).

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::sync::oneshot;

use super::frames::{self, FromWorker, OsLimits, ToWorker};
use super::sandbox::{self, Manifest, SandboxLimits};
use super::transpile::TranspileLimits;
use super::worker::Profile;

/// Children one zygote forks before the pool replaces it (see the module documentation).
pub const MAX_FORKS: u64 = 1000;

/// Control records: `[magic, tag, pid, value]` as native-endian u32/i32, one per message.
const MAGIC: u32 = 0x7a79_676f;
const RECORD: usize = 16;
// zygote → server
const READY: u32 = 1;
const FORKED: u32 = 2;
const EXITED: u32 = 3;
const FORK_FAILED: u32 = 4;
// server → zygote
const FORK: u32 = 11;
const KILL: u32 = 12;

fn record(tag: u32, pid: i32, value: i32) -> [u8; RECORD] {
    let mut r = [0u8; RECORD];
    r[0..4].copy_from_slice(&MAGIC.to_ne_bytes());
    r[4..8].copy_from_slice(&tag.to_ne_bytes());
    r[8..12].copy_from_slice(&pid.to_ne_bytes());
    r[12..16].copy_from_slice(&value.to_ne_bytes());
    r
}

fn parse(r: &[u8; RECORD]) -> Option<(u32, i32, i32)> {
    let word = |i: usize| [r[i], r[i + 1], r[i + 2], r[i + 3]];
    if u32::from_ne_bytes(word(0)) != MAGIC {
        return None;
    }
    Some((
        u32::from_ne_bytes(word(4)),
        i32::from_ne_bytes(word(8)),
        i32::from_ne_bytes(word(12)),
    ))
}

/// Sends one record, with `fds` attached (SCM_RIGHTS).
fn send_record(sock: RawFd, rec: &[u8; RECORD], fds: &[RawFd]) -> std::io::Result<()> {
    // SAFETY: sendmsg with an iovec over `rec` and a control buffer sized and aligned for
    // `fds.len()` descriptors, filled through the CMSG macros.
    unsafe {
        let mut iov = libc::iovec {
            iov_base: rec.as_ptr() as *mut libc::c_void,
            iov_len: RECORD,
        };
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        let mut cbuf = [0u64; 8];
        if !fds.is_empty() {
            let bytes = std::mem::size_of_val(fds) as u32;
            msg.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
            msg.msg_controllen = libc::CMSG_SPACE(bytes) as _;
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(bytes) as _;
            std::ptr::copy_nonoverlapping(
                fds.as_ptr() as *const u8,
                libc::CMSG_DATA(cmsg),
                bytes as usize,
            );
        }
        loop {
            if libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) >= 0 {
                return Ok(());
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

/// Receives one record and the descriptors attached to it. `Ok(None)` at end of stream.
fn recv_record(sock: RawFd) -> std::io::Result<Option<([u8; RECORD], Vec<OwnedFd>)>> {
    let mut rec = [0u8; RECORD];
    // SAFETY: recvmsg into `rec` and an aligned control buffer; every descriptor the kernel
    // put in it is taken into an OwnedFd exactly once.
    unsafe {
        let mut iov = libc::iovec {
            iov_base: rec.as_mut_ptr() as *mut libc::c_void,
            iov_len: RECORD,
        };
        let mut cbuf = [0u64; 8];
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
        msg.msg_controllen = std::mem::size_of_val(&cbuf) as _;
        let n = loop {
            let n = libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC);
            if n >= 0 {
                break n as usize;
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(e);
            }
        };
        let mut fds = Vec::new();
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(cmsg);
                let len = (*cmsg).cmsg_len as usize - (data as usize - cmsg as usize);
                for i in 0..len / std::mem::size_of::<RawFd>() {
                    let fd = std::ptr::read_unaligned((data as *const RawFd).add(i));
                    fds.push(OwnedFd::from_raw_fd(fd));
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
        if n == 0 && fds.is_empty() {
            return Ok(None);
        }
        if n != RECORD || msg.msg_flags & (libc::MSG_TRUNC | libc::MSG_CTRUNC) != 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "malformed zygote record",
            ));
        }
        Ok(Some((rec, fds)))
    }
}

// ------------------------------------------------------------------------------------------
// Zygote side
// ------------------------------------------------------------------------------------------

/// Threads of this process, when `/proc` says.
fn threads() -> Option<usize> {
    std::fs::read_dir("/proc/self/task").ok().map(|d| d.count())
}

/// Grows the main thread's stack mapping to (about) `bytes` now, so that what a child maps
/// before its address-space limit is taken includes its whole stack, as a worker's JS
/// thread stack is. Only one page is touched.
fn grow_stack(bytes: usize) {
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
        return;
    };
    let Some((start, end)) = maps.lines().find(|l| l.ends_with("[stack]")).and_then(|l| {
        let range = l.split_whitespace().next()?;
        let (a, b) = range.split_once('-')?;
        Some((
            usize::from_str_radix(a, 16).ok()?,
            usize::from_str_radix(b, 16).ok()?,
        ))
    }) else {
        return;
    };
    // SAFETY: getrlimit fills the struct we pass.
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    if unsafe { libc::getrlimit(libc::RLIMIT_STACK, &mut lim) } != 0 {
        return;
    }
    let limit = usize::try_from(lim.rlim_cur).unwrap_or(usize::MAX);
    // A margin below the limit for what the kernel counts above the stack pointer.
    let want = bytes.min(limit).saturating_sub(512 * 1024);
    let bottom = end.saturating_sub(want) & !4095;
    if bottom == 0 || bottom >= start {
        return;
    }
    // SAFETY: the address is inside the range the kernel grows the main stack into (below
    // its mapping, within RLIMIT_STACK); the write faults the mapping down to it. Nothing
    // else is mapped there: the kernel keeps that range free for the stack.
    unsafe { std::ptr::write_volatile(bottom as *mut u8, 0) };
}

/// Entry point of a zygote (`worker_main` with a `Zygote` frame). Builds the realm on this,
/// the only thread, then serves fork and kill requests on the control socket (fd 1) until
/// it closes.
pub(super) fn zygote_main(
    input: std::io::BufReader<std::fs::File>,
    manifest: Manifest,
    limits: SandboxLimits,
    os: OsLimits,
) -> i32 {
    const CTL: RawFd = 1;
    let mut prepared = sandbox::Prepared::new(&manifest, &limits);
    drop(manifest);
    let filter = match super::seccomp::prepare() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("pgmcp zygote: cannot install the seccomp filter: {e}");
            return 73;
        }
    };
    grow_stack(os.stack_bytes);
    // SIGCHLD becomes readable on a signalfd instead of interrupting anything.
    // SAFETY: plain signal-mask and signalfd calls on a zeroed, then filled, set.
    let sigfd = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGCHLD);
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK)
    };
    if sigfd < 0 {
        eprintln!(
            "pgmcp zygote: signalfd: {}",
            std::io::Error::last_os_error()
        );
        return 74;
    }
    if threads().is_some_and(|n| n != 1) {
        eprintln!("pgmcp zygote: more than one thread; refusing to fork");
        return 74;
    }
    // The code onto huge pages (`huge_text`), the chunks a training run touches; before
    // the pre-fault is learnt, as moving it allocates and frees on the heap. (One thread:
    // checked just above.)
    if super::huge_text::wanted() {
        let used = training_run(&mut prepared, super::huge_text::code_use);
        if let Err(why) = super::huge_text::remap(used.as_deref()) {
            eprintln!("pgmcp zygote: the code stays on small pages ({why})");
        }
    }
    // The pages a run touches first, learnt once by a training child (see `Prefault`).
    let prefault = if prefault_wanted() {
        Prefault::learn(&mut prepared)
    } else {
        Prefault::default()
    };
    // What a child has mapped when it starts is what the zygote has now (binary, libraries,
    // the grown stack, the realm): measured once here rather than in every child.
    let mapped = super::worker::mapped_bytes();
    // SAFETY: getpid cannot fail.
    let me = unsafe { libc::getpid() };
    let pages = i32::try_from(prefault.pages()).unwrap_or(i32::MAX);
    if send_record(CTL, &record(READY, me, pages), &[]).is_err() {
        return 0;
    }
    let mut live: HashSet<i32> = HashSet::new();
    loop {
        let mut fds = [
            libc::pollfd {
                fd: CTL,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: sigfd,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: poll over the two pollfds above.
        if unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) } < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            break;
        }
        if fds[1].revents != 0 {
            let mut info = [0u8; 128 * 8];
            // SAFETY: reads siginfo records into our buffer until the signalfd is empty.
            while unsafe { libc::read(sigfd, info.as_mut_ptr() as *mut libc::c_void, info.len()) }
                > 0
            {}
            loop {
                let mut status = 0;
                // SAFETY: reaps any exited child of ours without blocking.
                let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
                if pid <= 0 {
                    break;
                }
                live.remove(&pid);
                if send_record(CTL, &record(EXITED, pid, status), &[]).is_err() {
                    return kill_all(&live);
                }
            }
        }
        if fds[0].revents == 0 {
            continue;
        }
        let (tag, pid) = match recv_record(CTL) {
            Ok(Some((rec, _))) => match parse(&rec) {
                Some((tag, pid, _)) => (tag, pid),
                None => break,
            },
            _ => break,
        };
        match tag {
            FORK => match fork_child(&mut prepared, &filter, &os, mapped, me, &prefault) {
                Ok((pid, sock, err)) => {
                    live.insert(pid);
                    let sent = send_record(
                        CTL,
                        &record(FORKED, pid, 0),
                        &[sock.as_raw_fd(), err.as_raw_fd()],
                    );
                    if sent.is_err() {
                        break;
                    }
                }
                Err(errno) => {
                    if send_record(CTL, &record(FORK_FAILED, 0, errno), &[]).is_err() {
                        break;
                    }
                }
            },
            KILL if live.contains(&pid) => {
                // SAFETY: `pid` is our child and not yet reaped, so it cannot be reused.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            _ => {}
        }
    }
    drop(input);
    kill_all(&live)
}

fn kill_all(live: &HashSet<i32>) -> i32 {
    for &pid in live {
        // SAFETY: our unreaped children.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    0
}

/// Forks one child; in the parent returns its pid and the parent ends of its socket and
/// stderr pipe. The child never returns from here.
fn fork_child(
    prepared: &mut sandbox::Prepared,
    filter: &super::seccomp::Filter,
    os: &OsLimits,
    mapped: u64,
    zygote: libc::pid_t,
    prefault: &Prefault,
) -> Result<(i32, OwnedFd, OwnedFd), i32> {
    let errno = || {
        std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO)
    };
    // Forking is only sound from a process with one thread.
    if threads().is_some_and(|n| n != 1) {
        eprintln!("pgmcp zygote: more than one thread; refusing to fork");
        return Err(libc::EDEADLK);
    }
    let mut sv = [0 as RawFd; 2];
    let mut pipe = [0 as RawFd; 2];
    // SAFETY: socketpair and pipe2 fill the arrays; each fd is owned exactly once below.
    unsafe {
        if libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            sv.as_mut_ptr(),
        ) != 0
        {
            return Err(errno());
        }
        if libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC) != 0 {
            let e = errno();
            libc::close(sv[0]);
            libc::close(sv[1]);
            return Err(e);
        }
    }
    // SAFETY: as above.
    let (ours, theirs, err_r, err_w) = unsafe {
        (
            OwnedFd::from_raw_fd(sv[0]),
            OwnedFd::from_raw_fd(sv[1]),
            OwnedFd::from_raw_fd(pipe[0]),
            OwnedFd::from_raw_fd(pipe[1]),
        )
    };
    // SAFETY: this process has one thread (checked above), so the child inherits no lock
    // held by another thread.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(errno());
    }
    if pid == 0 {
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            child_main(
                prepared, filter, os, mapped, zygote, theirs, err_w, prefault,
            )
        }))
        .unwrap_or(72);
        // SAFETY: leaving the child without running the zygote's exit path.
        unsafe { libc::_exit(code) };
    }
    Ok((pid, ours, err_r))
}

/// The forked child: isolate, limit, then run one program (never returns normally).
#[allow(clippy::too_many_arguments)]
fn child_main(
    prepared: &mut sandbox::Prepared,
    filter: &super::seccomp::Filter,
    os: &OsLimits,
    mapped: u64,
    zygote: libc::pid_t,
    sock: OwnedFd,
    err: OwnedFd,
    prefault: &Prefault,
) -> i32 {
    // SAFETY: signal mask, prctl, dup2 and close on our own descriptors in a
    // single-threaded child.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGCHLD);
        libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        // Die with the zygote (and it died already if our parent changed).
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
        if libc::getppid() != zygote {
            libc::_exit(0);
        }
        if libc::dup2(sock.as_raw_fd(), 0) < 0
            || libc::dup2(sock.as_raw_fd(), 1) < 0
            || libc::dup2(err.as_raw_fd(), 2) < 0
        {
            libc::_exit(70);
        }
        // Everything else the zygote had open (its control socket, signalfd, other
        // children's descriptors) is gone before any user code.
        if libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) != 0 {
            for fd in 3..4096 {
                libc::close(fd);
            }
        }
        std::mem::forget(sock);
        std::mem::forget(err);
    }
    // Before `Ready`: a child taken from the idle pool has done this while it waited.
    prefault.apply();
    if let Err(e) = super::worker::apply_os_limits(os, mapped) {
        eprintln!("pgmcp worker: cannot apply limits: {e}");
        return 71;
    }
    if let Err(e) = filter.apply() {
        eprintln!("pgmcp worker: cannot install the seccomp filter: {e}");
        return 73;
    }
    // SAFETY: fds 0 and 1 are this child's socket (dup2 above); nothing else uses them.
    let input = std::io::BufReader::new(unsafe { std::fs::File::from_raw_fd(0) });
    let mut output = std::io::BufWriter::new(unsafe { std::fs::File::from_raw_fd(1) });
    let ready = frames::encode(&FromWorker::Ready);
    if output
        .write_all(&ready)
        .and_then(|_| output.flush())
        .is_err()
    {
        return 70;
    }
    super::worker::serve_one(prepared, input, output)
}

// ------------------------------------------------------------------------------------------
// Pre-faulting
// ------------------------------------------------------------------------------------------

/// Environment variable of the zygote's command: `0` turns pre-faulting off (set from the
/// server's `PGMCP_CODE_PREFAULT`, for measurements).
pub(super) const PREFAULT_ENV: &str = "PGMCP_ZYGOTE_PREFAULT";

fn prefault_wanted() -> bool {
    std::env::var(PREFAULT_ENV).map_or(true, |v| v != "0")
}

/// Program the training child runs, through the transpiler as every run is.
const TRAINING_SOURCE: &str = "return 1";

/// Pages cap: the list is a hint, not a copy of the heap.
const PREFAULT_MAX_PAGES: usize = 4096;

/// The page ranges a forked child faults in before it says it is ready, so that a run's
/// first writes cost no page faults on the path of the answer: a child shares its zygote's
/// memory copy-on-write, so without this every page a run writes (malloc's free chunks and
/// top, the stack) is copied, one fault at a time, while the client waits.
///
/// Which pages: those a *training* child — forked from the zygote before any other child,
/// running `return 1` in its realm, then exiting — owns alone afterwards (private
/// anonymous pages it copied or first touched), from `/proc/self/pagemap`. Children share
/// the zygote's layout, so the addresses hold for every child. A child applies them with
/// `MADV_POPULATE_WRITE`, which faults pages in as a write would without changing their
/// contents and fails harmlessly on anything not (or no longer) mapped writable. The
/// training run's realm dies with its process: no child ever sees it.
///
/// Code pages are left out: a fault maps the pages around it too (fault-around), so the
/// training child's present code pages are many times those a run needs, and mapping them
/// all in every child cost more than the faults it saved (measured).
#[derive(Default)]
struct Prefault {
    /// `(start, bytes)`, page-aligned, coalesced.
    ranges: Vec<(usize, usize)>,
}

struct NoBridge;

impl sandbox::Bridge for NoBridge {
    fn submit(&mut self, _: u64, _: &str, _: serde_json::Value) -> Result<(), String> {
        Err("no bridge".into())
    }
    fn wait(&mut self) -> Option<(u64, Result<serde_json::Value, serde_json::Value>)> {
        None
    }
}

impl Prefault {
    fn pages(&self) -> usize {
        self.ranges.iter().map(|(_, len)| len / 4096).sum()
    }

    /// Faults the ranges in (errors ignored: the list is only a hint).
    fn apply(&self) {
        for &(start, len) in &self.ranges {
            // SAFETY: populating page tables changes no memory contents; a range that is not
            // (or no longer) mapped writable only makes madvise fail.
            unsafe { libc::madvise(start as *mut libc::c_void, len, libc::MADV_POPULATE_WRITE) };
        }
    }

    /// Forks the training child and reads back the ranges it touched.
    fn learn(prepared: &mut sandbox::Prepared) -> Prefault {
        let Some(bytes) = training_run(prepared, || {
            touched()
                .into_iter()
                .flat_map(|(start, len)| [start, len])
                .collect()
        }) else {
            return Prefault::default();
        };
        let ranges = bytes.chunks_exact(2).map(|c| (c[0], c[1])).collect();
        Prefault { ranges }
    }
}

/// Forks a *training* child that runs `return 1` in this realm as a worker would (the
/// program through the frame decoder, the outcome through the encoder), then reports what
/// `report` finds in its own process afterwards; returns that, or `None` if the child
/// failed. The training run's realm dies with its process: no child ever sees it.
fn training_run(
    prepared: &mut sandbox::Prepared,
    report: impl FnOnce() -> Vec<usize>,
) -> Option<Vec<usize>> {
    let mut pipe = [0 as RawFd; 2];
    // SAFETY: pipe2 fills the array; both ends are owned below.
    if unsafe { libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return None;
    }
    // SAFETY: as above.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(pipe[0]), OwnedFd::from_raw_fd(pipe[1])) };
    if threads().is_some_and(|n| n != 1) {
        return None;
    }
    // SAFETY: this process has one thread (checked above).
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return None;
    }
    if pid == 0 {
        drop(r);
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            train(prepared);
            let bytes: Vec<u8> = report()
                .into_iter()
                .flat_map(|v| (v as u64).to_ne_bytes())
                .collect();
            let _ = std::fs::File::from(w).write_all(&bytes);
        }))
        .map_or(72, |_| 0);
        // SAFETY: leaving the training child without running the zygote's exit path.
        unsafe { libc::_exit(code) };
    }
    drop(w);
    let mut bytes = Vec::new();
    let _ = std::io::Read::read_to_end(&mut std::fs::File::from(r), &mut bytes);
    let mut status = 0;
    // SAFETY: reaps the training child (blocking: it has written everything).
    unsafe { libc::waitpid(pid, &mut status, 0) };
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        return None;
    }
    Some(
        bytes
            .chunks_exact(8)
            .map(|c| {
                let mut b = [0u8; 8];
                b.copy_from_slice(c);
                u64::from_ne_bytes(b) as usize
            })
            .collect(),
    )
}

/// In a training child: transpile and run `return 1` as a worker would.
fn train(prepared: &mut sandbox::Prepared) {
    let run = frames::encode(&ToWorker::Run {
        source: TRAINING_SOURCE.into(),
        transpile: TranspileLimits::default(),
        seccomp_selftest: false,
    });
    let mut input = std::io::BufReader::new(&run[..]);
    let (source, limits) = match frames::read_blocking::<ToWorker>(&mut input) {
        Ok(ToWorker::Run {
            source, transpile, ..
        }) => (source, transpile),
        _ => return,
    };
    let outcome = prepared.run_source(&source, &limits, &mut NoBridge);
    let done = frames::encode(&FromWorker::Done {
        outcome: Box::new(outcome),
        usage: Some(super::worker::process_usage()),
    });
    std::hint::black_box(&done);
}

/// The private anonymous pages this process alone maps (those it wrote since the fork),
/// as coalesced ranges, at most [`PREFAULT_MAX_PAGES`] pages.
fn touched() -> Vec<(usize, usize)> {
    use std::os::unix::fs::FileExt;
    const PAGE: usize = 4096;
    let (Ok(maps), Ok(pagemap)) = (
        std::fs::read_to_string("/proc/self/maps"),
        std::fs::File::open("/proc/self/pagemap"),
    ) else {
        return Vec::new();
    };
    let mut out: Vec<(usize, usize)> = Vec::new();
    let mut pages = 0usize;
    for line in maps.lines() {
        let mut f = line.split_whitespace();
        let (Some(range), Some(perms)) = (f.next(), f.next()) else {
            continue;
        };
        let name = f.nth(3).unwrap_or("");
        let perms = perms.as_bytes();
        // Private, readable and writable; not the kernel's [vvar]/[vdso]/[vsyscall].
        if !perms.starts_with(b"rw") || perms.get(3) != Some(&b'p') || name.starts_with("[v") {
            continue;
        }
        let Some((a, b)) = range.split_once('-') else {
            continue;
        };
        let (Ok(start), Ok(end)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
        else {
            continue;
        };
        let n = (end - start) / PAGE;
        let mut entries = vec![0u8; n * 8];
        if pagemap
            .read_exact_at(&mut entries, (start / PAGE * 8) as u64)
            .is_err()
        {
            continue;
        }
        for (i, e) in entries.chunks_exact(8).enumerate() {
            let mut b = [0u8; 8];
            b.copy_from_slice(e);
            let v = u64::from_ne_bytes(b);
            let present = v >> 63 & 1 == 1;
            let exclusive = v >> 56 & 1 == 1;
            let file = v >> 61 & 1 == 1;
            if !(present && exclusive && !file) {
                continue;
            }
            if pages >= PREFAULT_MAX_PAGES {
                return out;
            }
            pages += 1;
            let addr = start + i * PAGE;
            match out.last_mut() {
                Some((s, len)) if *s + *len == addr => *len += PAGE,
                _ => out.push((addr, PAGE)),
            }
        }
    }
    out
}

// ------------------------------------------------------------------------------------------
// Server side
// ------------------------------------------------------------------------------------------

/// A child forked for one execution: its frame channel, stderr and exit status.
pub struct Forked {
    pub pid: u32,
    pub sock: OwnedFd,
    pub stderr: OwnedFd,
    /// The raw wait status, once the zygote has reaped it; an error if the zygote died.
    pub exit: oneshot::Receiver<i32>,
}

struct Shared {
    pending: VecDeque<oneshot::Sender<Result<Forked, String>>>,
    exits: HashMap<i32, oneshot::Sender<i32>>,
    ready: Option<oneshot::Sender<()>>,
    dead: bool,
}

struct Inner {
    ctl: OwnedFd,
    shared: Mutex<Shared>,
    alive: AtomicBool,
    /// The pool has replaced this zygote: no new children, idle ones are not used.
    retired: AtomicBool,
    /// Pages each child pre-faults (see `Prefault`), from the zygote's `READY`.
    prefault_pages: std::sync::atomic::AtomicU32,
    forks: std::sync::atomic::AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The server's handle on one zygote process (one profile).
pub struct Zygote {
    inner: Arc<Inner>,
    pid: u32,
    /// Killed (and reaped by tokio) when the handle goes.
    _process: tokio::process::Child,
}

impl Zygote {
    /// Starts a zygote for `profile` and waits until its realm is ready.
    pub async fn start(exe: &std::path::Path, profile: &Profile) -> std::io::Result<Zygote> {
        let mut sv = [0 as RawFd; 2];
        // SAFETY: socketpair fills the array; each fd is owned once below.
        if unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
                0,
                sv.as_mut_ptr(),
            )
        } != 0
        {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: as above.
        let (ours, theirs) = unsafe { (OwnedFd::from_raw_fd(sv[0]), OwnedFd::from_raw_fd(sv[1])) };
        let stack = profile.os.stack_bytes as libc::rlim_t;
        let mut cmd = tokio::process::Command::new(exe);
        cmd.arg(super::worker::WORKER_ARG)
            .env_clear()
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::from(theirs))
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true);
        if let Ok(v) = std::env::var("PGMCP_CODE_HUGE_TEXT") {
            cmd.env(super::huge_text::ENV, v);
        }
        if let Ok(v) = std::env::var("PGMCP_CODE_PREFAULT") {
            cmd.env(PREFAULT_ENV, v);
        }
        // SAFETY: only async-signal-safe getrlimit/setrlimit between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                // The JS stack is the zygote's main thread's: the kernel sizes it from
                // RLIMIT_STACK at exec.
                let mut lim = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                if libc::getrlimit(libc::RLIMIT_STACK, &mut lim) == 0 && lim.rlim_cur < stack {
                    lim.rlim_cur = stack.min(lim.rlim_max);
                    libc::setrlimit(libc::RLIMIT_STACK, &lim);
                }
                Ok(())
            })
        };
        let mut child = cmd.spawn()?;
        drop(cmd);
        let stdin = child.stdin.take();
        let pid = child.id().unwrap_or(0);
        let (ready_tx, ready_rx) = oneshot::channel();
        let inner = Arc::new(Inner {
            ctl: ours,
            shared: Mutex::new(Shared {
                pending: VecDeque::new(),
                exits: HashMap::new(),
                ready: Some(ready_tx),
                dead: false,
            }),
            alive: AtomicBool::new(true),
            retired: AtomicBool::new(false),
            prefault_pages: std::sync::atomic::AtomicU32::new(0),
            forks: std::sync::atomic::AtomicU64::new(0),
        });
        let reader = inner.clone();
        std::thread::Builder::new()
            .name("pgmcp-zygote".into())
            .spawn(move || read_loop(&reader))?;
        let frame = frames::encode(&ToWorker::Zygote {
            manifest: profile.manifest.clone(),
            limits: profile.limits.clone(),
            os: profile.os,
        });
        let zygote = Zygote {
            inner,
            pid,
            _process: child,
        };
        let ready = tokio::time::timeout(Duration::from_secs(10), async {
            if let Some(mut stdin) = stdin {
                let _ = stdin.write_all(&frame).await;
                let _ = stdin.flush().await;
            }
            ready_rx.await
        })
        .await;
        match ready {
            Ok(Ok(())) => Ok(zygote),
            _ => {
                zygote.shut();
                Err(std::io::Error::other("the sandbox zygote did not start"))
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn alive(&self) -> bool {
        self.inner.alive.load(Ordering::Acquire)
    }

    /// Marks the zygote replaced (it lives on while children it forked are in use).
    pub fn retire(&self) {
        self.inner.retired.store(true, Ordering::Release);
    }

    pub fn retired(&self) -> bool {
        self.inner.retired.load(Ordering::Acquire)
    }

    /// Pages each of its children faults in before it says it is ready.
    pub fn prefault_pages(&self) -> u32 {
        self.inner.prefault_pages.load(Ordering::Relaxed)
    }

    /// Children forked so far.
    pub fn forks(&self) -> u64 {
        self.inner.forks.load(Ordering::Relaxed)
    }

    /// Marks the zygote dead and closes the control socket: the zygote exits (killing its
    /// children) and the reader ends.
    pub fn shut(&self) {
        self.inner.alive.store(false, Ordering::Release);
        // SAFETY: shutdown on our own socket.
        unsafe { libc::shutdown(self.inner.ctl.as_raw_fd(), libc::SHUT_RDWR) };
    }

    /// Forks a child and returns its descriptors.
    pub async fn fork(&self) -> Result<Forked, String> {
        self.inner.forks.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        {
            let mut shared = lock(&self.inner.shared);
            if shared.dead {
                return Err("the sandbox zygote is gone".into());
            }
            shared.pending.push_back(tx);
            // Under the lock: requests go out in the order of `pending`.
            if let Err(e) = send_record(self.inner.ctl.as_raw_fd(), &record(FORK, 0, 0), &[]) {
                shared.pending.pop_back();
                drop(shared);
                self.shut();
                return Err(format!("cannot reach the sandbox zygote: {e}"));
            }
        }
        match tokio::time::timeout(Duration::from_secs(10), rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err("the sandbox zygote went away".into()),
            Err(_) => {
                self.shut();
                Err("the sandbox zygote did not answer".into())
            }
        }
    }

    /// Kills a child of this zygote (nothing if it was reaped already).
    pub fn kill(&self, pid: u32) {
        // No lock: a kill needs no ordering with fork requests.
        let _ = send_record(
            self.inner.ctl.as_raw_fd(),
            &record(KILL, pid as i32, 0),
            &[],
        );
    }
}

impl Drop for Zygote {
    fn drop(&mut self) {
        self.shut();
    }
}

/// The server's end of the control socket: dispatches records until it closes, then fails
/// everything still waiting.
fn read_loop(inner: &Inner) {
    loop {
        let (rec, mut fds) = match recv_record(inner.ctl.as_raw_fd()) {
            Ok(Some(r)) => r,
            _ => break,
        };
        let Some((tag, pid, value)) = parse(&rec) else {
            break;
        };
        let mut shared = lock(&inner.shared);
        match tag {
            READY => {
                tracing::debug!(pid, prefault_pages = value, "sandbox zygote ready");
                inner
                    .prefault_pages
                    .store(value.max(0) as u32, Ordering::Relaxed);
                if let Some(tx) = shared.ready.take() {
                    let _ = tx.send(());
                }
            }
            FORKED if fds.len() == 2 => {
                let stderr = fds.pop().expect("two fds");
                let sock = fds.pop().expect("two fds");
                let (exit_tx, exit_rx) = oneshot::channel();
                shared.exits.insert(pid, exit_tx);
                let forked = Forked {
                    pid: pid as u32,
                    sock,
                    stderr,
                    exit: exit_rx,
                };
                match shared.pending.pop_front() {
                    Some(tx) => {
                        if let Err(Ok(orphan)) = tx.send(Ok(forked)) {
                            // Its requester gave up: do not leave the child waiting.
                            drop(orphan);
                            let _ = send_record(inner.ctl.as_raw_fd(), &record(KILL, pid, 0), &[]);
                        }
                    }
                    None => {
                        let _ = send_record(inner.ctl.as_raw_fd(), &record(KILL, pid, 0), &[]);
                    }
                }
            }
            EXITED => {
                if let Some(tx) = shared.exits.remove(&pid) {
                    let _ = tx.send(value);
                }
            }
            FORK_FAILED => {
                if let Some(tx) = shared.pending.pop_front() {
                    let _ = tx.send(Err(format!(
                        "the sandbox zygote cannot fork: {}",
                        std::io::Error::from_raw_os_error(value)
                    )));
                }
            }
            _ => break,
        }
    }
    inner.alive.store(false, Ordering::Release);
    let mut shared = lock(&inner.shared);
    shared.dead = true;
    shared.pending.clear();
    shared.exits.clear();
    shared.ready = None;
}

//! A seccomp filter for the thread that runs user code in the sandbox worker.
//!
//! Boa's realm exposes no file, network or process API, so these system calls should never
//! be reached; the filter makes sure that an engine bug reachable from JavaScript still
//! cannot open a file, make a socket, run a program or fork. It is an allowlist: what the
//! engine needs to compute, allocate memory, talk over its two pipes, report its own
//! crash and exit. Everything else fails with `EPERM` (rather than killing the process,
//! so an unexpected but harmless call degrades into an error the run reports).
//!
//! The filter is compiled while the worker prepares its realm and installed on the JS
//! thread only, just before user code runs; the worker's main thread runs no user code and
//! only waits for that thread.

/// System calls that must be refused, tried by the self-test.
pub const PROBED: &[&str] = &["openat", "socket", "connect", "execve", "fork", "ptrace"];

#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
mod imp {
    use std::collections::BTreeMap;

    use seccompiler::{BpfProgram, SeccompAction, SeccompFilter, TargetArch};

    fn allowed() -> Vec<libc::c_long> {
        let mut v = vec![
            // the two pipes to the server, and stderr for crash messages
            libc::SYS_read,
            libc::SYS_write,
            libc::SYS_readv,
            libc::SYS_writev,
            libc::SYS_close,
            // memory
            libc::SYS_mmap,
            libc::SYS_munmap,
            libc::SYS_mremap,
            libc::SYS_mprotect,
            libc::SYS_madvise,
            libc::SYS_brk,
            // threads' own synchronisation, time, randomness (Date.now, Math.random)
            libc::SYS_futex,
            libc::SYS_clock_gettime,
            libc::SYS_clock_getres,
            libc::SYS_gettimeofday,
            libc::SYS_sched_yield,
            libc::SYS_getrandom,
            // signals for itself: stack-overflow guard, abort on allocation failure
            libc::SYS_rt_sigprocmask,
            libc::SYS_rt_sigaction,
            libc::SYS_rt_sigreturn,
            libc::SYS_sigaltstack,
            libc::SYS_getpid,
            libc::SYS_gettid,
            libc::SYS_tgkill,
            // measuring itself, and leaving
            libc::SYS_getrusage,
            libc::SYS_exit,
            libc::SYS_exit_group,
        ];
        v.sort_unstable();
        v
    }

    /// The compiled filter, ready to be applied (compiling is the slow part).
    pub struct Filter(BpfProgram);

    pub fn prepare() -> Result<Filter, String> {
        let rules: BTreeMap<i64, Vec<seccompiler::SeccompRule>> =
            allowed().into_iter().map(|nr| (nr, Vec::new())).collect();
        #[cfg(target_arch = "x86_64")]
        let arch = TargetArch::x86_64;
        #[cfg(target_arch = "aarch64")]
        let arch = TargetArch::aarch64;
        let filter = SeccompFilter::new(
            rules,
            SeccompAction::Errno(libc::EPERM as u32),
            SeccompAction::Allow,
            arch,
        )
        .map_err(|e| e.to_string())?;
        let program: BpfProgram = filter
            .try_into()
            .map_err(|e: seccompiler::BackendError| e.to_string())?;
        Ok(Filter(program))
    }

    impl Filter {
        /// Installs the filter on the calling thread.
        pub fn apply(&self) -> Result<(), String> {
            seccompiler::apply_filter(&self.0).map_err(|e| e.to_string())
        }
    }

    fn errno() -> i32 {
        std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
    }

    /// Tries each call in `PROBED` and returns the errno it got (0 = it succeeded).
    pub fn selftest() -> Vec<(String, i32)> {
        let mut out = Vec::new();
        // SAFETY: plain system calls with valid arguments; every resource a call might
        // create is released, and a forked child exits at once.
        unsafe {
            let fd = libc::openat(libc::AT_FDCWD, c"/etc/hostname".as_ptr(), libc::O_RDONLY);
            out.push((
                "openat".into(),
                if fd >= 0 {
                    libc::close(fd);
                    0
                } else {
                    errno()
                },
            ));
            let s = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
            out.push((
                "socket".into(),
                if s >= 0 {
                    libc::close(s);
                    0
                } else {
                    errno()
                },
            ));
            // On a bad descriptor an allowed connect fails with EBADF, a filtered one EPERM.
            let r = libc::connect(-1, std::ptr::null(), 0);
            out.push(("connect".into(), if r == 0 { 0 } else { errno() }));
            // An allowed execve of a missing file fails with ENOENT.
            let argv = [std::ptr::null()];
            let r = libc::execve(
                c"/nonexistent/pgmcp-probe".as_ptr(),
                argv.as_ptr(),
                argv.as_ptr(),
            );
            out.push(("execve".into(), if r == 0 { 0 } else { errno() }));
            let pid = libc::fork();
            if pid == 0 {
                libc::_exit(0);
            }
            out.push(("fork".into(), if pid > 0 { 0 } else { errno() }));
            let r = libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0);
            out.push(("ptrace".into(), if r == 0 { 0 } else { errno() }));
        }
        out
    }
}

#[cfg(not(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
)))]
mod imp {
    /// No seccomp here: the other layers (realm, rlimits, the parent's kill) still apply.
    pub struct Filter;

    pub fn prepare() -> Result<Filter, String> {
        Ok(Filter)
    }

    impl Filter {
        pub fn apply(&self) -> Result<(), String> {
            Ok(())
        }
    }

    pub fn selftest() -> Vec<(String, i32)> {
        Vec::new()
    }
}

pub use imp::{Filter, prepare, selftest};

/// Compiles and installs the filter on the calling thread.
pub fn install() -> Result<(), String> {
    prepare()?.apply()
}

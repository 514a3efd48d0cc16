//! Throwaway local PostgreSQL clusters, for the test suite and `pgmcp demo`.
//!
//! A [`Cluster`] is a fresh `initdb` in a private directory under the system
//! temp dir, served by a `postgres` listening on a loopback port with trust
//! authentication and durability switched off (it is disposable, so speed
//! wins).
//!
//! # Never leaking a server
//!
//! Callers keep clusters in places whose destructors never run (the test
//! harness stores one in a `static`; processes get SIGKILLed or call
//! `exit`). So cleanup must not depend on our code running at exit. We never
//! spawn `postgres` directly; instead we spawn a tiny `/bin/sh` supervisor
//! whose stdin is a pipe whose only write end we hold (the "lifeline"). The
//! supervisor runs `initdb`, starts `postgres` in the background and blocks
//! reading the lifeline. When our process lets go of the pipe for any reason
//! (explicit stop, `Drop`, panic, `exit`, SIGKILL) the kernel closes it, the
//! read returns EOF, and the supervisor asks `postgres` for a fast shutdown,
//! waits for it and removes the whole directory. The supervisor gets its own
//! process group so a Ctrl-C aimed at our terminal cannot kill it before it
//! has cleaned up.
//!
//! PostgreSQL refuses to run as root, so when we are root the supervisor (and
//! thus `initdb`/`postgres`) runs as the `postgres` OS user, which also owns
//! the directory so that it may delete it from a sticky `/tmp`.

use std::env;
use std::ffi::CStr;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::{DirBuilderExt, FileExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{self, Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// Name of the database superuser created by `initdb`.
pub const SUPERUSER: &str = "postgres";

/// The read-only role `pgmcp demo` and the test suite run reads as (`--read-only-role`).
pub const READER_ROLE: &str = "pgmcp_reader";

/// Creates [`READER_ROLE`] unless it exists (roles are cluster-wide, and several test
/// processes may race to create it on one server), as the one-time setup in
/// docs/SECURITY.md does, and lets the connecting role SET to it. A superuser may SET to
/// any role; the GRANT is for other connecting roles (with CREATEROLE, on a test server).
pub const CREATE_READER_ROLE_SQL: &str = "DO $$ BEGIN \
     CREATE ROLE pgmcp_reader NOLOGIN IN ROLE pg_read_all_data, pg_read_all_stats; \
     EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$; \
     DO $$ BEGIN IF NOT pg_catalog.pg_has_role(current_user, 'pgmcp_reader', 'MEMBER') THEN \
     EXECUTE pg_catalog.format('GRANT pgmcp_reader TO %I', current_user); END IF; END $$";

/// The hardening that goes with a read-only role, per database (see docs/SECURITY.md):
/// without `set_config` the reader role cannot switch itself back to the session user, and
/// without `pg_prepared_statement()` it cannot read the statements pgmcp keeps prepared on
/// a connection (earlier callers' SQL). Superusers are not affected.
pub const REVOKE_FROM_PUBLIC_SQL: &str = "REVOKE EXECUTE ON FUNCTION \
     pg_catalog.set_config(text, text, boolean), pg_catalog.pg_prepared_statement() FROM PUBLIC";

/// OS account used to run the server when we are root.
const SERVICE_USER: &CStr = c"postgres";

/// Every cluster directory starts with this, so strays are easy to spot.
const DIR_PREFIX: &str = "pgmcp-cluster-";

/// Covers `initdb` plus server startup; generous because parallel test
/// binaries may all be running `initdb` on a loaded CI machine.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// How long `stop`/`Drop` wait for the supervisor before giving up (it keeps
/// cleaning up in the background regardless).
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// Attempts with different auto-picked ports when the port was taken
/// between picking it and the server binding it.
const PORT_ATTEMPTS: usize = 3;

const LOG_TAIL_LINES: usize = 40;
const LOG_TAIL_BYTES: u64 = 16 * 1024;

/// File name of the supervisor script inside the cluster directory.
const SUPERVISOR_FILE: &str = "supervisor.sh";

/// Supervisor, run as `sh <dir>/supervisor.sh <dir> <bindir> <postgres args>...`.
///
/// fd 0 is the lifeline, fds 1 and 2 are the server log. Exits with 1 if
/// initdb failed, else with the postmaster's status, always after removing
/// the directory.
const SUPERVISOR_SCRIPT: &str = r#"
set -u
root=$1
bin=$2
shift 2
# Defence in depth: this script ends with rm -rf, so only touch our own dirs.
case $root in
  */pgmcp-cluster-*) ;;
  *) echo "pgmcp supervisor: refusing to manage $root" >&2; exit 2 ;;
esac
# Our lifetime follows the lifeline, not signals aimed at the owner's
# terminal; and a vanished log reader must not kill us before cleanup.
trap '' INT HUP PIPE
# Keep the lifeline on fd 3 so children never see it as their stdin.
exec 3<&0 0</dev/null
if ! "$bin/initdb" -D "$root/data" -A trust -U postgres --no-sync -E UTF8 --locale=C 3<&-; then
  echo "pgmcp supervisor: initdb failed" >&2
  rm -rf "$root"
  exit 1
fi
"$bin/postgres" -D "$root/data" "$@" 3<&- &
pg=$!
# Lifeline watcher: EOF (or any input) means the owner is gone or wants a
# stop; SIGINT is PostgreSQL's fast shutdown.
( read -r _ <&3; kill -INT "$pg" 2>/dev/null ) &
watcher=$!
exec 3<&-
wait "$pg"
status=$?
kill "$watcher" 2>/dev/null
rm -rf "$root"
exit "$status"
"#;

/// Why a cluster could not be found or started.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(
        "PostgreSQL server binaries not found: no directory containing both `initdb` and \
         `postgres` on PATH or in /usr/lib/postgresql/<version>/bin, /usr/local/pgsql/bin, \
         /opt/homebrew/opt/postgresql*/bin, /usr/local/opt/postgresql*/bin or /usr/pgsql-*/bin. \
         Install PostgreSQL (Debian/Ubuntu: `sudo apt install postgresql`; macOS: \
         `brew install postgresql@16`; Fedora/RHEL: `sudo dnf install postgresql-server \
         postgresql-contrib`) or put the directory containing `initdb` on PATH"
    )]
    BinariesNotFound,

    #[error(
        "running as root, but PostgreSQL refuses to run as root and there is no `postgres` OS \
         user to run it as; create one (e.g. `useradd --system --home-dir /var/lib/postgresql \
         postgres`) or run as a non-root user"
    )]
    NoServiceUser,

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },

    #[error("{message}\n--- server log (last lines) ---\n{log_tail}")]
    StartFailed { message: String, log_tail: String },
}

impl ClusterError {
    fn io(context: impl Into<String>, source: io::Error) -> Self {
        ClusterError::Io {
            context: context.into(),
            source,
        }
    }

    /// Whether the server failed because its port was taken, in which case
    /// another auto-picked port may well work.
    fn is_port_conflict(&self) -> bool {
        match self {
            ClusterError::StartFailed { log_tail, .. } => {
                log_tail.contains("could not bind")
                    || log_tail.contains("Address already in use")
                    || log_tail.contains("could not create any TCP/IP sockets")
            }
            _ => false,
        }
    }
}

/// How to start a [`Cluster`].
#[derive(Debug, Clone, Default)]
pub struct ClusterOptions {
    /// TCP port on 127.0.0.1; `None` picks a free one.
    pub port: Option<u16>,
    /// Where the server log goes (appended to, and kept after the cluster
    /// stops); `None` means a file inside the cluster directory.
    pub log_to: Option<PathBuf>,
    /// Extra `-c name=value` server settings, applied after the defaults.
    pub settings: Vec<(String, String)>,
    /// Where to create the cluster directory; `None` means
    /// [`std::env::temp_dir`]. A memory-backed directory (e.g. `/dev/shm`)
    /// makes `initdb` and `CREATE DATABASE` much faster on slow disks.
    pub parent_dir: Option<PathBuf>,
    /// The directory holding `initdb` and `postgres` to run (e.g. a second major version
    /// installed outside the usual places); `None` means [`Cluster::find_bin_dir`].
    pub bin_dir: Option<PathBuf>,
}

/// A running throwaway cluster. Stopped, and its directory removed, by
/// [`Cluster::stop`], on drop, or when the owning process exits in any way.
#[derive(Debug)]
pub struct Cluster {
    dir: PathBuf,
    port: u16,
    log_path: PathBuf,
    /// Write end of the supervisor's stdin; closing it shuts everything down.
    lifeline: Option<ChildStdin>,
    supervisor: Child,
}

impl Cluster {
    /// Finds a directory holding the PostgreSQL server binaries (`initdb`
    /// and `postgres`): PATH first, then the usual package locations,
    /// preferring the highest version.
    pub fn find_bin_dir() -> Result<PathBuf, ClusterError> {
        let dir = candidate_bin_dirs()
            .into_iter()
            .find(|dir| is_server_bin_dir(dir))
            .ok_or(ClusterError::BinariesNotFound)?;
        // PATH may hold symlinks to the real installation (e.g. Homebrew's
        // /opt/homebrew/bin); resolve them so pg_config, pg_isready and the
        // library dir next to the binaries are the matching ones.
        let real_dir = fs::canonicalize(dir.join("postgres"))
            .ok()
            .and_then(|real| real.parent().map(Path::to_path_buf))
            .filter(|real| is_server_bin_dir(real));
        Ok(real_dir.unwrap_or(dir))
    }

    /// Creates and starts a fresh cluster, blocking until it accepts
    /// connections.
    pub fn start(opts: ClusterOptions) -> Result<Cluster, ClusterError> {
        let bin_dir = match &opts.bin_dir {
            Some(dir) if is_server_bin_dir(dir) => dir.clone(),
            Some(dir) => {
                return Err(ClusterError::io(
                    format!("using PostgreSQL server binaries in {}", dir.display()),
                    io::Error::new(io::ErrorKind::NotFound, "no `initdb` and `postgres` there"),
                ));
            }
            None => Self::find_bin_dir()?,
        };
        let run_as = service_account()?;
        let attempts = if opts.port.is_some() {
            1
        } else {
            PORT_ATTEMPTS
        };
        let mut attempt = 1;
        loop {
            let port = match opts.port {
                Some(port) => port,
                None => free_port()?,
            };
            match start_once(&bin_dir, run_as, port, &opts) {
                Err(err) if attempt < attempts && err.is_port_conflict() => {
                    tracing::debug!(port, "port taken before PostgreSQL could bind it; retrying");
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Connection URL for `dbname` (inserted verbatim, so keep it URL-safe).
    pub fn url(&self, dbname: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{dbname}", self.port)
    }

    /// Name of the database superuser.
    pub fn superuser(&self) -> &str {
        SUPERUSER
    }

    /// The temporary directory holding the data dir, socket and (by
    /// default) the log; removed when the cluster stops.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The PostgreSQL data directory (`PGDATA`).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Where the server log is written.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Fast shutdown, then removal of the cluster directory. Equivalent to
    /// dropping the cluster.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        // Closing our end of the pipe is the one and only stop signal.
        let Some(lifeline) = self.lifeline.take() else {
            return;
        };
        drop(lifeline);
        let deadline = Instant::now() + SHUTDOWN_TIMEOUT;
        loop {
            match self.supervisor.try_wait() {
                Ok(Some(_)) => return,
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
                Ok(None) => {
                    tracing::warn!(
                        dir = %self.dir.display(),
                        "PostgreSQL is still shutting down; leaving it to finish in the background"
                    );
                    return;
                }
                Err(err) => {
                    tracing::warn!(%err, "could not wait for the cluster supervisor");
                    return;
                }
            }
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The OS user to run the server as, if we must switch (i.e. we are root).
#[derive(Debug, Clone, Copy)]
struct RunAs {
    uid: u32,
    gid: u32,
}

fn service_account() -> Result<Option<RunAs>, ClusterError> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    lookup_user(SERVICE_USER)?
        .map(Some)
        .ok_or(ClusterError::NoServiceUser)
}

/// `getpwnam_r` (the reentrant variant: tests start clusters from many
/// threads).
fn lookup_user(name: &CStr) -> Result<Option<RunAs>, ClusterError> {
    let mut buf: Vec<libc::c_char> = vec![0; 4096];
    loop {
        // SAFETY: passwd is plain old data; all-zero is a valid value that
        // getpwnam_r overwrites.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the duration of the call and
        // buf.len() is the real size of buf.
        let rc = unsafe {
            libc::getpwnam_r(
                name.as_ptr(),
                &mut pwd,
                buf.as_mut_ptr(),
                buf.len(),
                &mut result,
            )
        };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 2, 0);
            continue;
        }
        if rc != 0 {
            return Err(ClusterError::io(
                format!("looking up OS user {name:?}"),
                io::Error::from_raw_os_error(rc),
            ));
        }
        return Ok((!result.is_null()).then_some(RunAs {
            uid: pwd.pw_uid,
            gid: pwd.pw_gid,
        }));
    }
}

fn start_once(
    bin_dir: &Path,
    run_as: Option<RunAs>,
    port: u16,
    opts: &ClusterOptions,
) -> Result<Cluster, ClusterError> {
    let started = Instant::now();
    let dir = create_cluster_dir(opts.parent_dir.clone().unwrap_or_else(env::temp_dir))?;
    let log_path = opts
        .log_to
        .clone()
        .unwrap_or_else(|| dir.join("postgres.log"));
    let spawned = prepare_dir(&dir, &log_path, run_as).and_then(|log| {
        let child = spawn_supervisor(bin_dir, run_as, port, &dir, &log, opts)?;
        Ok((log, child))
    });
    let (log, mut supervisor) = match spawned {
        Ok(spawned) => spawned,
        Err(err) => {
            // Nothing runs in the directory yet, so it is ours to remove.
            let _ = fs::remove_dir_all(&dir);
            return Err(err);
        }
    };
    let lifeline = supervisor.stdin.take();
    // From here on the supervisor owns the directory; dropping `cluster`
    // (including on every error path below) stops it and cleans up.
    let cluster = Cluster {
        dir,
        port,
        log_path,
        lifeline,
        supervisor,
    };
    wait_until_ready(cluster, &log, bin_dir, started)
}

fn create_cluster_dir(base: PathBuf) -> Result<PathBuf, ClusterError> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    // Kept short: the Unix socket lives in here and socket paths are limited
    // to ~100 bytes. mkdir is atomic, so collisions (e.g. a stray dir from a
    // dead process with a recycled pid) just move on to the next name.
    for _ in 0..1000 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = base.join(format!("{DIR_PREFIX}{}-{n}", process::id()));
        match fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(err) => {
                return Err(ClusterError::io(
                    format!("creating a cluster directory in {}", base.display()),
                    err,
                ));
            }
        }
    }
    Err(ClusterError::io(
        format!("creating a cluster directory in {}", base.display()),
        io::Error::new(io::ErrorKind::AlreadyExists, "all candidate names taken"),
    ))
}

/// Writes the supervisor script, opens the log and finally hands the
/// directory to the server user. Returns our handle on the log.
fn prepare_dir(dir: &Path, log_path: &Path, run_as: Option<RunAs>) -> Result<File, ClusterError> {
    // A script file rather than `sh -c SCRIPT` keeps `ps` output readable.
    let script = dir.join(SUPERVISOR_FILE);
    fs::write(&script, SUPERVISOR_SCRIPT)
        .map_err(|err| ClusterError::io(format!("writing {}", script.display()), err))?;
    // We open the log ourselves and hand the fd down: it works whoever owns
    // the file, and our read handle keeps working after the supervisor has
    // deleted the directory, so startup errors can still quote the log.
    let log = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(log_path)
        .map_err(|err| {
            ClusterError::io(format!("opening server log {}", log_path.display()), err)
        })?;
    if let Some(user) = run_as {
        // The server user must own the directory to initdb into it and to
        // delete it from a sticky /tmp.
        std::os::unix::fs::chown(dir, Some(user.uid), Some(user.gid))
            .map_err(|err| ClusterError::io(format!("chown {}", dir.display()), err))?;
    }
    Ok(log)
}

fn spawn_supervisor(
    bin_dir: &Path,
    run_as: Option<RunAs>,
    port: u16,
    dir: &Path,
    log: &File,
    opts: &ClusterOptions,
) -> Result<Child, ClusterError> {
    let clone_log = || {
        log.try_clone()
            .map_err(|err| ClusterError::io("duplicating the server log handle", err))
    };
    let mut cmd = Command::new("/bin/sh");
    cmd.arg(dir.join(SUPERVISOR_FILE))
        .arg(dir)
        .arg(bin_dir)
        .args(server_args(bin_dir, port, dir, opts))
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(clone_log()?)
        .stderr(clone_log()?)
        // Own process group: terminal signals for our group must not reach
        // the supervisor before it has cleaned up.
        .process_group(0)
        // English messages (port-conflict detection reads them).
        .env("LC_ALL", "C");
    remove_libpq_env(&mut cmd);
    if let Some(user) = run_as {
        cmd.uid(user.uid).gid(user.gid);
    }
    cmd.spawn().map_err(|err| {
        let hint = if run_as.is_some() {
            " (the server runs as OS user postgres, which must be able to reach this \
             directory; point TMPDIR at a world-accessible directory such as /tmp)"
        } else {
            ""
        };
        ClusterError::io(
            format!("starting the cluster supervisor in {}{hint}", dir.display()),
            err,
        )
    })
}

fn server_args(bin_dir: &Path, port: u16, dir: &Path, opts: &ClusterOptions) -> Vec<String> {
    let mut settings: Vec<String> = [
        "listen_addresses=127.0.0.1",
        // Disposable data: durability only costs time.
        "fsync=off",
        "synchronous_commit=off",
        "full_page_writes=off",
        // Parallel tests each open a few connections.
        "max_connections=200",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    if has_pg_stat_statements(bin_dir) {
        settings.push("shared_preload_libraries=pg_stat_statements".into());
    }
    settings.extend(opts.settings.iter().map(|(k, v)| format!("{k}={v}")));

    let mut args = vec![
        "-p".to_string(),
        port.to_string(),
        // Socket in our private dir: never clashes with a system server.
        "-k".to_string(),
        dir.to_string_lossy().into_owned(),
    ];
    for setting in settings {
        args.push("-c".into());
        args.push(setting);
    }
    args
}

/// pg_stat_statements can only be preloaded if the contrib module is
/// installed; preloading a missing library would stop the server starting.
fn has_pg_stat_statements(bin_dir: &Path) -> bool {
    let mut lib_dirs = Vec::new();
    let pg_config = bin_dir.join("pg_config");
    if let Ok(out) = Command::new(&pg_config)
        .arg("--pkglibdir")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        && out.status.success()
    {
        lib_dirs.push(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    }
    lib_dirs.push(bin_dir.join("../lib"));
    lib_dirs.push(bin_dir.join("../lib/postgresql"));
    lib_dirs.iter().any(|dir| {
        ["so", "dylib"]
            .iter()
            .any(|ext| dir.join(format!("pg_stat_statements.{ext}")).is_file())
    })
}

/// Polls until the server accepts connections, the supervisor exits, or the
/// startup timeout passes.
fn wait_until_ready(
    mut cluster: Cluster,
    log: &File,
    bin_dir: &Path,
    started: Instant,
) -> Result<Cluster, ClusterError> {
    let pid_file = cluster.data_dir().join("postmaster.pid");
    loop {
        match cluster.supervisor.try_wait() {
            Ok(Some(status)) => {
                // The supervisor already removed the directory; only our log
                // handle still sees the log.
                let message = format!(
                    "PostgreSQL failed to start on port {} ({status})",
                    cluster.port
                );
                drop(cluster);
                return Err(start_failed(message, log));
            }
            Ok(None) => {}
            Err(err) => {
                return Err(ClusterError::io("waiting for the cluster supervisor", err));
            }
        }
        if is_ready(&pid_file, bin_dir, cluster.port) {
            tracing::debug!(
                port = cluster.port,
                dir = %cluster.dir.display(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "throwaway PostgreSQL cluster ready"
            );
            return Ok(cluster);
        }
        if started.elapsed() > STARTUP_TIMEOUT {
            let message = format!(
                "PostgreSQL did not accept connections on port {} within {}s",
                cluster.port,
                STARTUP_TIMEOUT.as_secs()
            );
            drop(cluster);
            return Err(start_failed(message, log));
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Readiness from `postmaster.pid`, whose 8th line the postmaster sets to
/// `ready` once it accepts connections. Unlike probing the port this cannot
/// be fooled by some other server that grabbed "our" port while initdb ran.
fn is_ready(pid_file: &Path, bin_dir: &Path, port: u16) -> bool {
    match fs::read_to_string(pid_file) {
        Ok(contents) => {
            let lines: Vec<&str> = contents.lines().collect();
            let our_port = lines.get(3).map(|l| l.trim()) == Some(port.to_string().as_str());
            match lines.get(7) {
                Some(status) => our_port && status.trim() == "ready",
                // Line 4 is written with the sockets, line 8 only exists
                // from PostgreSQL 10 on: fall back to probing.
                None => our_port && lines.len() >= 6 && probe(bin_dir, port),
            }
        }
        // The file is private to the server user; if we cannot read it (root
        // without CAP_DAC_OVERRIDE) ask the server instead.
        Err(err) if err.kind() == io::ErrorKind::PermissionDenied => probe(bin_dir, port),
        Err(_) => false,
    }
}

fn probe(bin_dir: &Path, port: u16) -> bool {
    let pg_isready = bin_dir.join("pg_isready");
    if !is_executable(&pg_isready) {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        return TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok();
    }
    let mut cmd = Command::new(pg_isready);
    cmd.args(["-q", "-h", "127.0.0.1", "-U", SUPERUSER, "-d", "postgres"])
        .args(["-t", "2", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    remove_libpq_env(&mut cmd);
    cmd.status().is_ok_and(|status| status.success())
}

fn start_failed(message: String, log: &File) -> ClusterError {
    ClusterError::StartFailed {
        message,
        log_tail: log_tail(log),
    }
}

/// The last lines of the log, read through our own handle (see `start_once`).
fn log_tail(log: &File) -> String {
    let len = match log.metadata() {
        Ok(meta) => meta.len(),
        Err(err) => return format!("(could not read the server log: {err})"),
    };
    let start = len.saturating_sub(LOG_TAIL_BYTES);
    // Bounded by LOG_TAIL_BYTES, so the cast cannot truncate.
    let mut buf = vec![0; (len - start) as usize];
    // Positional read: independent of the offset shared with the children.
    if let Err(err) = log.read_exact_at(&mut buf, start) {
        return format!("(could not read the server log: {err})");
    }
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n");
    if tail.is_empty() {
        "(empty)".into()
    } else {
        tail
    }
}

/// Our children must not pick up a developer's PGHOST/PGPORT/PGDATA etc.
fn remove_libpq_env(cmd: &mut Command) {
    for (key, _) in env::vars_os() {
        if key.to_string_lossy().starts_with("PG") {
            cmd.env_remove(key);
        }
    }
}

/// Bind port 0 on loopback and release it. Racy by nature; `start` retries
/// with another port if the server then cannot bind it.
fn free_port() -> Result<u16, ClusterError> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|err| ClusterError::io("picking a free loopback port", err))
}

fn candidate_bin_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = env::var_os("PATH")
        .map(|path| env::split_paths(&path).collect())
        .unwrap_or_default();
    dirs.extend(versioned_dirs("/usr/lib/postgresql", "", "bin"));
    dirs.push(PathBuf::from("/usr/local/pgsql/bin"));
    dirs.extend(versioned_dirs("/opt/homebrew/opt", "postgresql", "bin"));
    dirs.extend(versioned_dirs("/usr/local/opt", "postgresql", "bin"));
    dirs.extend(versioned_dirs("/usr", "pgsql-", "bin"));
    dirs
}

/// `<parent>/<prefix><version>/<sub>` for each matching entry, highest
/// version first (numerically, so 10 beats 9.6).
fn versioned_dirs(parent: &str, prefix: &str, sub: &str) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(parent) else {
        return Vec::new();
    };
    let mut found: Vec<(Vec<u32>, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let version = name.strip_prefix(prefix)?;
            Some((version_key(version), entry.path().join(sub)))
        })
        .collect();
    found.sort_by(|a, b| b.0.cmp(&a.0));
    found.into_iter().map(|(_, dir)| dir).collect()
}

/// "15" -> [15], "9.6" -> [9, 6], "@16" -> [16], "" -> [].
fn version_key(version: &str) -> Vec<u32> {
    version
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|part| part.parse().ok())
        .collect()
}

fn is_server_bin_dir(dir: &Path) -> bool {
    is_executable(&dir.join("initdb")) && is_executable(&dir.join("postgres"))
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_keys_sort_numerically() {
        assert!(version_key("10") > version_key("9.6"));
        assert_eq!(version_key("@16"), vec![16]);
        assert!(version_key("").is_empty());
    }

    #[test]
    fn port_conflicts_are_recognised() {
        let err = ClusterError::StartFailed {
            message: "x".into(),
            log_tail: "LOG:  could not bind IPv4 address \"127.0.0.1\": Address already in use"
                .into(),
        };
        assert!(err.is_port_conflict());
        assert!(!ClusterError::BinariesNotFound.is_port_conflict());
    }
}

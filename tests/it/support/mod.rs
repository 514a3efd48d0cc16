//! Shared integration-test harness: one PostgreSQL server for the whole test binary and
//! a fresh database per test. The test modules reach it as `crate::support`.
//!
//! The server is `PGMCP_TEST_DATABASE_URL` if set (the role needs CREATEDB),
//! else a throwaway [`Cluster`] started on first use.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

pub mod hostile;

use pgmcp::cluster::{Cluster, ClusterOptions};
use tokio_postgres::NoTls;

/// Names an existing server to test against instead of a throwaway cluster.
pub const EXTERNAL_URL_VAR: &str = "PGMCP_TEST_DATABASE_URL";

enum Server {
    External {
        url: String,
    },
    /// Lives in a `static`, so it is never dropped: the cluster's supervisor
    /// shuts it down and deletes it when the test process exits.
    Local(Cluster),
}

/// Started at most once per process even when tests race for it: `OnceLock`
/// blocks the other callers until the first initialisation finishes. A
/// failure is stored too, so every test reports it instead of retrying.
static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();

fn server() -> &'static Server {
    let server = SERVER.get_or_init(|| {
        let server = match std::env::var(EXTERNAL_URL_VAR) {
            Ok(url) if !url.trim().is_empty() => Server::External { url },
            _ => {
                let opts = ClusterOptions {
                    parent_dir: memory_backed_dir(),
                    settings: test_server_settings(),
                    ..ClusterOptions::default()
                };
                Server::Local(Cluster::start(opts).map_err(|err| err.to_string())?)
            }
        };
        let url = match &server {
            Server::External { url } => url.clone(),
            Server::Local(cluster) => cluster.url("postgres"),
        };
        // Cluster-wide and idempotent; every App the tests build reads as this role.
        blocking(move || async move {
            connect(&url)
                .await
                .batch_execute(pgmcp::cluster::CREATE_READER_ROLE_SQL)
                .await
                .map_err(|e| format!("creating the read-only role {READER_ROLE}: {e:?}"))
        })?;
        Ok(server)
    });
    match server {
        Ok(server) => server,
        Err(err) => panic!(
            "could not start a throwaway PostgreSQL cluster for the tests \
             (or set {EXTERNAL_URL_VAR} to use an existing server): {err}"
        ),
    }
}

/// Server settings of every throwaway test cluster, on top of the cluster's own defaults
/// (which preload pg_stat_statements when it is installed): what the DBA tools read.
///
/// pg_stat_statements keeps one entry per statement *per database*, and every test has a
/// database of its own: a whole run makes several thousand entries. At the default
/// `pg_stat_statements.max` (5000) the extension evicts the least-used entries while tests
/// run, so a test that reads back the workload it just ran (the workload index advisor's)
/// could find part of it gone. This keeps every entry of a run (about 8 MB of shared memory).
fn test_server_settings() -> Vec<(String, String)> {
    [
        ("track_io_timing", "on"),
        ("pg_stat_statements.track", "all"),
        ("pg_stat_statements.max", "20000"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// (label, admin URL) of every server the tests run on: the default server, and the
/// PostgreSQL 17 one unless it is skipped (loudly; in CI its absence fails instead).
pub fn servers() -> Vec<(&'static str, String)> {
    let mut out = vec![("default server", admin_url())];
    if let Some(pg17) = server_17() {
        out.push(("PostgreSQL 17", pg17.url("postgres")));
    }
    out
}

/// Where `.ci/pg17` installs PostgreSQL 17 (its `PGMCP_PG17_DIR`, default `/opt/pgmcp-pg17`).
pub const PG17_BIN_VAR: &str = "PGMCP_TEST_PG17_BIN";

/// A second, lazily started throwaway server running PostgreSQL 17 or later, from
/// `PGMCP_TEST_PG17_BIN` or where `.ci/pg17` installs it. `None` (after a loud message)
/// when neither exists; when `PGMCP_TEST_PG17_BIN` names it (as `.ci/run` does) or in CI
/// (`CI` set) that is a failure instead, so the tests that need it cannot pass by skipping.
pub fn server_17() -> Option<&'static Cluster> {
    static SERVER_17: OnceLock<Result<Option<Cluster>, String>> = OnceLock::new();
    let server = SERVER_17.get_or_init(|| {
        let named = std::env::var_os(PG17_BIN_VAR).filter(|dir| !dir.is_empty());
        let required = named.is_some()
            || std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
        let dir = match named {
            Some(dir) => PathBuf::from(dir),
            None => PathBuf::from(std::env::var_os("PGMCP_PG17_DIR").unwrap_or("/opt/pgmcp-pg17".into()))
                .join("bin"),
        };
        if !dir.join("postgres").is_file() {
            let msg = format!(
                "no PostgreSQL 17 server binaries in {} (set {PG17_BIN_VAR}, or run `bash .ci/pg17`)",
                dir.display()
            );
            if required {
                return Err(msg);
            }
            eprintln!("\n!!! SKIPPING the PostgreSQL 17 half of this test: {msg} !!!\n");
            return Ok(None);
        }
        let opts = ClusterOptions {
            parent_dir: memory_backed_dir(),
            settings: test_server_settings(),
            bin_dir: Some(dir),
            ..ClusterOptions::default()
        };
        Cluster::start(opts).map(Some).map_err(|err| err.to_string())
    });
    match server {
        Ok(server) => server.as_ref(),
        Err(err) => panic!("PostgreSQL 17 test server: {err}"),
    }
}

/// Each `CREATE DATABASE` writes a few hundred files; on a slow disk that is
/// ~20x slower than on tmpfs (measured: ~200 ms vs ~9 ms). Use /dev/shm when
/// it has room for a cluster plus many test databases; the Docker default
/// of 64 MB does not.
fn memory_backed_dir() -> Option<PathBuf> {
    const MIN_FREE: u64 = 1 << 30;
    let dir = PathBuf::from("/dev/shm");
    let path = std::ffi::CString::new("/dev/shm").ok()?;
    // SAFETY: statvfs is plain old data; all-zero is a valid value that the
    // call overwrites.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is NUL-terminated and `stat` is a valid out-pointer.
    if unsafe { libc::statvfs(path.as_ptr(), &mut stat) } != 0 {
        return None;
    }
    #[allow(clippy::unnecessary_cast)] // the field types differ between platforms
    let free = stat.f_bavail as u64 * stat.f_frsize as u64;
    (free >= MIN_FREE).then_some(dir)
}

/// The read-only role every test server has (created with the server) and every test
/// App reads as, unless its flags say otherwise.
pub const READER_ROLE: &str = pgmcp::cluster::READER_ROLE;

/// An App (the server's state, no MCP transport) on `url` with extra command-line flags.
/// Code Mode workers are the built pgmcp binary (the test binary itself is not one).
/// On the shared test server, reads run as [`READER_ROLE`] (`--read-only-role`), as a
/// deployment's should; pass `--read-only-role ""` for an App without it.
pub fn app(url: &str, extra: &[&str]) -> std::sync::Arc<pgmcp::app::App> {
    app_with(url, extra, |_| {})
}

/// [`app`], with the validated configuration adjusted by `tweak` first (for settings that
/// have no flag on purpose, such as `unsafe_test_only_skip_read_policy`).
pub fn app_with(
    url: &str,
    extra: &[&str],
    tweak: impl FnOnce(&mut pgmcp::config::Config),
) -> std::sync::Arc<pgmcp::app::App> {
    let mut args = vec![
        "pgmcp",
        "--postgres",
        url,
        "--code-worker-exe",
        env!("CARGO_BIN_EXE_pgmcp"),
    ];
    // Only the shared test server has the role (created with it); a cluster a test starts
    // for itself does not.
    if !extra.contains(&"--read-only-role")
        && endpoint(url).is_some()
        && endpoint(url) == endpoint(&admin_url())
    {
        args.extend(["--read-only-role", READER_ROLE]);
    }
    args.extend_from_slice(extra);
    let parsed = pgmcp::config::parse_server_args(args).expect("valid test flags");
    let mut config = pgmcp::config::Config::from_args(&parsed).expect("valid test config");
    tweak(&mut config);
    pgmcp::tools::set_output_check(check_output);
    pgmcp::app::App::new(config).expect("app builds")
}

/// Every result a test sees must match the tool's declared output schema: a tool whose
/// body drifts from its type fails whichever test called it.
fn check_output(tool: &pgmcp::tools::Tool, body: &serde_json::Value) {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    static VALIDATORS: OnceLock<Mutex<HashMap<&'static str, Arc<jsonschema::Validator>>>> =
        OnceLock::new();
    let Some(schema) = tool.output_schema() else {
        return;
    };
    let validator =
        VALIDATORS
            .get_or_init(Default::default)
            .lock()
            .unwrap()
            .entry(tool.name)
            .or_insert_with(|| {
                let schema = serde_json::Value::Object((**schema).clone());
                Arc::new(jsonschema::draft202012::new(&schema).unwrap_or_else(|e| {
                    panic!("{}: output schema does not compile: {e}", tool.name)
                }))
            })
            .clone();
    let errors: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .take(5)
        .collect();
    assert!(
        errors.is_empty(),
        "{}: result does not match its output schema: {errors:?}\nresult: {body}",
        tool.name
    );
}

/// Runs `f`'s future to completion on a private thread and runtime, so it works whether or
/// not the caller is inside a runtime (where `block_on` would panic).
fn blocking<T: Send + 'static, F: std::future::Future<Output = T>>(
    f: impl FnOnce() -> F + Send + 'static,
) -> T {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
            .block_on(f())
    })
    .join()
    .expect("no panic")
}

/// Calls a tool that must succeed with an object; panics with the error otherwise.
pub async fn ok(
    app: &std::sync::Arc<pgmcp::app::App>,
    tool: &str,
    args: serde_json::Value,
) -> serde_json::Value {
    match app.call(tool, args.clone()).await {
        Ok(v) => {
            assert!(v.is_object(), "{tool} returned a non-object: {v}");
            v
        }
        Err(e) => panic!("{tool}({args}) failed: {:#}", e.to_json()),
    }
}

/// Calls a tool that must fail; returns the error's wire shape after checking the
/// fields every error carries.
pub async fn fail(
    app: &std::sync::Arc<pgmcp::app::App>,
    tool: &str,
    args: serde_json::Value,
) -> serde_json::Value {
    match app.call(tool, args.clone()).await {
        Ok(v) => panic!("{tool}({args}) unexpectedly succeeded: {v:#}"),
        Err(e) => {
            let j = e.to_json();
            assert_eq!(j["success"], false, "{j:#}");
            assert!(j["error"].as_str().is_some_and(|s| !s.is_empty()), "{j:#}");
            assert!(j["recoverable"].is_boolean(), "{j:#}");
            j
        }
    }
}

/// Asserts a tool error's wire shape has this `code` and `category`.
#[track_caller]
pub fn expect(e: &serde_json::Value, code: &str, category: &str) {
    assert_eq!(e["code"], code, "{e:#}");
    assert_eq!(e["category"], category, "{e:#}");
}

/// URL of the maintenance database of the server in use.
pub fn admin_url() -> String {
    match server() {
        Server::External { url } => url.clone(),
        Server::Local(cluster) => cluster.url("postgres"),
    }
}

/// A database created for one test; dropped again when this is dropped.
pub struct TestDb {
    pub url: String,
    pub name: String,
    admin_url: String,
    /// Released after the database is dropped (fields drop after `Drop::drop`).
    _use: ClusterUse,
    /// Set by [`TestDb::keep`]: the database outlives this value.
    kept: bool,
}

impl TestDb {
    /// Keeps the database for the rest of the process (a fixture template) and releases its
    /// hold on the cluster now: a database held forever would keep every test that needs the
    /// cluster to itself ([`test_db_exclusive`]) waiting forever.
    pub fn keep(mut self) -> String {
        self.kept = true;
        self.name.clone()
    }
}

/// Creates a fresh, uniquely named, empty database.
pub async fn test_db() -> TestDb {
    test_db_at(admin_url()).await
}

/// Creates a fresh, uniquely named, empty database on the server of `admin_url`.
pub async fn test_db_at(admin_url: String) -> TestDb {
    test_db_like(admin_url, "template0").await
}

/// Creates a fresh, uniquely named copy of database `template` (which nobody may be
/// connected to) on the server of `admin_url`.
pub async fn test_db_like(admin_url: String, template: &str) -> TestDb {
    create_db(ClusterUse::shared().await, admin_url, template).await
}

/// [`test_db`] for a test that compares cluster-wide state (roles, replication origins,
/// the WAL position, server files) before and after: no other test holds a database, and
/// so none runs on the cluster, until it is dropped. Hold no other [`TestDb`] meanwhile.
pub async fn test_db_exclusive() -> TestDb {
    create_db(ClusterUse::exclusive().await, admin_url(), "template0").await
}

async fn create_db(cluster_use: ClusterUse, admin_url: String, template: &str) -> TestDb {
    let name = unique_db_name();
    let admin = connect(&admin_url).await;
    // template0 rather than template1: equally fast (measured), and it can
    // never fail with "source database is being accessed by other users"
    // nor inherit objects someone left in template1 of an external server.
    admin
        .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {template}"))
        .await
        .unwrap_or_else(|err| panic!("CREATE DATABASE {name} failed: {err:?}"));
    TestDb {
        url: with_dbname(&admin_url, &name),
        name,
        admin_url,
        _use: cluster_use,
        kept: false,
    }
}

/// Who uses the shared cluster now: tests holding a [`TestDb`] share it, a test that
/// compares cluster-wide state has it alone. All test modules run in one process on one
/// cluster, so a test that owned its cluster as its own binary may not own it any more.
///
/// Shared use never waits for a test that merely waits for exclusive use, only for one that
/// has it: a test may hold two databases at once (and take the second while the first is
/// held) without deadlocking against a waiting exclusive test. An exclusive test gets its
/// turn the moment no database is held, which with libtest's default of one test per core
/// happens between any two tests.
struct ClusterUse {
    exclusive: bool,
}

struct Users {
    shared: usize,
    exclusive: bool,
}

static USERS: Mutex<Users> = Mutex::new(Users {
    shared: 0,
    exclusive: false,
});
static USERS_CHANGED: tokio::sync::Notify = tokio::sync::Notify::const_new();
/// One exclusive test at a time queues for the cluster.
static EXCLUSIVE_QUEUE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn users() -> std::sync::MutexGuard<'static, Users> {
    USERS.lock().unwrap_or_else(|p| p.into_inner())
}

impl ClusterUse {
    async fn shared() -> Self {
        Self::wait_for(false).await
    }

    async fn exclusive() -> Self {
        let _queue = EXCLUSIVE_QUEUE.lock().await;
        Self::wait_for(true).await
    }

    async fn wait_for(exclusive: bool) -> Self {
        loop {
            // Registered before the check, so a release in between still wakes this.
            let changed = USERS_CHANGED.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            {
                let mut users = users();
                if exclusive && !users.exclusive && users.shared == 0 {
                    users.exclusive = true;
                    return Self { exclusive };
                }
                if !exclusive && !users.exclusive {
                    users.shared += 1;
                    return Self { exclusive };
                }
            }
            changed.await;
        }
    }
}

impl Drop for ClusterUse {
    fn drop(&mut self) {
        {
            let mut users = users();
            if self.exclusive {
                users.exclusive = false;
            } else {
                users.shared -= 1;
            }
        }
        USERS_CHANGED.notify_waiters();
    }
}

/// Held by tests that start Code Mode sandbox threads in this process
/// (`--sandbox-isolation thread`) or count them: their threads are all named `pgmcp-js`.
pub async fn sandbox_threads_lock() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if self.kept {
            return;
        }
        // We may be inside a runtime (where block_on panics) or unwinding
        // from a failed test, so use a private thread and runtime, and only
        // warn on failure. Dropping costs ~10 ms, cheap enough to do even on
        // the throwaway cluster, which keeps it small during long runs.
        let admin_url = self.admin_url.clone();
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let dropper = std::thread::spawn(move || -> Result<(), String> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|err| err.to_string())?;
            runtime.block_on(async {
                let (client, connection) = tokio_postgres::connect(&admin_url, NoTls)
                    .await
                    .map_err(|err| err.to_string())?;
                tokio::spawn(connection);
                client
                    .batch_execute(&sql)
                    .await
                    .map_err(|err| err.to_string())
            })
        });
        // On a worker of a multi-threaded runtime, hand the worker's other tasks to another
        // thread while waiting: tasks queued behind this wait (a connection's I/O among
        // them) would otherwise stall until the server finishes the drop, which may itself
        // be waiting on one of them. A current-thread runtime has no other thread for them.
        let outcome = match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| dropper.join())
            }
            _ => dropper.join(),
        };
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(err)) => eprintln!("warning: could not drop test database {}: {err}", self.name),
            Err(_) => eprintln!("warning: dropping test database {} panicked", self.name),
        }
    }
}

/// Connects without TLS and drives the connection on the current runtime.
pub async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|err| panic!("could not connect to {url}: {err:?}"));
    tokio::spawn(async move {
        if let Err(err) = connection.await {
            eprintln!("postgres connection error: {err}");
        }
    });
    client
}

/// `t_<pid>_<counter>_<random>`: unique within the process via the counter,
/// and across processes sharing an external server via pid and randomness.
/// Lowercase ASCII only, so it needs no quoting in SQL or URLs.
fn unique_db_name() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // RandomState is randomly seeded per instance: randomness without a dependency.
    let random = RandomState::new().hash_one(n) & 0xff_ffff;
    format!("t_{}_{n}_{random:06x}", std::process::id())
}

/// `url` pointing at database `dbname` instead. Handles `postgres://` URLs
/// (keeping any query string) and key=value connection strings.
pub fn with_dbname(url: &str, dbname: &str) -> String {
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"));
    let Some(rest) = rest else {
        // A later keyword overrides an earlier one.
        return format!("{url} dbname={dbname}");
    };
    let scheme = &url[..url.len() - rest.len()];
    let (before_query, query) = rest.split_at(rest.find('?').unwrap_or(rest.len()));
    let authority = &before_query[..before_query.find('/').unwrap_or(before_query.len())];
    format!("{scheme}{authority}/{dbname}{query}")
}

/// `user@host:port` of a `postgres://` URL; `None` for anything else.
fn endpoint(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))?;
    Some(rest.split(['/', '?']).next()?.to_string())
}

/// A libpq `key=value` connection string for a `postgres://user[:password]@host:port/db`
/// URL (as dblink wants it).
pub fn conninfo(url: &str) -> String {
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
        .unwrap_or_else(|| panic!("not a postgres:// URL: {url}"));
    let rest = rest.split('?').next().unwrap_or_default();
    let (authority, dbname) = rest.split_once('/').unwrap_or((rest, "postgres"));
    let (userinfo, hostport) = authority
        .rsplit_once('@')
        .unwrap_or(("postgres", authority));
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let (host, port) = hostport.rsplit_once(':').unwrap_or((hostport, "5432"));
    let mut out = format!("host={host} port={port} user={user} dbname={dbname}");
    if !password.is_empty() {
        out.push_str(&format!(" password={password}"));
    }
    out
}

//! One validated configuration, built from command-line flags and the environment.
//!
//! Connection sources, first match wins for the base: `--postgres`, `POSTGRES_URL`,
//! `DATABASE_URL`; without any of them the connection is assembled from libpq's `PG*`
//! variables. The individual flags (`--host`, `--pg-port`, `--user`, `--password`,
//! `--database`) then override the matching part of whatever base was chosen, so a URL
//! from the environment can be pointed at another database with one flag.

use std::time::Duration;

use clap::{Args, ValueEnum};
use tokio_postgres::config::SslMode as PgSslMode;

use crate::tools::filter::ToolFilter;

/// The default text budget of one tool answer, sized for a model's context.
pub const DEFAULT_MAX_RESULT_BYTES: usize = 64 * 1024;
/// Default `--max-sql-bytes`: 256 KiB.
pub const DEFAULT_MAX_SQL_BYTES: usize = 256 * 1024;
/// The share of a Code Mode answer's budget its logs may take by default.
pub const DEFAULT_CODE_LOG_BYTES: usize = 8 * 1024;

/// Database and server flags shared by every subcommand that talks to PostgreSQL.
#[derive(Debug, Clone, Args, Default)]
pub struct ServerArgs {
    /// Connection string: a postgres:// URL or a libpq `key=value` string.
    #[arg(global = true, long, env = "POSTGRES_URL", hide_env_values = true)]
    pub postgres: Option<String>,
    /// Host name or socket directory (overrides the connection string).
    #[arg(global = true, long)]
    pub host: Option<String>,
    /// Server port (overrides the connection string).
    #[arg(global = true, long = "pg-port")]
    pub pg_port: Option<u16>,
    /// User name (overrides the connection string).
    #[arg(global = true, long)]
    pub user: Option<String>,
    /// Password (overrides the connection string). Prefer PGPASSWORD or the URL.
    #[arg(global = true, long, hide_env_values = true)]
    pub password: Option<String>,
    /// Database name (overrides the connection string).
    #[arg(global = true, long)]
    pub database: Option<String>,
    /// Maximum number of pooled connections.
    #[arg(global = true, long, default_value_t = 10)]
    pub pool_max: usize,
    /// Statement timeout applied to every connection, in seconds (0 disables it).
    #[arg(global = true, long, default_value_t = 30)]
    pub statement_timeout: u64,
    /// Which tools are exposed: comma list of groups or tool names; `+x` adds, `-x` removes.
    #[arg(global = true, long, env = "PGMCP_TOOL_FILTER")]
    pub tool_filter: Option<String>,
    /// Include each tool's `outputSchema` in `tools/list` (its result's JSON Schema; results'
    /// `structuredContent` conforms to it). Off by default: it costs tokens on every listing,
    /// and Code Mode's declarations carry the same types.
    #[arg(global = true, long, env = "PGMCP_OUTPUT_SCHEMAS")]
    pub output_schemas: bool,
    /// `restricted` lists only read-only tools and runs every statement in a READ ONLY transaction.
    #[arg(global = true, long, value_enum, default_value_t = AccessMode::Unrestricted, env = "PGMCP_ACCESS_MODE")]
    pub access_mode: AccessMode,
    /// Run every read-only statement as this role (`SET LOCAL ROLE` inside its READ ONLY
    /// transaction): PostgreSQL's own privileges as a layer independent of the statement
    /// policy. The connecting role must be able to SET to it; see docs/SECURITY.md.
    #[arg(global = true, long, env = "PGMCP_READ_ONLY_ROLE")]
    pub read_only_role: Option<String>,
    /// Let pg_set_config change server-wide settings (`ALTER SYSTEM SET`, then
    /// `pg_reload_conf()`), which persist in postgresql.auto.conf for every database and
    /// session. Off by default: without it pg_set_config accepts only the database and role
    /// scopes. Needs a superuser (or, on PostgreSQL 15+, a role granted ALTER SYSTEM).
    #[arg(global = true, long, env = "PGMCP_ALLOW_ALTER_SYSTEM")]
    pub allow_alter_system: bool,
    /// Largest SQL text one argument of a tool call may carry, in bytes: `sql`, `where`,
    /// `select`, each of `statements`, a column's `default`… (every string argument but
    /// parameters, rows, documents, JSON values, text to analyse and Code Mode's source). The server parses the SQL it is given
    /// (the statement policy, EXPLAIN, the audit fingerprint) at ~0.75 µs a byte, on a thread
    /// other calls share: 256 KiB is ~0.2 s of parsing.
    #[arg(global = true, long, default_value_t = DEFAULT_MAX_SQL_BYTES)]
    pub max_sql_bytes: usize,
    /// Maximum rows returned by a query-like tool before the result is cut.
    #[arg(global = true, long, default_value_t = 1000)]
    pub max_rows: usize,
    /// Bytes of JSON text one query-like result may take before its rows are cut (what the
    /// client reads: rows, separators and envelope). 64 KiB fits a model's context with room
    /// to spare (about 16k tokens; Claude Code caps tool output at 25k tokens).
    #[arg(global = true, long, default_value_t = DEFAULT_MAX_RESULT_BYTES)]
    pub max_result_bytes: usize,
    /// Seconds an explicit transaction may stay idle before it is rolled back.
    #[arg(global = true, long, default_value_t = 300)]
    pub transaction_idle_timeout: u64,
    /// Seconds a READ ONLY explicit transaction (restricted mode, readonly executions) may stay
    /// idle before it is rolled back; at most `--transaction-idle-timeout`. Its locks stall DDL
    /// and, behind the DDL, every other reader of the table.
    #[arg(global = true, long, default_value_t = 60)]
    pub read_only_transaction_idle_timeout: u64,
    /// `lock_timeout` (ms) of every statement in a READ ONLY explicit transaction (0 = none).
    #[arg(global = true, long, default_value_t = 5_000)]
    pub read_only_lock_timeout: u64,
    /// Seconds a call waits for a pooled connection before failing with POOL_EXHAUSTED.
    #[arg(global = true, long, default_value_t = 10)]
    pub pool_timeout: u64,
    /// Bytes of decoded rows all calls together may hold at once; a call that would pass it
    /// waits (up to `--pool-timeout`), then fails with RESULT_MEMORY_BUDGET.
    #[arg(global = true, long, default_value_t = 256 * 1024 * 1024)]
    pub max_inflight_result_bytes: usize,
    /// Write one JSON line per tool call and Code Mode execution to this file (or `stderr`).
    #[arg(global = true, long, env = "PGMCP_AUDIT_LOG")]
    pub audit_log: Option<String>,
    /// Rotate the audit log file to `<path>.1` when it passes this size.
    #[arg(global = true, long, default_value_t = 10 * 1024 * 1024)]
    pub audit_log_max_bytes: u64,
    /// Log only a hash and the size of Code Mode source, not the code.
    #[arg(global = true, long)]
    pub audit_redact: bool,
    /// A function reads may call although the read-only policy cannot show it is safe
    /// (`name` or `schema.name`; repeat the flag or separate with commas). You vouch that it
    /// only reads: it must still be IMMUTABLE or STABLE. See docs/SECURITY.md.
    #[arg(
        global = true,
        long,
        value_delimiter = ',',
        env = "PGMCP_READ_ONLY_ALLOW_FUNCTION"
    )]
    pub read_only_allow_function: Vec<String>,
    #[command(flatten)]
    pub code: CodeArgs,
}

/// Code Mode (`pg_execute_code`) limits. Every limit error names the flag that raises it.
#[derive(Debug, Clone, Args)]
pub struct CodeArgs {
    /// Largest `timeout` (ms) an execution may ask for; larger requests are clamped.
    #[arg(global = true, long, default_value_t = 60_000)]
    pub code_max_timeout: u64,
    /// Memory an execution may allocate, in MB (worker address-space limit).
    #[arg(global = true, long, default_value_t = 128)]
    pub code_memory_mb: u64,
    /// `process` (default): each execution in a killable worker process with OS limits.
    /// `thread`: in-process, for platforms without fork and for fuzzing (no memory limit, no kill).
    #[arg(global = true, long, value_enum, default_value_t = Isolation::Process)]
    pub sandbox_isolation: Isolation,
    /// Pre-started idle workers that hide the spawn latency.
    #[arg(global = true, long, default_value_t = 2)]
    pub code_worker_pool: usize,
    /// Live sandbox worker processes at most, idle ones included (default: 2 x CPU cores,
    /// at least 4). Executions beyond it queue.
    #[arg(global = true, long)]
    pub code_max_workers: Option<usize>,
    /// Executions that may wait for a worker (default: `--code-max-workers`); more fail with BUSY.
    #[arg(global = true, long)]
    pub code_max_queued: Option<usize>,
    /// Milliseconds an execution waits for a worker before failing with BUSY.
    #[arg(global = true, long, default_value_t = 10_000)]
    pub code_queue_timeout: u64,
    /// Pooled connections one execution may use at once (default: half of `--pool-max`, at
    /// least 1), so one execution cannot hold the whole pool.
    #[arg(global = true, long)]
    pub code_max_connections: Option<usize>,
    #[arg(global = true, long, default_value_t = 1000)]
    pub code_max_tool_calls: u32,
    #[arg(global = true, long, default_value_t = 32)]
    pub code_max_in_flight: u32,
    /// Bytecode instructions per execution (0 = unlimited; the timeout still applies).
    #[arg(global = true, long, default_value_t = 500_000_000)]
    pub code_max_instructions: u64,
    #[arg(global = true, long, default_value_t = 10_000_000)]
    pub code_max_loop_iterations: u64,
    #[arg(global = true, long, default_value_t = 1_000)]
    pub code_max_recursion: usize,
    /// Bytes of JSON the execution's returned value may take in its answer; larger values
    /// come back as a preview that fits. With `--code-max-log-bytes` it makes up the 64 KiB
    /// budget of one answer, the same as a direct query's `--max-result-bytes`.
    #[arg(global = true, long, default_value_t = DEFAULT_MAX_RESULT_BYTES - DEFAULT_CODE_LOG_BYTES)]
    pub code_max_result_bytes: usize,
    /// Bytes of console output an execution's answer may carry; later entries are dropped.
    #[arg(global = true, long, default_value_t = DEFAULT_CODE_LOG_BYTES)]
    pub code_max_log_bytes: usize,
    /// Bytes of rows one `pg.*` call inside an execution may return to the script (its
    /// `--max-result-bytes`). The script, not the model, reads these rows, so the cap bounds
    /// memory rather than context; what reaches the model is the execution's answer.
    #[arg(global = true, long, default_value_t = 4 * 1024 * 1024)]
    pub code_call_max_result_bytes: usize,
    #[arg(global = true, long, default_value_t = 50 * 1024)]
    pub code_max_source_bytes: usize,
    #[arg(global = true, long, default_value_t = 256)]
    pub code_max_depth: usize,
    /// Code Mode executions per minute per MCP client (0 = no limit).
    #[arg(global = true, long, default_value_t = 120)]
    pub code_rate_limit: u32,
    /// Executions a client may start at once before the per-minute rate applies.
    #[arg(global = true, long, default_value_t = 20)]
    pub code_rate_burst: u32,
    /// The executable run as the sandbox worker (default: this binary).
    #[arg(global = true, long, env = "PGMCP_WORKER_EXE", hide = true)]
    pub code_worker_exe: Option<std::path::PathBuf>,
}

impl Default for CodeArgs {
    fn default() -> Self {
        parse_server_args(["pgmcp"])
            .map(|a| a.code)
            .unwrap_or_else(|e| panic!("clap defaults: {e}"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Isolation {
    #[default]
    Process,
    Thread,
}

/// Parses server flags as the command line would (defaults included); for embedding
/// and tests. The first item is the program name.
pub fn parse_server_args<I, T>(args: I) -> Result<ServerArgs, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    #[derive(clap::Parser)]
    struct Wrapper {
        #[command(flatten)]
        server: ServerArgs,
    }
    <Wrapper as clap::Parser>::try_parse_from(args).map(|w| w.server)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum AccessMode {
    #[default]
    Unrestricted,
    Restricted,
}

/// The `sslmode` values libpq knows; tokio-postgres only understands the first three,
/// so the verifying modes are handled by our own rustls configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Result<Self, ConfigError> {
        Ok(match value {
            "disable" | "allow" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(ConfigError(format!(
                    "unknown sslmode '{other}': use disable, prefer, require, verify-ca or verify-full"
                )));
            }
        })
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Everything the server needs, validated.
#[derive(Clone)]
pub struct Config {
    pub pg: tokio_postgres::Config,
    pub ssl_mode: SslMode,
    pub ssl_root_cert: Option<String>,
    pub pool_max: usize,
    pub statement_timeout: Duration,
    pub tool_filter: ToolFilter,
    /// `--output-schemas`: `tools/list` carries each tool's output schema.
    pub output_schemas: bool,
    pub access_mode: AccessMode,
    /// `--read-only-role`: the role every read-only statement runs as.
    pub read_only_role: Option<String>,
    /// `--allow-alter-system`: pg_set_config may use `ALTER SYSTEM SET` (scope `system`).
    pub allow_alter_system: bool,
    /// Skips the parse-time statement policy for reads, leaving the role and the READ ONLY
    /// transaction as the only layers. For tests that show those layers hold on their own;
    /// deliberately no flag or environment variable sets it, so a deployed binary cannot
    /// be switched into it by configuration, only a program embedding the library can.
    #[doc(hidden)]
    pub unsafe_test_only_skip_read_policy: bool,
    /// `--max-sql-bytes`, at least 1 KiB.
    pub max_sql_bytes: usize,
    pub max_rows: usize,
    pub max_result_bytes: usize,
    pub transaction_idle_timeout: Duration,
    /// At most `transaction_idle_timeout`.
    pub read_only_transaction_idle_timeout: Duration,
    /// `None` when disabled.
    pub read_only_lock_timeout: Option<Duration>,
    pub pool_timeout: Duration,
    pub max_inflight_result_bytes: usize,
    /// Resolved `--code-max-connections`: between 1 and `pool_max`.
    pub code_max_connections: usize,
    /// Resolved `--code-max-workers`.
    pub code_max_workers: usize,
    /// Resolved `--code-max-queued`.
    pub code_max_queued: usize,
    pub audit_log: Option<String>,
    pub audit_log_max_bytes: u64,
    pub audit_redact: bool,
    pub read_only_allow_function: Vec<String>,
    pub code: CodeArgs,
}

impl std::fmt::Debug for Config {
    // Hand-written so that no password can reach a log line through `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("target", &describe_target(&self.pg))
            .field("ssl_mode", &self.ssl_mode)
            .field("pool_max", &self.pool_max)
            .field("statement_timeout", &self.statement_timeout)
            .field("access_mode", &self.access_mode)
            .field("read_only_role", &self.read_only_role)
            .finish_non_exhaustive()
    }
}

/// `user@host:port/db` without the password, for logs and error messages.
pub fn describe_target(pg: &tokio_postgres::Config) -> String {
    let host = pg
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = pg.get_ports().first().copied().unwrap_or(5432);
    format!(
        "{}@{}:{}/{}",
        pg.get_user().unwrap_or("?"),
        host,
        port,
        pg.get_dbname().unwrap_or("?")
    )
}

/// Environment lookups go through this so tests can supply their own.
pub trait Env {
    fn var(&self, key: &str) -> Option<String>;
}

pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, key: &str) -> Option<String> {
        std::env::var(key).ok().filter(|v| !v.is_empty())
    }
}

impl Config {
    pub fn from_args(args: &ServerArgs) -> Result<Self, ConfigError> {
        Self::from_args_env(args, &ProcessEnv)
    }

    pub fn from_args_env(args: &ServerArgs, env: &dyn Env) -> Result<Self, ConfigError> {
        let url = args
            .postgres
            .clone()
            .filter(|s| !s.is_empty())
            .or_else(|| env.var("POSTGRES_URL"))
            .or_else(|| env.var("DATABASE_URL"));

        let (mut pg, mut ssl_mode, mut ssl_root_cert) = match url {
            Some(url) => parse_connection_string(&url)?,
            None => (tokio_postgres::Config::new(), None, None),
        };
        apply_libpq_env(&mut pg, &mut ssl_mode, &mut ssl_root_cert, env)?;

        if let Some(host) = &args.host {
            pg = replace_hosts(pg, host);
        }
        if let Some(port) = args.pg_port {
            pg = replace_ports(pg, port);
        }
        if let Some(user) = &args.user {
            pg.user(user);
        }
        if let Some(password) = &args.password {
            pg.password(password);
        }
        if let Some(db) = &args.database {
            pg.dbname(db);
        }

        // libpq's defaults, so that a bare `pgmcp` on a developer machine behaves like `psql`.
        if pg.get_hosts().is_empty() {
            pg.host("localhost");
        }
        if pg.get_user().is_none() {
            let user = env
                .var("USER")
                .or_else(|| env.var("LOGNAME"))
                .unwrap_or_else(|| "postgres".into());
            pg.user(&user);
        }
        if pg.get_dbname().is_none() {
            let user = pg.get_user().unwrap_or("postgres").to_string();
            pg.dbname(&user);
        }
        if pg.get_application_name().is_none() {
            pg.application_name("pgmcp");
        }
        let ssl_mode = ssl_mode.unwrap_or(SslMode::Prefer);
        pg.ssl_mode(match ssl_mode {
            SslMode::Disable => PgSslMode::Disable,
            SslMode::Prefer => PgSslMode::Prefer,
            _ => PgSslMode::Require,
        });
        if pg.get_connect_timeout().is_none() {
            pg.connect_timeout(Duration::from_secs(10));
        }
        let statement_timeout = Duration::from_secs(args.statement_timeout);
        // Sent in the startup packet, so it holds for every statement on every pooled
        // connection and RESET ALL returns to it rather than to the server default.
        let mut options = pg.get_options().unwrap_or("").to_string();
        if !options.is_empty() {
            options.push(' ');
        }
        options.push_str(&format!(
            "-c statement_timeout={}",
            statement_timeout.as_millis()
        ));
        pg.options(&options);

        if args.pool_max == 0 {
            return Err(ConfigError("--pool-max must be at least 1".into()));
        }
        if args.max_rows == 0 {
            return Err(ConfigError("--max-rows must be at least 1".into()));
        }
        let code_max_workers = args
            .code
            .code_max_workers
            .unwrap_or_else(default_max_workers);
        if code_max_workers == 0 {
            return Err(ConfigError("--code-max-workers must be at least 1".into()));
        }
        let read_only_role = args.read_only_role.clone().filter(|r| !r.is_empty());
        if let Some(role) = &read_only_role
            && (role.len() > 63 || role.contains('\0'))
        {
            return Err(ConfigError(format!(
                "--read-only-role '{role}' is not a valid role name (at most 63 bytes, no NUL)"
            )));
        }
        let tool_filter = match &args.tool_filter {
            Some(spec) => ToolFilter::parse(spec).map_err(ConfigError)?,
            None => ToolFilter::default(),
        };

        Ok(Config {
            pg,
            ssl_mode,
            ssl_root_cert,
            pool_max: args.pool_max,
            statement_timeout,
            tool_filter,
            output_schemas: args.output_schemas,
            access_mode: args.access_mode,
            read_only_role,
            allow_alter_system: args.allow_alter_system,
            unsafe_test_only_skip_read_policy: false,
            max_sql_bytes: args.max_sql_bytes.max(1024),
            max_rows: args.max_rows,
            max_result_bytes: args.max_result_bytes.max(1024),
            transaction_idle_timeout: Duration::from_secs(args.transaction_idle_timeout.max(1)),
            read_only_transaction_idle_timeout: Duration::from_secs(
                args.read_only_transaction_idle_timeout
                    .clamp(1, args.transaction_idle_timeout.max(1)),
            ),
            read_only_lock_timeout: (args.read_only_lock_timeout > 0)
                .then(|| Duration::from_millis(args.read_only_lock_timeout)),
            pool_timeout: Duration::from_secs(args.pool_timeout.max(1)),
            // Never below one call's cap: a single call must always be able to finish.
            max_inflight_result_bytes: args
                .max_inflight_result_bytes
                .max(args.max_result_bytes.max(1024))
                .max(args.code.code_call_max_result_bytes.max(1024)),
            code_max_connections: args
                .code
                .code_max_connections
                .unwrap_or(args.pool_max / 2)
                .clamp(1, args.pool_max),
            code_max_workers,
            code_max_queued: args.code.code_max_queued.unwrap_or(code_max_workers),
            audit_log: args.audit_log.clone().filter(|s| !s.is_empty()),
            audit_log_max_bytes: args.audit_log_max_bytes,
            audit_redact: args.audit_redact,
            read_only_allow_function: args
                .read_only_allow_function
                .iter()
                .map(|f| f.trim().to_string())
                .filter(|f| !f.is_empty())
                .collect(),
            code: args.code.clone(),
        })
    }
}

/// `--code-max-workers` default: two per CPU core, at least 4.
pub fn default_max_workers() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (2 * cores).max(4)
}

type Parsed = (tokio_postgres::Config, Option<SslMode>, Option<String>);

/// Parses a URL or key=value connection string. `sslmode` and `sslrootcert` are taken
/// out first because tokio-postgres rejects the verifying modes libpq users rely on.
pub fn parse_connection_string(s: &str) -> Result<Parsed, ConfigError> {
    let s = s.trim();
    let (rest, ssl_mode, root) = if s.starts_with("postgres://") || s.starts_with("postgresql://") {
        extract_url_params(s)
    } else {
        extract_kv_params(s)
    };
    let ssl_mode = ssl_mode.as_deref().map(SslMode::parse).transpose()?;
    let pg: tokio_postgres::Config = rest.parse().map_err(|e: tokio_postgres::Error| {
        // tokio-postgres' parse errors never echo the input, so no password can leak here.
        ConfigError(format!(
            "invalid connection string: {e}. Expected postgres://user:password@host:port/database or 'host=... user=... dbname=...'"
        ))
    })?;
    Ok((pg, ssl_mode, root))
}

fn extract_url_params(url: &str) -> (String, Option<String>, Option<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_string(), None, None);
    };
    let mut ssl_mode = None;
    let mut root = None;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "sslmode" => ssl_mode = Some(v.to_string()),
            "sslrootcert" => root = Some(percent_decode(v)),
            _ => kept.push(pair),
        }
    }
    let rest = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    (rest, ssl_mode, root)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Splits a libpq `key=value` string (values optionally single-quoted, with backslash
/// escapes, spaces allowed around `=`), removes the TLS keys we handle ourselves and
/// re-emits the rest in a canonical quoted form.
fn extract_kv_params(s: &str) -> (String, Option<String>, Option<String>) {
    let mut ssl_mode = None;
    let mut root = None;
    let mut kept = Vec::new();
    let mut chars = s.chars().peekable();
    let skip_ws = |chars: &mut std::iter::Peekable<std::str::Chars>| {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
    };
    loop {
        skip_ws(&mut chars);
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        skip_ws(&mut chars);
        if chars.peek() != Some(&'=') {
            // Not key=value: hand it through unchanged so tokio-postgres reports it.
            kept.push(key);
            continue;
        }
        chars.next();
        skip_ws(&mut chars);
        let mut value = String::new();
        let quoted = chars.peek() == Some(&'\'');
        if quoted {
            chars.next();
        }
        while let Some(c) = chars.next() {
            match c {
                '\\' => value.extend(chars.next()),
                '\'' if quoted => break,
                c if !quoted && c.is_whitespace() => break,
                c => value.push(c),
            }
        }
        match key.as_str() {
            "sslmode" => ssl_mode = Some(value),
            "sslrootcert" => root = Some(value),
            _ => kept.push(format!(
                "{key}='{}'",
                value.replace('\\', "\\\\").replace('\'', "\\'")
            )),
        }
    }
    (kept.join(" "), ssl_mode, root)
}

fn apply_libpq_env(
    pg: &mut tokio_postgres::Config,
    ssl_mode: &mut Option<SslMode>,
    root: &mut Option<String>,
    env: &dyn Env,
) -> Result<(), ConfigError> {
    // libpq semantics: the environment only fills what the connection string left open.
    if pg.get_hosts().is_empty()
        && let Some(h) = env.var("PGHOST")
    {
        for host in h.split(',') {
            pg.host(host);
        }
    }
    if pg.get_ports().is_empty()
        && let Some(p) = env.var("PGPORT")
    {
        let port = p
            .parse::<u16>()
            .map_err(|_| ConfigError(format!("PGPORT '{p}' is not a port number")))?;
        pg.port(port);
    }
    if pg.get_user().is_none()
        && let Some(u) = env.var("PGUSER")
    {
        pg.user(&u);
    }
    if pg.get_password().is_none()
        && let Some(p) = env.var("PGPASSWORD")
    {
        pg.password(p);
    }
    if pg.get_dbname().is_none()
        && let Some(d) = env.var("PGDATABASE")
    {
        pg.dbname(&d);
    }
    if ssl_mode.is_none()
        && let Some(m) = env.var("PGSSLMODE")
    {
        *ssl_mode = Some(SslMode::parse(&m)?);
    }
    if root.is_none() {
        *root = env.var("PGSSLROOTCERT");
    }
    Ok(())
}

/// tokio-postgres has no setter that clears hosts, so the config is rebuilt.
fn replace_hosts(pg: tokio_postgres::Config, host: &str) -> tokio_postgres::Config {
    let mut out = copy_without_endpoints(&pg);
    out.host(host);
    for p in pg.get_ports() {
        out.port(*p);
    }
    out
}

fn replace_ports(pg: tokio_postgres::Config, port: u16) -> tokio_postgres::Config {
    let mut out = copy_without_endpoints(&pg);
    for h in pg.get_hosts() {
        match h {
            tokio_postgres::config::Host::Tcp(name) => {
                out.host(name);
            }
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(path) => {
                out.host_path(path);
            }
        }
    }
    out.port(port);
    out
}

fn copy_without_endpoints(pg: &tokio_postgres::Config) -> tokio_postgres::Config {
    let mut out = tokio_postgres::Config::new();
    if let Some(u) = pg.get_user() {
        out.user(u);
    }
    if let Some(p) = pg.get_password() {
        out.password(p);
    }
    if let Some(d) = pg.get_dbname() {
        out.dbname(d);
    }
    if let Some(o) = pg.get_options() {
        out.options(o);
    }
    if let Some(a) = pg.get_application_name() {
        out.application_name(a);
    }
    if let Some(t) = pg.get_connect_timeout() {
        out.connect_timeout(*t);
    }
    out.ssl_mode(pg.get_ssl_mode());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct MapEnv(HashMap<&'static str, &'static str>);
    impl Env for MapEnv {
        fn var(&self, key: &str) -> Option<String> {
            self.0.get(key).map(|s| s.to_string())
        }
    }

    fn env(pairs: &[(&'static str, &'static str)]) -> MapEnv {
        MapEnv(pairs.iter().copied().collect())
    }

    fn cfg(args: ServerArgs, e: &MapEnv) -> Config {
        Config::from_args_env(
            &ServerArgs {
                pool_max: 10,
                max_rows: 1000,
                statement_timeout: 30,
                ..args
            },
            e,
        )
        .unwrap()
    }

    #[test]
    fn precedence_flag_url_beats_env_urls_and_pg_vars() {
        let e = env(&[
            ("POSTGRES_URL", "postgres://a@h1/d1"),
            ("DATABASE_URL", "postgres://b@h2/d2"),
            ("PGUSER", "c"),
            ("PGHOST", "h3"),
        ]);
        let c = cfg(
            ServerArgs {
                postgres: Some("postgres://z@hz/dz".into()),
                ..Default::default()
            },
            &e,
        );
        assert_eq!(describe_target(&c.pg), "z@hz:5432/dz");
        let c = cfg(ServerArgs::default(), &e);
        assert_eq!(describe_target(&c.pg), "a@h1:5432/d1");
        let e2 = env(&[("DATABASE_URL", "postgres://b@h2/d2"), ("PGHOST", "h3")]);
        assert_eq!(
            describe_target(&cfg(ServerArgs::default(), &e2).pg),
            "b@h2:5432/d2"
        );
        let e3 = env(&[
            ("PGHOST", "h3"),
            ("PGUSER", "u3"),
            ("PGPORT", "6543"),
            ("PGDATABASE", "x"),
        ]);
        assert_eq!(
            describe_target(&cfg(ServerArgs::default(), &e3).pg),
            "u3@h3:6543/x"
        );
    }

    #[test]
    fn flags_override_parts() {
        let e = env(&[("DATABASE_URL", "postgres://b:secret@h2:7000/d2")]);
        let c = cfg(
            ServerArgs {
                host: Some("other".into()),
                database: Some("db9".into()),
                ..Default::default()
            },
            &e,
        );
        assert_eq!(describe_target(&c.pg), "b@other:7000/db9");
        assert_eq!(c.pg.get_password(), Some(&b"secret"[..]));
        let c = cfg(
            ServerArgs {
                pg_port: Some(6000),
                ..Default::default()
            },
            &e,
        );
        assert_eq!(describe_target(&c.pg), "b@h2:6000/d2");
    }

    #[test]
    fn verifying_ssl_modes_are_accepted_in_both_syntaxes() {
        let (_, m, root) = parse_connection_string(
            "postgres://u@h/d?sslmode=verify-full&sslrootcert=%2Ftmp%2Fca.pem",
        )
        .unwrap();
        assert_eq!(m, Some(SslMode::VerifyFull));
        assert_eq!(root.as_deref(), Some("/tmp/ca.pem"));
        let (pg, m, _) =
            parse_connection_string("host=h user='a b' sslmode=verify-ca dbname=x").unwrap();
        assert_eq!(m, Some(SslMode::VerifyCa));
        assert_eq!(pg.get_user(), Some("a b"));
        assert_eq!(pg.get_dbname(), Some("x"));
        assert!(parse_connection_string("postgres://u@h/d?sslmode=bogus").is_err());
    }

    #[test]
    fn debug_and_errors_never_show_the_password() {
        let e = env(&[]);
        let c = cfg(
            ServerArgs {
                postgres: Some("postgres://u:hunter2@h/d".into()),
                ..Default::default()
            },
            &e,
        );
        assert!(!format!("{c:?}").contains("hunter2"));
        let err = parse_connection_string("postgres://u:hunter2@h:notaport/d")
            .err()
            .unwrap();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn fair_sharing_defaults_and_clamps() {
        let parse = |extra: &[&str]| {
            let mut args = vec!["pgmcp", "--postgres", "postgres://u@h/d"];
            args.extend_from_slice(extra);
            Config::from_args_env(&parse_server_args(args).unwrap(), &env(&[])).unwrap()
        };
        let c = parse(&[]);
        assert_eq!(c.code_max_connections, 5, "half of the default pool of 10");
        assert!(c.code_max_workers >= 4);
        assert_eq!(c.code_max_queued, c.code_max_workers);
        assert_eq!(c.pool_timeout, Duration::from_secs(10));
        assert_eq!(
            c.read_only_transaction_idle_timeout,
            Duration::from_secs(60)
        );
        assert_eq!(c.read_only_lock_timeout, Some(Duration::from_secs(5)));
        assert_eq!(c.max_inflight_result_bytes, 256 * 1024 * 1024);
        // A pool of 1 still lets an execution use it; a quota above the pool is the pool.
        assert_eq!(parse(&["--pool-max", "1"]).code_max_connections, 1);
        let c = parse(&["--pool-max", "3", "--code-max-connections", "9"]);
        assert_eq!(c.code_max_connections, 3);
        // The read-only idle timeout never exceeds the general one; 0 disables lock_timeout.
        let c = parse(&[
            "--transaction-idle-timeout",
            "20",
            "--read-only-lock-timeout",
            "0",
        ]);
        assert_eq!(
            c.read_only_transaction_idle_timeout,
            Duration::from_secs(20)
        );
        assert_eq!(c.read_only_lock_timeout, None);
        // The budget is never below one call's cap.
        let c = parse(&[
            "--max-result-bytes",
            "9000000",
            "--max-inflight-result-bytes",
            "10",
        ]);
        assert_eq!(c.max_inflight_result_bytes, 9_000_000);
        assert!(
            Config::from_args_env(
                &parse_server_args(["pgmcp", "--code-max-workers", "0"]).unwrap(),
                &env(&[])
            )
            .is_err()
        );
    }

    #[test]
    fn statement_timeout_goes_into_startup_options() {
        let c = cfg(
            ServerArgs {
                postgres: Some("postgres://u@h/d?options=-c%20search_path%3Dx".into()),
                ..Default::default()
            },
            &env(&[]),
        );
        let opts = c.pg.get_options().unwrap();
        assert!(opts.contains("statement_timeout=30000"), "{opts}");
        assert!(opts.contains("search_path"), "{opts}");
    }
}

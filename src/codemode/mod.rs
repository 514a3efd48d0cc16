//! Code Mode: `pg_execute_code` runs agent-written TypeScript against the `pg.*` API.
//!
//! transpile (oxc: strip types, wrap as an async body) → sandbox (Boa, fresh realm, budgets)
//! inside a worker process (rlimits, killed at the deadline) → every `pg.*` call comes back
//! as a frame and runs through the same registry as a direct tool call.

pub mod api;
pub mod convert;
pub mod frames;
#[cfg(target_os = "linux")]
mod huge_text;
pub mod sandbox;
pub mod seccomp;
pub mod transpile;
pub mod worker;
#[cfg(target_os = "linux")]
pub mod zygote;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::config::{CodeArgs, Isolation};
use crate::error::{Category, Code, ToolError, ToolResult};
use crate::tools::read_session::ReadSession;
use crate::tools::transactions as txs;
use crate::tools::{Ctx, DESTRUCTIVE, Env, Tool, WithMeta, tool_with_meta};
use sandbox::{Outcome, SandboxLimits};

use worker::{Failure, Serve, WorkerPool};

pub const GROUP: &str = "codemode";
const DEFAULT_TIMEOUT_MS: u64 = 30_000;
/// Stack reserved for the JS thread: Boa's parser and interpreter recurse deeply on
/// legitimate code, and the reservation costs address space, not memory.
pub const JS_STACK_BYTES: usize = 128 * 1024 * 1024;
/// Name of the bridge call the prelude uses for `pg.transaction`.
const TRANSACTION_CALL: &str = "__transaction";
/// Argument key the prelude adds to calls made through a `tx` object.
const TX_KEY: &str = "__pgmcp_tx";
/// Argument key the prelude adds to shortcut calls whose result the host reshapes.
const SHAPE_KEY: &str = "__pgmcp_shape";
/// Pages a shortcut follows at most (`pg.listTables()` returns every table as one array).
const SHORTCUT_MAX_PAGES: usize = 100;

/// Process-wide Code Mode state: the idle worker pool, created on first use.
#[derive(Default)]
pub struct Engine {
    pool: OnceLock<Arc<WorkerPool>>,
    /// The `pg` manifests (with their declarations as help text), read-write and read-only.
    /// The registry and configuration never change while the server runs.
    manifests: [OnceLock<sandbox::Manifest>; 2],
    /// What workers prepare their realms for, per read-only mode (manifest and limits).
    profiles: [OnceLock<Arc<worker::Profile>>; 2],
    limiter: OnceLock<Option<governor::DefaultKeyedRateLimiter<String>>>,
    /// The tools each manifest reaches (what a `pg.*` call may name), per read-only mode:
    /// built once, not for every execution.
    allowed: [OnceLock<Arc<std::collections::HashSet<String>>>; 2],
}

impl Engine {
    /// Admits one execution for `client`, or says how long to wait.
    fn admit(&self, cfg: &CodeArgs, client: &str) -> Result<(), Duration> {
        let limiter = self.limiter.get_or_init(|| {
            let rate = std::num::NonZeroU32::new(cfg.code_rate_limit)?;
            let burst = std::num::NonZeroU32::new(cfg.code_rate_burst.max(1)).unwrap_or(rate);
            Some(governor::RateLimiter::keyed(
                governor::Quota::per_minute(rate).allow_burst(burst),
            ))
        });
        let Some(limiter) = limiter else {
            return Ok(());
        };
        limiter.check_key(&client.to_string()).map_err(|not_until| {
            use governor::clock::Clock;
            // The limiter's own clock: building a new `DefaultClock` runs CPUID (a VM exit
            // under virtualization) to probe the TSC, on every refused call.
            not_until.wait_time_from(limiter.clock().now())
        })
    }

    /// The tools `pg.*` reaches in this mode: every tool the access mode allows unless the
    /// tool filter removes it (listed or not), and only read-only ones for read-only runs.
    pub fn api_tools<'a>(&self, env: &'a Env, readonly: bool) -> Vec<&'a Tool> {
        env.registry
            .reachable(&env.config)
            .filter(|t| !readonly || t.hints.read_only)
            .collect()
    }

    /// The `pg` manifest for this server; its `help_text` is the compact index `pg.help()`
    /// returns, which the MCP resources serve too.
    pub fn manifest(&self, env: &Env, readonly: bool) -> &sandbox::Manifest {
        self.manifests[usize::from(readonly)]
            .get_or_init(|| api::manifest(self.api_tools(env, readonly).into_iter()))
    }

    /// The realm profile for executions in this mode: the manifest and the server's limits.
    fn profile(&self, env: &Env, readonly: bool) -> &Arc<worker::Profile> {
        self.profiles[usize::from(readonly)].get_or_init(|| {
            let cfg = &env.config.code;
            worker::Profile::new(
                self.manifest(env, readonly).clone(),
                limits(cfg),
                frames::OsLimits {
                    memory_bytes: cfg.code_memory_mb.saturating_mul(1024 * 1024),
                    // The longest any run may take; each run lowers it to its own timeout.
                    cpu_seconds: cpu_seconds(cfg.code_max_timeout),
                    stack_bytes: JS_STACK_BYTES,
                },
            )
        })
    }

    fn pool(&self, env: &Env) -> &Arc<WorkerPool> {
        let cfg = &env.config.code;
        let worker_caps = worker::Caps {
            max_workers: env.config.code_max_workers,
            max_queued: env.config.code_max_queued,
            queue_timeout: Duration::from_millis(cfg.code_queue_timeout),
        };
        self.pool.get_or_init(|| {
            let exe = cfg
                .code_worker_exe
                .clone()
                .or_else(|| std::env::current_exe().ok())
                .unwrap_or_else(|| "pgmcp".into());
            WorkerPool::with_caps(exe, cfg.code_worker_pool, worker_caps)
        })
    }

    /// Starts the idle workers now rather than on the first execution, prepared for the
    /// server's access mode (read-only in restricted mode).
    pub fn warm(&self, env: &Env) {
        let cfg = &env.config.code;
        if cfg.sandbox_isolation == Isolation::Process && cfg.code_worker_pool > 0 {
            let readonly = env.config.access_mode == crate::config::AccessMode::Restricted;
            self.pool(env).warm(self.profile(env, readonly));
        }
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExecuteCodeArgs {
    /// TypeScript (or JavaScript) function body. Top-level await and return work; the last
    /// expression is returned when there is no return.
    pub code: String,
    /// Wall-clock limit in milliseconds (default 30000; clamped to the server's maximum).
    pub timeout: Option<u64>,
    /// Run every call of this execution read-only (write tools are absent from `pg`).
    pub readonly: Option<bool>,
    /// Include metrics (time, CPU, memory, tool calls, token estimate) in the result itself.
    pub metrics: Option<bool>,
}

/// What `pg_execute_code` answers: the script's value, and what the model needs to read
/// it (logs, truncation, a clamped timeout). Metrics travel as MCP `_meta` ([`WithMeta`]),
/// or here too when asked for.
#[derive(serde::Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExecuteCodeResult {
    /// Always true: a failed execution is an error result.
    pub success: bool,
    /// The script's return value (JSON; `undefined` becomes null).
    pub result: Value,
    /// Set when `result` is a preview because the whole value was over the answer budget.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result_truncated: Option<ResultTruncated>,
    /// `console.*` output, oldest first (cut to the budget, marked when cut).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logs: Option<Vec<LogLine>>,
    /// Set when the requested timeout was above the server's maximum.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_clamped: Option<TimeoutClamped>,
    /// Time, CPU, memory, tool calls and token estimate, when `metrics: true` was passed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Map<String, Value>>,
}

#[derive(serde::Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResultTruncated {
    pub original_bytes: u64,
    pub max_bytes: u64,
    /// The server option that raises the limit.
    pub raise_with: String,
}

#[derive(serde::Serialize, Deserialize, JsonSchema)]
pub struct LogLine {
    /// `log`, `info`, `warn`, `error` or `debug`.
    pub level: String,
    pub message: String,
}

#[derive(serde::Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TimeoutClamped {
    pub requested_ms: u64,
    pub used_ms: u64,
}

/// Mutable facts about one execution, shared with the bridge's call handler.
struct ExecState {
    /// The execution's id: the owner tag of the transactions it begins (with
    /// `pg.transaction` or the raw `pg.transactions.begin`), which are the only ones its
    /// calls may use and are rolled back when it ends (the transactions layer keeps the tag).
    execution: String,
    calls: AtomicU32,
    /// `--code-max-connections`: a call outside a transaction holds one permit while it
    /// runs, an open transaction one until it ends. Calls beyond the quota wait for a
    /// permit, so one execution cannot hold the whole pool. The permits are the read
    /// session's semaphore ([`ReadSession::acquire_permit`]), which holds one while open.
    quota: usize,
    /// The permits held by this execution's open transactions.
    tx_permits: Mutex<std::collections::HashMap<String, tokio::sync::OwnedSemaphorePermit>>,
    /// The execution's reads outside transactions share one READ ONLY transaction, which
    /// holds one permit while it is open (`tools::read_session`).
    session: Arc<ReadSession>,
}

impl ExecState {
    fn new(execution: String, quota: usize) -> Self {
        ExecState {
            execution,
            calls: AtomicU32::new(0),
            session: Arc::new(ReadSession::new(Arc::new(tokio::sync::Semaphore::new(
                quota,
            )))),
            quota,
            tx_permits: Mutex::new(Default::default()),
        }
    }

    /// A connection permit for one call. Waits while other calls of this execution hold
    /// them (the execution's deadline bounds the wait), but fails at once when its own open
    /// transactions hold them all: none of those can end while the script waits here.
    async fn connection(&self) -> ToolResult<tokio::sync::OwnedSemaphorePermit> {
        let held = self
            .tx_permits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len();
        if held >= self.quota {
            return Err(ToolError::new(
                Category::Limit,
                Code::ConnectionQuota,
                format!(
                    "this execution's {held} open transaction(s) hold all of its {} connections (--code-max-connections)",
                    self.quota
                ),
            )
            .suggest("Commit or roll back a transaction before starting another call outside it; an operator can raise --code-max-connections.")
            .with_details(json!({ "limit": "--code-max-connections", "maxConnections": self.quota })));
        }
        self.session
            .acquire_permit()
            .await
            .ok_or_else(|| ToolError::internal("the execution's connection quota was closed"))
    }

    /// Keeps `permit` for as long as transaction `id` is open.
    fn hold_for(&self, id: &str, permit: tokio::sync::OwnedSemaphorePermit) {
        self.tx_permits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_string(), permit);
    }

    /// Gives back the permits of transactions that are no longer open (committed, rolled
    /// back, or rolled back by the idle reaper).
    fn release_ended(&self, env: &Env) {
        self.tx_permits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|id, _| self.owns(env, id));
    }

    fn owns(&self, env: &Env, id: &str) -> bool {
        txs::is_owned(env, id, &self.execution)
    }
}

/// RLIMIT_CPU for a run with this timeout: a second above it, the wall-clock kill being
/// the limit that normally ends a run.
fn cpu_seconds(timeout_ms: u64) -> u64 {
    timeout_ms.div_ceil(1000) + 1
}

pub fn limits(cfg: &CodeArgs) -> SandboxLimits {
    SandboxLimits {
        loop_iterations: cfg.code_max_loop_iterations,
        recursion: cfg.code_max_recursion,
        instruction_budget: (cfg.code_max_instructions > 0).then_some(cfg.code_max_instructions),
        max_tool_calls: cfg.code_max_tool_calls,
        max_in_flight: cfg.code_max_in_flight.max(1),
        max_result_bytes: cfg.code_max_result_bytes,
        max_log_bytes: cfg.code_max_log_bytes,
        ..SandboxLimits::default()
    }
}

async fn execute_code(
    engine: Arc<Engine>,
    ctx: Ctx,
    a: ExecuteCodeArgs,
) -> ToolResult<WithMeta<ExecuteCodeResult>> {
    let started = Instant::now();
    let cfg = ctx.env.config.code.clone();
    let client = ctx.client.clone().unwrap_or_else(|| "local".into());
    if let Err(wait) = engine.admit(&cfg, &client) {
        let ms = wait.as_millis().max(1) as u64;
        return Err(ToolError::new(
            Category::Limit,
            Code::RateLimited,
            format!(
                "too many code executions: at most {} per minute (burst {}) per client",
                cfg.code_rate_limit, cfg.code_rate_burst
            ),
        )
        .suggest(format!("Retry in {ms} ms, or batch more work into one execution (--code-rate-limit raises the limit)."))
        .with_details(json!({ "retryAfterMs": ms })));
    }
    let requested = a.timeout.unwrap_or(DEFAULT_TIMEOUT_MS);
    if requested == 0 {
        return Err(ToolError::invalid("timeout must be at least 1 ms"));
    }
    let timeout_ms = requested.min(cfg.code_max_timeout);
    let readonly = ctx.read_only || a.readonly.unwrap_or(false);

    let tlimits = transpile::TranspileLimits {
        max_source_bytes: cfg.code_max_source_bytes,
        max_depth: cfg.code_max_depth,
    };
    let code = a.code;
    let execution = format!("exec_{}", uuid::Uuid::new_v4().simple());
    let code_hash = crate::audit::hash(&code);
    let code_bytes = code.len();
    // The size cap here, before a worker is spent on it; everything else about the script
    // (parsing, type stripping, its errors) happens in the worker, under the run's limits.
    transpile::check_size(&code, &tlimits).map_err(code_error)?;
    // The audit keeps the source only when it records it; otherwise it goes to the worker.
    let audited_source = (ctx.env.audit.enabled() && !ctx.env.audit.redact).then(|| code.clone());

    let profile = engine.profile(&ctx.env, readonly).clone();
    let manifest = &profile.manifest;

    let state = Arc::new(ExecState::new(
        execution.clone(),
        ctx.env.config.code_max_connections,
    ));
    // If this future is dropped (the client cancelled the call), the guard still rolls back
    // the execution's transactions; on the normal path they are rolled back below, awaited.
    let cleanup = RollbackOnDrop {
        env: ctx.env.clone(),
        state: state.clone(),
    };
    let allowed = engine.allowed[usize::from(readonly)]
        .get_or_init(|| Arc::new(manifest.entries.iter().map(|e| e.tool.clone()).collect()))
        .clone();
    let serve = make_serve(&ctx, &execution, readonly, allowed, state.clone());
    let deadline = Instant::now() + Duration::from_millis(timeout_ms);
    let cancel = tokio_util::sync::CancellationToken::new();
    let _cancel_on_drop = cancel.clone().drop_guard();
    let job = worker::Job {
        source: code,
        transpile: tlimits,
        profile,
        cpu_seconds: cpu_seconds(timeout_ms),
        deadline,
        seccomp_selftest: false,
    };
    let run = match cfg.sandbox_isolation {
        Isolation::Process => {
            let pool = engine.pool(&ctx.env).clone();
            worker::run_in_process(&pool, job, serve, cancel.clone()).await
        }
        Isolation::Thread => worker::run_in_thread(job, serve, cancel.clone()).await,
    };

    // Whatever happened, nothing this execution started may stay open on the server.
    state.session.finish().await;
    txs::rollback_owned(&ctx.env, &state.execution).await;
    drop(cleanup);

    let calls = state.calls.load(Ordering::Relaxed);
    let wall_ms = started.elapsed().as_millis() as u64;
    let clamped =
        (requested > timeout_ms).then(|| json!({ "requestedMs": requested, "usedMs": timeout_ms }));
    let result = match run {
        Ok((outcome, usage)) => finish(
            outcome,
            usage,
            wall_ms,
            calls,
            clamped,
            a.metrics.unwrap_or(false),
            answer_budget(&cfg),
        ),
        Err(failure) => Err(failure_error(failure, timeout_ms, &cfg, wall_ms, calls)),
    };
    if ctx.env.audit.enabled() {
        let mut record = json!({
            "kind": "execution",
            "execution": execution,
            "client": ctx.client,
            "codeHash": code_hash,
            "codeBytes": code_bytes,
            "readOnly": readonly,
            "timeoutMs": timeout_ms,
            "durationMs": wall_ms,
            "toolCalls": calls,
            "outcome": if result.is_ok() { "ok" } else { "error" },
        });
        if let Some(source) = audited_source {
            record["source"] = source.into();
        }
        if let Err(e) = &result {
            record["code"] = e.code.into();
            if let Some(limit) = e.details.as_ref().and_then(|d| d.get("limit")) {
                record["limit"] = limit.clone();
            }
        }
        ctx.env.audit.record(record);
    }
    result
}

struct RollbackOnDrop {
    env: Arc<Env>,
    state: Arc<ExecState>,
}

impl Drop for RollbackOnDrop {
    fn drop(&mut self) {
        let pending = txs::owns_any(&self.env, &self.state.execution);
        if pending && let Ok(handle) = tokio::runtime::Handle::try_current() {
            let (env, state) = (self.env.clone(), self.state.clone());
            handle.spawn(async move { txs::rollback_owned(&env, &state.execution).await });
        }
    }
}

fn make_serve(
    ctx: &Ctx,
    execution: &str,
    readonly: bool,
    allowed: Arc<std::collections::HashSet<String>>,
    state: Arc<ExecState>,
) -> Serve {
    let env = ctx.env.clone();
    let (client, execution) = (ctx.client.clone(), execution.to_string());
    Arc::new(move |tool: String, mut args: Value| {
        let env = env.clone();
        let allowed = allowed.clone();
        let state = state.clone();
        let (client, execution) = (client.clone(), execution.clone());
        Box::pin(async move {
            state.calls.fetch_add(1, Ordering::Relaxed);
            let mut ctx = Ctx::new(env.clone());
            ctx.read_only = readonly;
            ctx.client = client;
            ctx.execution = Some(execution);
            ctx.session = Some(state.session.clone());
            if let Value::Object(map) = &mut args
                && let Some(Value::String(id)) = map.remove(TX_KEY)
            {
                ctx.transaction = Some(id);
            }
            let shape = match &mut args {
                Value::Object(map) => match map.remove(SHAPE_KEY) {
                    Some(Value::String(s)) => Some(s),
                    _ => None,
                },
                _ => None,
            };
            // An execution works only inside transactions it began itself. Ids of other
            // executions' or the MCP client's transactions are as unknown to it as made-up
            // ones, whichever way they are passed.
            let named = ctx
                .transaction
                .as_deref()
                .into_iter()
                .chain(args.get("transactionId").and_then(Value::as_str));
            for id in named {
                if !state.owns(&env, id) {
                    return Err(txs::unknown_transaction(id).to_json());
                }
            }
            if tool == TRANSACTION_CALL {
                let result = transaction_call(ctx, args, &state).await;
                state.release_ended(&env);
                return result.map_err(|e| e.to_json());
            }
            if !allowed.contains(&tool) {
                return Err(ToolError::not_found(
                    Code::UnknownTool,
                    format!("'{tool}' is not available to code on this server"),
                )
                .suggest("pg.help() lists what is available.")
                .to_json());
            }
            // A call inside one of this execution's transactions uses that transaction's
            // connection (and permit); any other call may take a pooled connection. Only a
            // string id (checked as this execution's above) counts: `transactionId: null`
            // runs on a pooled connection like no id at all.
            let in_transaction = ctx.transaction.is_some()
                || args.get("transactionId").and_then(Value::as_str).is_some();
            let permit = if in_transaction {
                None
            } else {
                match state.connection().await {
                    Ok(p) => Some(p),
                    Err(e) => return Err(e.to_json()),
                }
            };
            // Shared with the call's context, which lends it to the read session while a
            // read runs there (`ReadSession::read`).
            let permit = Arc::new(Mutex::new(permit));
            ctx.permit = Some(permit.clone());
            let result = match &shape {
                Some(shape) => shortcut_call(&env, ctx, &tool, args, shape).await,
                None => env.registry.call(ctx, &tool, args).await.map(|o| o.body),
            };
            let permit = permit.lock().unwrap_or_else(|p| p.into_inner()).take();
            // Begun through the raw tool: this execution's (the transactions layer tagged
            // it), rolled back at its end unless the script commits it. Its connection
            // counts against the quota until then.
            if tool == "pg_transaction_begin"
                && let Ok(v) = &result
                && let Some(id) = v.get("transactionId").and_then(Value::as_str)
                && let Some(p) = permit
            {
                state.hold_for(id, p);
            }
            state.release_ended(&env);
            result.map_err(|e| e.to_json())
        })
    })
}

/// A shortcut call: the tool's result in the shortcut's natural shape. A listing called
/// without `offset`/`limit` is followed page by page, so `pg.listTables()` is every table
/// (up to [`SHORTCUT_MAX_PAGES`] pages), not silently the first page.
async fn shortcut_call(
    env: &Arc<Env>,
    ctx: Ctx,
    tool: &str,
    args: Value,
    shape: &str,
) -> ToolResult<Value> {
    let paging = args.get("offset").is_none_or(Value::is_null)
        && args.get("limit").is_none_or(Value::is_null);
    let mut first = env
        .registry
        .call(ctx.clone(), tool, args.clone())
        .await?
        .body;
    if paging && let Some(Value::Array(items)) = first.get_mut(shape) {
        let mut items = std::mem::take(items);
        let mut next = first.get("nextOffset").and_then(Value::as_u64);
        let mut pages = 1;
        while let Some(offset) = next
            && pages < SHORTCUT_MAX_PAGES
        {
            let mut page_args = args.clone();
            if let Value::Object(m) = &mut page_args {
                m.insert("offset".into(), offset.into());
            }
            let page = env.registry.call(ctx.clone(), tool, page_args).await?.body;
            next = page.get("nextOffset").and_then(Value::as_u64);
            match page.get(shape) {
                Some(Value::Array(more)) if !more.is_empty() => items.extend(more.iter().cloned()),
                _ => break,
            }
            pages += 1;
        }
        first[shape] = Value::Array(items);
    }
    Ok(api::apply_shape(shape, first))
}

/// `pg.transaction`: begin, commit or roll back a transaction owned by this execution.
async fn transaction_call(ctx: Ctx, args: Value, state: &ExecState) -> ToolResult<Value> {
    let op = args.get("op").and_then(Value::as_str).unwrap_or("");
    let env = ctx.env.clone();
    let tool = |name: &str| {
        env.registry
            .get(name)
            .ok_or_else(|| ToolError::internal(format!("{name} is missing")))
    };
    match op {
        "begin" => {
            // The transaction's connection counts against the execution's quota until it ends.
            let permit = state.connection().await?;
            // Bypasses the tool filter on purpose: pg.transaction is part of the code API
            // whatever tools are exposed. Read-only executions get READ ONLY transactions.
            let v = tool("pg_transaction_begin")?
                .invoke(ctx.clone(), json!({ "readOnly": ctx.read_only }))
                .await?
                .body;
            if let Some(id) = v.get("transactionId").and_then(Value::as_str) {
                state.hold_for(id, permit);
            }
            Ok(v)
        }
        "commit" | "rollback" => {
            let id = args
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if !state.owns(&env, &id) {
                return Err(ToolError::invalid("not a transaction of this execution"));
            }
            let name = if op == "commit" && !ctx.read_only {
                "pg_transaction_commit"
            } else {
                "pg_transaction_rollback"
            };
            tool(name)?
                .invoke(ctx, json!({ "transactionId": id }))
                .await
                .map(|o| o.body)
        }
        _ => Err(ToolError::invalid("unknown transaction operation")),
    }
}

fn code_error(e: transpile::CodeError) -> ToolError {
    let mut details = Map::new();
    for (k, v) in [
        ("line", e.line.map(Value::from)),
        ("column", e.column.map(Value::from)),
        ("snippet", e.snippet.clone().map(Value::from)),
        ("limit", e.limit.clone().map(Value::from)),
    ] {
        if let Some(v) = v {
            details.insert(k.into(), v);
        }
    }
    let category = match e.code {
        transpile::SYNTAX_ERROR | transpile::MODULE_SYNTAX => Category::Validation,
        transpile::TRANSPILER_FAILED => Category::Internal,
        _ => Category::Limit,
    };
    let message = match (e.line, e.column) {
        (Some(l), Some(c)) => format!("{} (line {l}, column {c})", e.message),
        _ => e.message.clone(),
    };
    let mut err = ToolError::new(category, e.code, message).with_details(Value::Object(details));
    if let Some(limit) = &e.limit {
        err = err.suggest(format!("Simplify the code, or raise the limit: {limit}."));
    }
    err
}

/// Bytes of text one execution's answer may take: its result's share plus its logs' share,
/// 64 KiB by default, the same budget as a direct query's answer.
pub fn answer_budget(cfg: &CodeArgs) -> usize {
    cfg.code_max_result_bytes
        .saturating_add(cfg.code_max_log_bytes)
        .max(1024)
}

/// Holds a successful answer to `budget` bytes of JSON text. The sandbox already caps the
/// result and the log messages separately, but the log entries' own JSON (`level`, quotes,
/// escapes) and the envelope come on top; whatever is over is taken from the last log
/// entries first, then from the result, which becomes a preview.
fn fit_answer(body: &mut Map<String, Value>, budget: usize) {
    let size = |b: &Map<String, Value>| serde_json::to_vec(b).map_or(usize::MAX, |v| v.len());
    let marker = json!({ "level": "warn", "message": "[logs truncated]" });
    let mut over = size(body).saturating_sub(budget);
    if over > 0
        && let Some(Value::Array(logs)) = body.get_mut("logs")
    {
        let mut marked = logs.last() == Some(&marker);
        while over > 0 && !logs.is_empty() {
            let entry = logs.pop().unwrap_or_default();
            over = over.saturating_sub(serde_json::to_vec(&entry).map_or(0, |v| v.len()) + 1);
            if !marked {
                over += serde_json::to_vec(&marker).map_or(0, |v| v.len()) + 1;
                marked = true;
            }
        }
        if marked && logs.last() != Some(&marker) {
            logs.push(marker.clone());
        }
        over = size(body).saturating_sub(budget);
    }
    // A result that is still too large is shrunk until the whole answer fits (the preview's
    // size is approximate, so measure again).
    for _ in 0..4 {
        if over == 0 {
            return;
        }
        let Some(result) = body.get("result") else {
            return;
        };
        let original = serde_json::to_vec(result).map_or(0, |v| v.len());
        let target = original.saturating_sub(over + 64);
        let preview = convert::shrink_to_fit(result, target);
        body.insert("result".into(), preview);
        let truncated = body.entry("resultTruncated").or_insert_with(
            || json!({ "originalBytes": original, "raiseWith": "--code-max-result-bytes" }),
        );
        truncated["maxBytes"] = target.into();
        over = size(body).saturating_sub(budget);
    }
}

fn metrics(wall_ms: u64, usage: Option<&frames::Usage>, calls: u32, body_bytes: usize) -> Value {
    let mut m = json!({
        "wallTimeMs": wall_ms,
        "toolCalls": calls,
        "tokenEstimate": body_bytes.div_ceil(4),
    });
    if let Some(usage) = usage {
        m["cpuTimeMs"] = usage.cpu_ms.into();
        if let Some(kb) = usage.max_rss_kb {
            m["memoryUsedMb"] = ((kb as f64 / 1024.0 * 10.0).round() / 10.0).into();
        }
    }
    m
}

// Each argument is one independent fact about the finished run; a struct for a single
// call site would only rename them.
#[allow(clippy::too_many_arguments)]
fn finish(
    outcome: Outcome,
    usage: Option<frames::Usage>,
    wall_ms: u64,
    calls: u32,
    clamped: Option<Value>,
    inline_metrics: bool,
    budget: usize,
) -> ToolResult<WithMeta<ExecuteCodeResult>> {
    if let Some(e) = outcome.transpile_error {
        let mut e = code_error(e);
        e.meta = Some(metrics(wall_ms, usage.as_ref(), calls, 0));
        return Err(e);
    }
    let logs = (!outcome.logs.is_empty())
        .then(|| serde_json::to_value(&outcome.logs).unwrap_or(Value::Null));
    if let Some(err) = &outcome.error {
        let mut details = Map::new();
        let mut message = match &err.name {
            Some(name) if err.code == sandbox::codes::JS_ERROR => {
                format!("{name}: {}", err.message)
            }
            _ => err.message.clone(),
        };
        if let (Some(line), Some(column)) = (err.line, err.column) {
            message = format!("{message} (line {line}, column {column})");
            details.insert("line".into(), line.into());
            details.insert("column".into(), column.into());
            if let Some(s) = &err.snippet {
                details.insert("snippet".into(), s.clone().into());
            }
        }
        if let Some(name) = &err.name {
            details.insert("name".into(), name.clone().into());
        }
        if let Some(limit) = &err.limit {
            details.insert("limit".into(), limit.clone().into());
        }
        if let Some(d) = &err.details {
            details.insert("thrown".into(), d.clone());
        }
        if let Some(logs) = logs {
            details.insert("logs".into(), logs);
        }
        let category = if err.code == sandbox::codes::JS_ERROR {
            Category::Sandbox
        } else {
            Category::Limit
        };
        let mut e =
            ToolError::new(category, err.code, message).with_details(Value::Object(details));
        if let Some(limit) = &err.limit {
            e = e.suggest(format!(
                "Do less per execution, or raise the limit ({limit})."
            ));
        } else if err.code == sandbox::codes::UNSETTLED {
            e = e.suggest("Await every promise; a promise that never resolves cannot be returned.");
        }
        e.meta = Some(metrics(wall_ms, usage.as_ref(), calls, 0));
        return Err(e);
    }
    let mut body = Map::new();
    body.insert("success".into(), true.into());
    body.insert(
        "result".into(),
        outcome.result.clone().unwrap_or(Value::Null),
    );
    if let Some(t) = &outcome.result_truncated {
        body.insert(
            "resultTruncated".into(),
            json!({ "originalBytes": t.original_bytes, "maxBytes": t.max_bytes, "raiseWith": "--code-max-result-bytes" }),
        );
    }
    if let Some(logs) = logs {
        body.insert("logs".into(), logs);
    }
    if let Some(c) = clamped {
        body.insert("timeoutClamped".into(), c);
    }
    fit_answer(&mut body, budget);
    let size = serde_json::to_vec(&body).map(|b| b.len()).unwrap_or(0);
    let m = metrics(wall_ms, usage.as_ref(), calls, size);
    if inline_metrics {
        body.insert("metrics".into(), m.clone());
    }
    let body = serde_json::from_value(Value::Object(body))
        .map_err(|e| ToolError::internal(format!("the execution's answer is malformed: {e}")))?;
    Ok(WithMeta {
        body,
        meta: Some(json!({ "metrics": m })),
    })
}

fn failure_error(
    f: Failure,
    timeout_ms: u64,
    cfg: &CodeArgs,
    wall_ms: u64,
    calls: u32,
) -> ToolError {
    let (category, message, suggestion) = match &f {
        Failure::Timeout => (
            Category::Limit,
            format!(
                "the execution did not finish within its {timeout_ms} ms timeout and was stopped"
            ),
            format!(
                "Do less per execution, or pass a larger `timeout` (at most {} ms, --code-max-timeout).",
                cfg.code_max_timeout
            ),
        ),
        Failure::MemoryLimit => (
            Category::Limit,
            format!(
                "the execution ran out of its {} MB of memory",
                cfg.code_memory_mb
            ),
            "Keep less data in memory (aggregate in SQL), or raise --code-memory-mb.".into(),
        ),
        Failure::CpuLimit => (
            Category::Limit,
            "the execution used up its CPU time".into(),
            "Do less work per execution.".into(),
        ),
        Failure::StackOverflow => (
            Category::Limit,
            "the execution overflowed its stack (nesting or recursion too deep)".into(),
            "Reduce nesting depth or recursion.".into(),
        ),
        Failure::Crashed(why) => (
            Category::Sandbox,
            format!("the sandbox worker crashed: {why}"),
            "Retry; if it repeats, simplify the code.".into(),
        ),
        Failure::Cancelled => (
            Category::Limit,
            "the execution was cancelled".into(),
            "".into(),
        ),
        Failure::Busy {
            retry_after_ms,
            queue_full,
        } => {
            let mut e = ToolError::new(
                Category::Limit,
                f.code(),
                if *queue_full {
                    "every sandbox worker is busy (--code-max-workers) and the queue of waiting executions is full (--code-max-queued)".to_string()
                } else {
                    format!(
                        "every sandbox worker stayed busy while this execution waited {} ms (--code-queue-timeout)",
                        cfg.code_queue_timeout
                    )
                },
            )
            .suggest(format!("Retry in {retry_after_ms} ms, or batch more work into one execution; an operator can raise --code-max-workers."))
            .with_details(json!({ "retryAfterMs": retry_after_ms, "limit": "--code-max-workers" }));
            e.meta = Some(metrics(wall_ms, None, calls, 0));
            return e;
        }
        Failure::Spawn(why) => (
            Category::Internal,
            format!("could not start a sandbox worker: {why}"),
            "Check the server's logs; --sandbox-isolation thread avoids worker processes.".into(),
        ),
    };
    let mut e = ToolError::new(category, f.code(), message);
    if !suggestion.is_empty() {
        e = e.suggest(suggestion);
    }
    e.meta = Some(metrics(wall_ms, None, calls, 0));
    e
}

/// `pg_execute_code`, running on `engine` (the composition root registers it).
pub fn tools(engine: Arc<Engine>) -> Vec<Tool> {
    let run = engine.clone();
    vec![
        tool_with_meta(
            "pg_execute_code",
            GROUP,
            "Run TypeScript against the database",
            DESCRIPTION,
            DESTRUCTIVE,
            move |ctx, a| execute_code(run.clone(), ctx, a),
        )
        .enforcing_read_only()
        .described_by(move |env| describe(&engine, env)),
    ]
}

/// The static description (docs/TOOLS.md); servers show [`describe`]'s rendering.
const DESCRIPTION: &str = "Run TypeScript that calls the database through an async `pg` API, and get only its final value back.\n\
One call replaces many tool round trips and keeps intermediate rows out of the conversation. The code is an async function body: use await, return a value (or end with an expression). Every tool is pg.<group>.<method>(args), e.g. pg.core.readQuery({sql}); shortcuts such as pg.query(sql, params?) → {rows, rowCount} and pg.listTables() → Table[]. A failing call throws an Error with .code and .suggestion. console.log output is returned in `logs`. Discover the API with pg.help() (index), pg.help('core') (a group's declarations), pg.describe('core.readQuery') and pg.search('query plan'); the same are MCP resources under pgmcp://code-mode/. No imports, no network, no filesystem; time, memory and call limits apply.";

/// The description this server shows: only the shortcuts and groups its configuration
/// reaches (restricted mode has no `pg.execute`), and the discovery entry points. Kept
/// under 2 KB: it is paid on every `tools/list`.
fn describe(engine: &Engine, env: &Env) -> String {
    let restricted = env.config.access_mode == crate::config::AccessMode::Restricted;
    let manifest = engine.manifest(env, restricted);
    let shortcut = |a: &sandbox::Alias| -> String {
        let args = match a.name.as_str() {
            "createIndex" => "{table, columns}".to_string(),
            _ => a.positional.join(", "),
        };
        let returns = match a.name.as_str() {
            "query" => " → {rows, rowCount}",
            "listTables" => " → [{name, schema, type, …}]",
            "getColumns" => " → [{name, type, …}]",
            "getTableStats" => " → {seq_scan, idx_scan, …}",
            _ => "",
        };
        format!("pg.{}({args}){returns}", a.name)
    };
    let shortcuts: Vec<String> = manifest.aliases.iter().map(shortcut).collect();
    let mut groups: Vec<&str> = Vec::new();
    for e in &manifest.entries {
        if !groups.contains(&e.group.as_str()) {
            groups.push(&e.group);
        }
    }
    let example = manifest
        .entries
        .iter()
        .find(|e| e.tool == "pg_read_query")
        .map(|_| ", e.g. pg.core.readQuery({sql})")
        .unwrap_or("");
    let mut out = format!(
        "Run TypeScript that calls the database through an async `pg` API, and get only its final value back.\n\
         One call replaces many tool round trips and keeps intermediate rows out of the conversation. \
         The code is an async function body: use await, return a value (or end with an expression). \
         Every reachable tool is pg.<group>.<method>(args){example}; groups: {}.",
        groups.join(", ")
    );
    if !shortcuts.is_empty() {
        out.push_str(&format!(" Shortcuts: {}.", shortcuts.join(", ")));
    }
    out.push_str(
        " pg.transaction(async tx => …) runs calls in one transaction. \
         A failing call throws an Error with .code and .suggestion. console.log output is returned in `logs`. \
         Discover the API: pg.help() (index of every method), pg.help('group') (its TypeScript declarations), \
         pg.describe('group.method'), pg.search('words'); also MCP resources pgmcp://code-mode/index and pgmcp://code-mode/group/<group>. \
         No imports, no network, no filesystem; time, memory and call limits apply.",
    );
    if restricted {
        out.push_str(" Read-only: every call runs read-only.");
    }
    out
}

#[cfg(test)]
mod answer_budget_tests {
    use super::*;

    /// The sandbox caps the result and the log messages separately; the log entries' own JSON
    /// can still push the answer past the budget. Then the last logs go first, behind a
    /// marker, and only then is the result cut to a preview.
    #[test]
    fn an_answer_over_budget_loses_its_last_logs_then_its_result() {
        let logs: Vec<Value> = (0..100)
            .map(|i| json!({ "level": "log", "message": format!("line {i} {}", "y".repeat(40)) }))
            .collect();
        let rows: Vec<Value> = (0..100)
            .map(|i| json!({ "id": i, "pad": "x".repeat(100) }))
            .collect();
        let mut body = Map::new();
        body.insert("success".into(), true.into());
        body.insert("result".into(), Value::Array(rows.clone()));
        body.insert("logs".into(), Value::Array(logs));
        let budget = 16 * 1024;
        fit_answer(&mut body, budget);
        let size = serde_json::to_vec(&body).unwrap().len();
        assert!(size <= budget, "{size}");
        let kept = body["logs"].as_array().unwrap();
        assert!(kept.len() > 20 && kept.len() < 100, "{}", kept.len());
        assert_eq!(kept.last().unwrap()["message"], "[logs truncated]");
        assert_eq!(
            kept[0]["message"],
            json!(format!("line 0 {}", "y".repeat(40)))
        );
        assert_eq!(body["result"], Value::Array(rows));
        assert!(body.get("resultTruncated").is_none());

        // A result that alone is over the budget becomes a preview, flagged.
        let big: Vec<Value> = (0..400)
            .map(|i| json!({ "id": i, "pad": "x".repeat(100) }))
            .collect();
        let mut body = Map::new();
        body.insert("success".into(), true.into());
        body.insert("result".into(), Value::Array(big));
        fit_answer(&mut body, budget);
        let size = serde_json::to_vec(&body).unwrap().len();
        assert!(size <= budget, "{size}");
        assert!(body["resultTruncated"]["maxBytes"].is_u64(), "{body:?}");
        assert!(!body["result"].as_array().unwrap().is_empty());

        // Within budget: untouched.
        let mut small = Map::new();
        small.insert("success".into(), true.into());
        small.insert("result".into(), json!([1, 2, 3]));
        let before = small.clone();
        fit_answer(&mut small, budget);
        assert_eq!(small, before);
    }
}

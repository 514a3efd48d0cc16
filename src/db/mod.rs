//! Database access: the pool, parameter binding, capped query execution and pinned
//! transactions. Nothing here connects at start-up: the server must answer `initialize`
//! while PostgreSQL is down, and the next call after it comes back must just work.

pub mod catalog_policy;
pub mod function_policy;
pub mod ident;
pub mod params;
pub mod pool;
pub mod read_policy;
pub mod tls;
pub mod transactions;
pub mod values;

use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, pin_mut};
pub use pool::Object;
use pool::{Pool, PoolError};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Map, Value};
use tokio_postgres::GenericClient;

use crate::config::{Config, ConfigError, describe_target};
use crate::error::{Category, Code, ToolError, ToolResult, from_pg_error};
use params::JsonParam;

pub struct Db {
    pool: Pool,
    target: String,
    /// Kept for cancel requests, which open their own connection.
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    pub transactions: transactions::TxRegistry,
    pool_timeout: Duration,
    pool_max: usize,
    /// Bytes of decoded rows all calls may hold at once (`--max-inflight-result-bytes`).
    pub results: ResultBudget,
    /// The read-only policy's catalog half, with what it learnt about this database.
    pub read_policy: catalog_policy::Policy,
    /// The backend pids of the pool's connections (pg_cancel_backend refuses them).
    pub own_backends: pool::OwnBackends,
}

/// A row this large (in PostgreSQL's wire format) grew its connection's read buffer to
/// about its size, and the buffer keeps that capacity for the connection's life: such a
/// connection is closed after the call instead of going back to the pool.
pub const LARGE_ROW_BYTES: usize = 8 * 1024 * 1024;

/// The process-wide budget of decoded result bytes: every row a call keeps holds its JSON
/// size from it until the call's rows are turned into its answer.
#[derive(Clone, Debug)]
pub struct ResultBudget {
    bytes: Arc<tokio::sync::Semaphore>,
    total: usize,
    wait: Duration,
}

impl ResultBudget {
    pub fn new(total: usize, wait: Duration) -> Self {
        // tokio counts permits in u32 per acquisition and caps the total.
        let total = total.clamp(1, u32::MAX as usize);
        ResultBudget {
            bytes: Arc::new(tokio::sync::Semaphore::new(total)),
            total,
            wait,
        }
    }

    /// Bytes free right now (for tests and diagnostics).
    pub fn available(&self) -> usize {
        self.bytes.available_permits()
    }

    /// Takes `n` bytes from the budget, waiting up to the pool timeout for other calls to
    /// give theirs back.
    async fn take(&self, n: usize) -> ToolResult<tokio::sync::OwnedSemaphorePermit> {
        let too_much = || {
            ToolError::new(
                Category::Limit,
                Code::ResultMemoryBudget,
                format!(
                    "the server is holding too many result bytes for concurrent calls: {n} more would pass --max-inflight-result-bytes ({})",
                    self.total
                ),
            )
            .suggest("Retry shortly, or select fewer rows or smaller values; an operator can raise --max-inflight-result-bytes.")
            .with_details(serde_json::json!({ "limit": "--max-inflight-result-bytes", "maxBytes": self.total, "requestedBytes": n }))
        };
        if n > self.total {
            return Err(too_much());
        }
        match tokio::time::timeout(self.wait, self.bytes.clone().acquire_many_owned(n as u32)).await
        {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(too_much()),
        }
    }
}

/// Rows of a query, capped by rows and bytes.
#[derive(Debug, Default)]
pub struct QueryOutput {
    pub rows: Vec<Map<String, Value>>,
    /// Rows affected for INSERT/UPDATE/DELETE/…, or rows returned for SELECT.
    pub affected: u64,
    /// `Some(reason)` when the rows were cut before the end of the result.
    pub truncated: Option<Truncation>,
    pub columns: Vec<String>,
    /// Values cut to fit `max_bytes` (a single row larger than it): column → original bytes.
    pub cut_values: Vec<(String, usize)>,
    /// A row of at least [`LARGE_ROW_BYTES`] arrived: the connection's read buffer grew to
    /// it, so the connection should be closed rather than pooled.
    pub large_row: bool,
    /// This result's share of [`ResultBudget`], given back when the rows are dropped.
    pub budget: Option<tokio::sync::OwnedSemaphorePermit>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Truncation {
    Rows(usize),
    Bytes(usize),
}

#[derive(Debug, Clone)]
pub struct Caps {
    pub max_rows: usize,
    pub max_bytes: usize,
    /// The process-wide budget the kept rows are charged to, if any.
    pub budget: Option<ResultBudget>,
}

/// The query-like result shape of DESIGN.md, typed: `rows`, `rowCount` and, when cut,
/// `truncated` with the limit used and how to page (what `pg_read_query` returns).
#[derive(Debug, Default, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueryResult {
    /// Rows returned (after the row and size limits).
    pub row_count: usize,
    /// The result's column names, given only when no row came back: an empty result still
    /// tells the shape it asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub columns: Option<Vec<String>>,
    /// Values cut to fit the size limit (a single row larger than it): column → its
    /// original size in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<std::collections::BTreeMap<String, u64>>")]
    pub cut_values: Option<Map<String, Value>>,
    /// `true` when the rows were cut before the end of the result (see `hint`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated: Option<bool>,
    /// The row limit that cut the result (`--max-rows`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_rows: Option<usize>,
    /// The size limit that cut the result, in bytes of JSON text (`--max-result-bytes`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<usize>,
    /// When cut: where the cut fell and the concrete next page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// The rows, as objects of column → value.
    pub rows: Vec<Map<String, Value>>,
}

impl QueryOutput {
    /// The query-like result shape of DESIGN.md (see [`QueryResult`]).
    pub fn into_result(self) -> QueryResult {
        let n = self.rows.len();
        let mut out = QueryResult {
            row_count: n,
            ..QueryResult::default()
        };
        if self.rows.is_empty() && !self.columns.is_empty() {
            out.columns = Some(self.columns);
        }
        if !self.cut_values.is_empty() {
            out.cut_values = Some(
                self.cut_values
                    .into_iter()
                    .map(|(c, n)| (c, n.into()))
                    .collect(),
            );
        }
        if let Some(t) = self.truncated {
            out.truncated = Some(true);
            let limit = match t {
                Truncation::Rows(max) => {
                    out.max_rows = Some(max);
                    format!("the row limit (--max-rows {max})")
                }
                Truncation::Bytes(max) => {
                    out.max_bytes = Some(max);
                    format!("the size limit, {max} bytes of JSON text (--max-result-bytes)")
                }
            };
            // The concrete next page, so a model can continue without working it out.
            out.hint = Some(format!(
                "Cut after {n} rows at {limit}. Next page: ORDER BY a key, LIMIT {n} OFFSET {n}; \
                 or narrow the query (fewer columns, WHERE, aggregate in SQL)."
            ));
        }
        out.rows = self.rows;
        out
    }

    /// [`QueryOutput::into_result`] as JSON.
    pub fn into_json(self) -> Value {
        serde_json::to_value(self.into_result()).unwrap_or_default()
    }
}

impl Db {
    pub fn new(config: &Config) -> Result<Self, ConfigError> {
        let tls = tls::make_connector(config.ssl_mode, config.ssl_root_cert.as_deref())?;
        // Every checkout gets a clean session (see `pool`): a `SET ROLE`, `SET search_path`,
        // session advisory lock, LISTEN or temp table left by one call must not leak into
        // the next caller of that connection.
        let manager = pool::Manager::new(config.pg.clone(), tls.clone());
        let own_backends = manager.own.clone();
        let pool = Pool::builder(manager)
            .max_size(config.pool_max)
            // The most recently used connection first: sequential calls keep reusing one
            // connection, whose read statements are then already prepared (`pool::Conn`).
            .queue_mode(deadpool::managed::QueueMode::Lifo)
            // A call waits this long for a connection, then gets POOL_EXHAUSTED.
            .wait_timeout(Some(config.pool_timeout))
            .create_timeout(Some(Duration::from_secs(15)))
            .recycle_timeout(Some(Duration::from_secs(5)))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| ConfigError(format!("cannot create the connection pool: {e}")))?;
        Ok(Db {
            pool,
            tls,
            target: describe_target(&config.pg),
            transactions: transactions::TxRegistry::new(
                config.transaction_idle_timeout,
                config.read_only_transaction_idle_timeout,
            ),
            pool_timeout: config.pool_timeout,
            pool_max: config.pool_max,
            results: ResultBudget::new(config.max_inflight_result_bytes, config.pool_timeout),
            read_policy: catalog_policy::Policy::new(&config.read_only_allow_function),
            own_backends,
        })
    }

    /// Checks out a pooled connection, turning pool and connect failures into errors that
    /// name the cause (wrong password, server down, unknown database…).
    pub async fn client(&self) -> ToolResult<Object> {
        self.pool.get().await.map_err(|e| self.pool_error(e))
    }

    fn pool_error(&self, e: PoolError) -> ToolError {
        let mut err = match e {
            PoolError::Backend(pg) => from_pg_error(&pg),
            PoolError::Timeout(deadpool::managed::TimeoutType::Wait) => {
                return ToolError::new(
                    Category::Limit,
                    Code::PoolExhausted,
                    format!(
                        "every pooled connection stayed busy for {} s (--pool-timeout); {} connections (--pool-max)",
                        self.pool_timeout.as_secs(),
                        self.pool_max
                    ),
                )
                .suggest("Retry shortly; an operator can raise --pool-max or --pool-timeout. Long-running Code Mode executions and open transactions hold connections.")
                .with_details(serde_json::json!({
                    "limit": "--pool-timeout",
                    "poolTimeoutSeconds": self.pool_timeout.as_secs(),
                    "poolMax": self.pool_max,
                }));
            }
            PoolError::Timeout(_) => ToolError::new(
                Category::Connection,
                Code::ConnectionTimeout,
                "timed out waiting for a database connection",
            )
            .suggest("The server may be unreachable, or every pooled connection is busy; raise --pool-max or retry."),
            PoolError::Closed => ToolError::new(
                Category::Connection,
                Code::PoolClosed,
                "the server is shutting down",
            )
            .recoverable(false),
            other => ToolError::new(
                Category::Connection,
                Code::ConnectionFailure,
                format!("could not get a database connection: {other}"),
            ),
        };
        err.error = format!("{} (target {})", err.error, self.target);
        err
    }

    /// Arms a guard that cancels the statement running on `client` at the server if the
    /// guard is dropped before [`CancelGuard::disarm`] — i.e. when the caller's future was
    /// dropped mid-query (timeout, client cancellation, a killed Code Mode worker).
    /// Without it PostgreSQL would keep running an abandoned query to completion.
    pub fn cancel_guard(&self, client: &tokio_postgres::Client) -> CancelGuard {
        CancelGuard {
            token: Some(client.cancel_token()),
            tls: self.tls.clone(),
            pooled: None,
        }
    }

    /// Like [`Db::cancel_guard`] for a pooled connection the guard takes over: if the
    /// guard fires, the connection is detached from the pool, so the late-arriving cancel
    /// request can never hit the next borrower's query.
    pub fn guard_pooled(&self, client: Object) -> CancelGuard {
        CancelGuard {
            token: Some(client.cancel_token()),
            tls: self.tls.clone(),
            pooled: Some(client),
        }
    }

    /// Closes the pool: idle connections are dropped, checkouts fail from now on.
    pub fn close(&self) {
        self.pool.close();
    }

    pub fn target(&self) -> &str {
        &self.target
    }
}

pub struct CancelGuard {
    token: Option<tokio_postgres::CancelToken>,
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    pooled: Option<Object>,
}

impl CancelGuard {
    /// The pooled connection this guard holds.
    pub fn client(&mut self) -> &mut pool::Conn {
        self.pooled
            .as_mut()
            .expect("client() is only called on guards made by guard_pooled")
    }

    /// The statement finished: nothing to cancel; a pooled connection goes back to the pool
    /// with its session reset already on its way (see [`pool::release`]).
    pub fn disarm(mut self) {
        self.token = None;
        if let Some(client) = self.pooled.take() {
            pool::release(client);
        }
    }

    /// Like [`CancelGuard::disarm`] after a read whose transaction ended with
    /// [`pool::end_read_sql`] successfully: the connection goes back with no reset to do.
    pub fn disarm_clean(mut self) {
        self.token = None;
        if let Some(client) = self.pooled.take() {
            pool::release_clean(client);
        }
    }

    /// The statement finished, but the connection received a row of at least
    /// [`LARGE_ROW_BYTES`]: it is closed instead of pooled, which frees its grown read
    /// buffer, and the allocator is asked to give freed memory back to the OS.
    pub fn disarm_discard(mut self) {
        self.token = None;
        if let Some(client) = self.pooled.take() {
            drop(Object::take(client));
        }
        trim_memory();
    }
}

/// Returns freed heap memory to the OS after a large result (glibc keeps freed memory in
/// its arenas; allocations above its mmap threshold go back at once, but the threshold
/// rises with use). At most one trim runs at a time, off the async threads.
pub fn trim_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::sync::atomic::{AtomicBool, Ordering};
        static TRIMMING: AtomicBool = AtomicBool::new(false);
        if TRIMMING.swap(true, Ordering::AcqRel) {
            return;
        }
        let trim = || {
            // SAFETY: malloc_trim only walks and releases the allocator's free memory.
            unsafe { libc::malloc_trim(0) };
            TRIMMING.store(false, Ordering::Release);
        };
        match tokio::runtime::Handle::try_current() {
            Ok(h) => drop(h.spawn_blocking(trim)),
            Err(_) => trim(),
        }
    }
}

impl Drop for CancelGuard {
    fn drop(&mut self) {
        let Some(token) = self.token.take() else {
            return;
        };
        if let Some(client) = self.pooled.take() {
            drop(Object::take(client));
        }
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let tls = self.tls.clone();
            handle.spawn(async move {
                if let Err(e) = token.cancel_query(tls).await {
                    tracing::debug!("cancelling an abandoned query failed: {e}");
                }
            });
        }
    }
}

/// Runs one statement with JSON parameters and collects capped rows.
///
/// The statement is prepared first so that parameters can be bound in text format for
/// whatever type PostgreSQL inferred, exactly as psql would send them, and so that a
/// string holding several statements is rejected by PostgreSQL instead of run.
pub async fn run_query<C: GenericClient + Sync>(
    client: &C,
    sql: &str,
    params: &[Value],
    caps: Caps,
) -> ToolResult<QueryOutput> {
    let stmt = client.prepare(sql).await.map_err(ToolError::from)?;
    run_prepared(client, &stmt, params, caps).await
}

/// Binds JSON parameters to an already prepared statement, runs it and collects capped
/// rows. Nothing is sent to the server before the first `.await`'s first poll, so a caller
/// can pipeline a statement queued after this one (see `tools::exec`).
pub async fn run_prepared<C: GenericClient + Sync>(
    client: &C,
    stmt: &tokio_postgres::Statement,
    params: &[Value],
    caps: Caps,
) -> ToolResult<QueryOutput> {
    let expected = stmt.params().len();
    if params.len() != expected {
        return Err(ToolError::invalid(format!(
            "the statement has {expected} parameter placeholder(s) ($1…) but {} value(s) were given",
            params.len()
        ))
        .suggest("Pass one value in `params` per $n placeholder, in order."));
    }
    let bound: Vec<JsonParam> = params
        .iter()
        .zip(stmt.params())
        .enumerate()
        .map(|(i, (v, ty))| JsonParam::new(v, ty, i + 1))
        .collect::<Result<_, _>>()?;
    let columns: Vec<String> = stmt
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    let stream = client
        .query_raw(stmt, bound.iter())
        .await
        .map_err(ToolError::from)?;
    pin_mut!(stream);
    let mut out = QueryOutput {
        columns,
        ..Default::default()
    };
    let mut bytes = 0usize;
    while let Some(row) = stream.next().await {
        let row = row.map_err(ToolError::from)?;
        // Sizes as received, without decoding: a huge value is never copied into JSON.
        let raw = values::row_wire_bytes(&row);
        out.large_row |= raw >= LARGE_ROW_BYTES;
        if out.truncated.is_some() {
            // Keep draining so the statement completes and the connection stays usable;
            // the rows themselves are not decoded.
            continue;
        }
        if out.rows.len() >= caps.max_rows {
            out.truncated = Some(Truncation::Rows(caps.max_rows));
            continue;
        }
        if raw > caps.max_bytes && !out.rows.is_empty() {
            out.truncated = Some(Truncation::Bytes(caps.max_bytes));
            continue;
        }
        let obj = if raw > caps.max_bytes {
            // The first row alone is over the cap: keep it, with its largest values cut
            // (text to a prefix, anything else to null) so that it fits, and something can
            // be seen without ever materializing the whole value.
            let (obj, cut) = values::row_to_json_cut(&row, caps.max_bytes);
            out.cut_values = cut;
            out.truncated = Some(Truncation::Bytes(caps.max_bytes));
            obj
        } else {
            values::row_to_json(&row)
        };
        let size = estimate_size(&obj);
        // The cap is on the answer's text: the rows' JSON, a separator each, and room for
        // the envelope (`rowCount`, `truncated`, `maxBytes`, `hint`).
        bytes += size + 1;
        if bytes + RESULT_ENVELOPE_BYTES > caps.max_bytes && !out.rows.is_empty() {
            out.truncated = Some(Truncation::Bytes(caps.max_bytes));
            continue;
        }
        if let Some(budget) = &caps.budget {
            let permit = budget.take(size).await?;
            match &mut out.budget {
                Some(held) => held.merge(permit),
                None => out.budget = Some(permit),
            }
        }
        out.rows.push(obj);
    }
    out.affected = stream.rows_affected().unwrap_or(out.rows.len() as u64);
    Ok(out)
}

/// Room left in `max_bytes` for what surrounds the rows in a query-like answer
/// ([`QueryOutput::into_json`] of a cut result is about 300 bytes besides its rows).
pub const RESULT_ENVELOPE_BYTES: usize = 384;

fn estimate_size(row: &Map<String, Value>) -> usize {
    serde_json::to_vec(row).map(|v| v.len()).unwrap_or(0)
}

/// Drops null fields: listings are read by a model, and every `"comment": null` costs.
pub fn compact(mut row: Map<String, Value>) -> Map<String, Value> {
    row.retain(|_, v| !v.is_null());
    row
}

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

use std::time::Duration;

use futures::{StreamExt, pin_mut};
pub use pool::Object;
use pool::{Pool, PoolError};
use serde_json::{Map, Value};
use tokio_postgres::GenericClient;

use crate::config::{Config, ConfigError, describe_target};
use crate::error::{Category, ToolError, ToolResult, from_pg_error};
use params::JsonParam;

pub struct Db {
    pool: Pool,
    target: String,
    /// Kept for cancel requests, which open their own connection.
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    pub transactions: transactions::TxRegistry,
    /// The read-only policy's catalog half, with what it learnt about this database.
    pub read_policy: catalog_policy::Policy,
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Truncation {
    Rows(usize),
    Bytes(usize),
}

#[derive(Debug, Clone, Copy)]
pub struct Caps {
    pub max_rows: usize,
    pub max_bytes: usize,
}

impl QueryOutput {
    /// The query-like result shape of DESIGN.md: `rows`, `rowCount` and, when cut,
    /// `truncated` with the limit used and how to page.
    pub fn into_json(self) -> Value {
        let mut out = Map::new();
        out.insert("rowCount".into(), self.rows.len().into());
        if self.rows.is_empty() && !self.columns.is_empty() {
            // An empty result still tells the model the shape it asked for.
            out.insert("columns".into(), self.columns.into());
        }
        if let Some(t) = self.truncated {
            out.insert("truncated".into(), true.into());
            match t {
                Truncation::Rows(n) => {
                    out.insert("maxRows".into(), n.into());
                }
                Truncation::Bytes(n) => {
                    out.insert("maxBytes".into(), n.into());
                }
            }
            out.insert(
                "hint".into(),
                "Result cut; page with ORDER BY … LIMIT n OFFSET m, select fewer columns, or aggregate in SQL."
                    .into(),
            );
        }
        out.insert(
            "rows".into(),
            Value::Array(self.rows.into_iter().map(Value::Object).collect()),
        );
        Value::Object(out)
    }
}

impl Db {
    pub fn new(config: &Config) -> Result<Self, ConfigError> {
        let tls = tls::make_connector(config.ssl_mode, config.ssl_root_cert.as_deref())?;
        // Every checkout gets a clean session (see `pool`): a `SET ROLE`, `SET search_path`,
        // session advisory lock, LISTEN or temp table left by one call must not leak into
        // the next caller of that connection.
        let manager = pool::Manager::new(config.pg.clone(), tls.clone());
        let pool = Pool::builder(manager)
            .max_size(config.pool_max)
            // The most recently used connection first: sequential calls keep reusing one
            // connection, whose read statements are then already prepared (`pool::Conn`).
            .queue_mode(deadpool::managed::QueueMode::Lifo)
            .wait_timeout(Some(Duration::from_secs(30)))
            .create_timeout(Some(Duration::from_secs(15)))
            .recycle_timeout(Some(Duration::from_secs(5)))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| ConfigError(format!("cannot create the connection pool: {e}")))?;
        Ok(Db {
            pool,
            tls,
            target: describe_target(&config.pg),
            transactions: transactions::TxRegistry::new(config.transaction_idle_timeout),
            read_policy: catalog_policy::Policy::new(&config.read_only_allow_function),
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
            PoolError::Timeout(_) => ToolError::new(
                Category::Connection,
                "CONNECTION_TIMEOUT",
                "timed out waiting for a database connection",
            )
            .suggest("The server may be unreachable, or every pooled connection is busy; raise --pool-max or retry."),
            PoolError::Closed => ToolError::new(
                Category::Connection,
                "POOL_CLOSED",
                "the server is shutting down",
            )
            .recoverable(false),
            other => ToolError::new(
                Category::Connection,
                "CONNECTION_FAILED",
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
        if out.truncated.is_some() {
            // Keep draining so the statement completes and the connection stays usable;
            // the rows themselves are not decoded.
            continue;
        }
        if out.rows.len() >= caps.max_rows {
            out.truncated = Some(Truncation::Rows(caps.max_rows));
            continue;
        }
        let obj = values::row_to_json(&row);
        bytes += estimate_size(&obj);
        if bytes > caps.max_bytes && !out.rows.is_empty() {
            out.truncated = Some(Truncation::Bytes(caps.max_bytes));
            continue;
        }
        out.rows.push(obj);
    }
    out.affected = stream.rows_affected().unwrap_or(out.rows.len() as u64);
    Ok(out)
}

fn estimate_size(row: &Map<String, Value>) -> usize {
    serde_json::to_vec(row).map(|v| v.len()).unwrap_or(0)
}

/// Drops null fields: listings are read by a model, and every `"comment": null` costs.
pub fn compact(mut row: Map<String, Value>) -> Map<String, Value> {
    row.retain(|_, v| !v.is_null());
    row
}

//! Transaction tools: explicit transactions pinned to one connection, savepoints, and
//! atomic batches of statements.
//!
//! Starting, ending and savepointing a transaction changes no data by itself (writes go
//! through write tools, which restricted mode refuses, and a transaction begun in
//! restricted mode is READ ONLY at the server), so those tools are read-only and stay
//! available in restricted mode. Only COMMIT, which makes earlier writes permanent, and
//! pg_transaction_execute, which writes, are not.

use schemars::JsonSchema;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value, json};
use tokio_postgres::SimpleQueryMessage;

use super::{Ctx, DESTRUCTIVE, Env, Hints, READ, Spec, Tool};
use crate::db::ident::quote_ident;
use crate::db::pool::may_load_library;
use crate::db::transactions::{
    Finish, IN_FAILED_TRANSACTION, Outcome, PinnedTx, TxState, finish, probe, sqlstate,
    transaction_control,
};
use crate::db::{Caps, QueryOutput, QueryResult, run_query};
use crate::error::{Category, Code, ToolError, ToolResult};

const GROUP: &str = "transactions";

/// Transaction control: changes no data by itself, but is not idempotent.
const CONTROL: Hints = Hints {
    read_only: true,
    destructive: false,
    idempotent: false,
    open_world: false,
};

#[derive(Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum IsolationLevel {
    #[serde(
        alias = "read committed",
        alias = "READ COMMITTED",
        alias = "READ_COMMITTED"
    )]
    ReadCommitted,
    #[serde(
        alias = "repeatable read",
        alias = "REPEATABLE READ",
        alias = "REPEATABLE_READ"
    )]
    RepeatableRead,
    #[serde(alias = "SERIALIZABLE")]
    Serializable,
}

impl IsolationLevel {
    fn sql(self) -> &'static str {
        match self {
            IsolationLevel::ReadCommitted => "READ COMMITTED",
            IsolationLevel::RepeatableRead => "REPEATABLE READ",
            IsolationLevel::Serializable => "SERIALIZABLE",
        }
    }
}

/// `read committed` (the server's spelling) → `read_committed` (ours).
fn isolation_name(setting: &str) -> String {
    setting.trim().replace(' ', "_")
}

/// `BEGIN ISOLATION LEVEL … READ ONLY DEFERRABLE`, built from the enum only.
fn begin_sql(
    isolation: Option<IsolationLevel>,
    read_only: Option<bool>,
    deferrable: Option<bool>,
) -> String {
    let mut modes: Vec<String> = Vec::new();
    if let Some(level) = isolation {
        modes.push(format!("ISOLATION LEVEL {}", level.sql()));
    }
    match read_only {
        Some(true) => modes.push("READ ONLY".into()),
        Some(false) => modes.push("READ WRITE".into()),
        None => {}
    }
    match deferrable {
        Some(true) => modes.push("DEFERRABLE".into()),
        Some(false) => modes.push("NOT DEFERRABLE".into()),
        None => {}
    }
    if modes.is_empty() {
        "BEGIN".into()
    } else {
        format!("BEGIN {}", modes.join(", "))
    }
}

fn check_deferrable(
    deferrable: Option<bool>,
    isolation: Option<IsolationLevel>,
    read_only: bool,
) -> ToolResult<()> {
    if deferrable == Some(true) && !(isolation == Some(IsolationLevel::Serializable) && read_only) {
        return Err(ToolError::invalid(
            "deferrable only has an effect on a serializable, read-only transaction",
        )
        .suggest("Pass isolationLevel: \"serializable\" and readOnly: true with deferrable: true, or leave deferrable out."));
    }
    Ok(())
}

/// Adds `facts` to an error's details object.
fn add_details(mut e: ToolError, facts: Value) -> ToolError {
    let mut details = match e.details.take() {
        Some(Value::Object(m)) => m,
        Some(other) => {
            let mut m = Map::new();
            m.insert("detail".into(), other);
            m
        }
        None => Map::new(),
    };
    if let Value::Object(f) = facts {
        details.extend(f);
    }
    e.details = Some(Value::Object(details));
    e
}

fn in_transaction_hint(mut e: ToolError, id: &str) -> ToolError {
    if e.sqlstate.is_some() && e.suggestion.is_none() {
        e.suggestion = Some(format!(
            "The transaction {id} is now aborted: call pg_transaction_rollback (or pg_transaction_rollback_to a savepoint) before continuing."
        ));
    }
    e
}

// ---------------------------------------------------------------------------------------
// begin

const BEGIN: Spec = Spec {
    name: "pg_transaction_begin",
    title: "Begin a transaction",
    description: "Start a transaction that spans several calls and return its transactionId.\nPass transactionId to pg_read_query, pg_write_query and other tools to run inside it; end it with pg_transaction_commit or pg_transaction_rollback. Options: isolationLevel (read_committed, repeatable_read, serializable), readOnly, deferrable. Idle transactions are rolled back after the server's idle timeout. In restricted mode it is always READ ONLY.",
    hints: READ,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BeginArgs {
    /// Isolation level (default: the server's, normally read_committed).
    pub isolation_level: Option<IsolationLevel>,
    /// Start a READ ONLY transaction (always on in restricted access mode).
    pub read_only: Option<bool>,
    /// Wait for a snapshot free of serialization conflicts; serializable read-only only.
    pub deferrable: Option<bool>,
}

/// The transaction started.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Begun {
    /// Pass as `transactionId` to run statements in it, and to end it.
    pub transaction_id: String,
    /// The isolation level the server started: `read_committed`, `repeatable_read` or
    /// `serializable`.
    pub isolation_level: String,
    /// Whether the server started it READ ONLY.
    pub read_only: bool,
    /// It is rolled back after this long without a call.
    pub idle_timeout_seconds: u64,
    /// `true` when begun DEFERRABLE; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deferrable: Option<bool>,
    /// Why it is READ ONLY although readOnly was not asked for (restricted access mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

async fn begin(ctx: Ctx, a: BeginArgs) -> ToolResult<Begun> {
    let forced = ctx.read_only && a.read_only != Some(true);
    let read_only = ctx.read_only || a.read_only == Some(true);
    check_deferrable(a.deferrable, a.isolation_level, read_only)?;
    let registry = &ctx.db().transactions;
    // Every open transaction pins a pooled connection; keep one for everything else.
    let limit = ctx.env.config.pool_max.saturating_sub(1).max(1);
    if registry.len() >= limit {
        return Err(ToolError::new(
            Category::Limit,
            Code::TooManyTransactions,
            format!("{} transactions are already open, the most this server allows (each holds one of --pool-max {} connections)", registry.len(), ctx.env.config.pool_max),
        )
        .suggest("Commit or roll back open transactions first; pg_transaction_status lists them."));
    }
    let sql = begin_sql(
        a.isolation_level,
        if read_only { Some(true) } else { a.read_only },
        a.deferrable,
    );
    let mut client = ctx.db().client().await?;
    // The transaction's statements must not see earlier callers' cached read texts.
    client.forget_all();
    // A READ ONLY transaction runs as the read-only role from the start (reads inside it
    // set it again, see `exec::execute`); LOCAL, so it ends with the transaction.
    let set_role = if read_only {
        crate::tools::exec::set_role_sql(&ctx)
            .map(|s| format!("; {s}"))
            .unwrap_or_default()
    } else {
        String::new()
    };
    // The SELECT in the same round trip reports what the server actually started, and
    // takes the transaction's first snapshot: from then on neither its isolation level
    // nor its READ ONLY mode can be changed by a `SET TRANSACTION` sent through it.
    // A READ ONLY transaction's statements give up waiting for a lock after
    // --read-only-lock-timeout: queued behind DDL they would otherwise wait as long as it,
    // holding the locks they already have. The statement policy refuses SET and set_config,
    // so no statement inside can lift it.
    let lock_timeout = match ctx.env.config.read_only_lock_timeout {
        Some(t) if read_only => format!("SET LOCAL lock_timeout = {}; ", t.as_millis()),
        _ => String::new(),
    };
    let reply = client
        .simple_query(&format!(
            "{sql}{set_role}; {lock_timeout}SELECT current_setting('transaction_isolation'), current_setting('transaction_read_only')"
        ))
        .await;
    let msgs = match reply {
        Ok(m) => m,
        Err(e) => {
            // Unknown state: never hand this connection to anyone else.
            drop(crate::db::Object::take(client));
            let mut e = crate::tools::exec::role_error(&ctx, e);
            e.error = format!("could not start a transaction ({sql}): {}", e.error);
            return Err(e);
        }
    };
    let settings = msgs.into_iter().find_map(|m| match m {
        SimpleQueryMessage::Row(r) => Some((
            r.get(0).unwrap_or_default().to_string(),
            r.get(1) == Some("on"),
        )),
        _ => None,
    });
    let Some((isolation, server_read_only)) = settings else {
        drop(crate::db::Object::take(client));
        return Err(ToolError::internal(format!(
            "could not start a transaction with {sql}"
        )));
    };
    if read_only && !server_read_only {
        drop(crate::db::Object::take(client));
        return Err(ToolError::internal(
            "the server did not start a READ ONLY transaction",
        ));
    }
    let isolation = isolation_name(&isolation);
    // A Code Mode execution owns what it begins: only it may use it, and it is rolled back
    // when the execution ends ([`rollback_owned`]).
    let id = registry.insert(
        client,
        server_read_only,
        isolation.clone(),
        ctx.execution.clone(),
    );
    Ok(Begun {
        transaction_id: id,
        isolation_level: isolation,
        read_only: server_read_only,
        idle_timeout_seconds: registry.idle_timeout_for(server_read_only).as_secs(),
        deferrable: (a.deferrable == Some(true)).then_some(true),
        note: forced.then(|| "Restricted access mode: the transaction is READ ONLY.".into()),
    })
}

// ---------------------------------------------------------------------------------------
// commit / rollback

const COMMIT: Spec = Spec {
    name: "pg_transaction_commit",
    title: "Commit a transaction",
    description: "Commit an open transaction and release its connection.\nIf an earlier statement failed, the transaction cannot be committed: it is rolled back and an error says so (committed: false).",
    hints: DESTRUCTIVE,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TxArgs {
    /// The id returned by pg_transaction_begin.
    pub transaction_id: String,
}

/// The transaction committed (a commit that fails is an error, with `committed: false` in
/// its details).
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Committed {
    pub transaction_id: String,
    /// Always `true` here.
    pub committed: bool,
}

async fn commit(ctx: Ctx, a: TxArgs) -> ToolResult<Committed> {
    let id = a.transaction_id;
    let slot = ctx.db().transactions.take(&id)?;
    let not_committed = json!({ "transactionId": id, "committed": false });
    match finish(slot, Finish::Commit).await {
        Ok(Outcome::Committed) => Ok(Committed {
            transaction_id: id,
            committed: true,
        }),
        Ok(Outcome::AbortedRolledBack) => Err(add_details(
            ToolError::new(
                Category::Database,
                Code::TransactionAborted,
                format!("transaction {id} was NOT committed: an earlier statement in it failed, so PostgreSQL rolled it back and none of its changes were saved"),
            )
            .suggest("Start a new transaction and redo the work. To survive an expected error inside a transaction, take a savepoint first and pg_transaction_rollback_to it after the error."),
            json!({ "transactionId": id, "committed": false, "rolledBack": true }),
        )),
        Ok(Outcome::AlreadyEnded) => Err(add_details(
            ToolError::new(
                Category::Database,
                Code::TransactionNotActive,
                format!("transaction {id} was no longer open: a COMMIT or ROLLBACK statement run through it had already ended it, and later statements ran outside any transaction"),
            )
            .suggest("Check the data; end transactions with pg_transaction_commit / pg_transaction_rollback, not with SQL."),
            not_committed,
        )),
        Ok(Outcome::RolledBack) => Err(ToolError::internal("COMMIT rolled back").with_details(not_committed)),
        Err(mut e) => {
            if e.sqlstate.is_some() {
                e.error = format!("COMMIT of {id} failed and the transaction was rolled back: {}", e.error);
                Err(add_details(e, json!({ "transactionId": id, "committed": false, "rolledBack": true })))
            } else {
                e.error = format!("COMMIT of {id} did not complete (the outcome is unknown; the connection was closed): {}", e.error);
                Err(add_details(e, json!({ "transactionId": id })))
            }
        }
    }
}

const ROLLBACK: Spec = Spec {
    name: "pg_transaction_rollback",
    title: "Roll back a transaction",
    description: "Roll back an open transaction, discarding its changes, and release its connection.",
    hints: CONTROL,
    shortcuts: &[],
};

/// The transaction ended and its connection released.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolledBack {
    pub transaction_id: String,
    /// `false` when a COMMIT or ROLLBACK statement run through it had already ended it
    /// (see `warning`).
    pub rolled_back: bool,
    /// Present when `rolledBack` is false: what may have happened to its work.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

async fn rollback(ctx: Ctx, a: TxArgs) -> ToolResult<RolledBack> {
    let id = a.transaction_id;
    let slot = ctx.db().transactions.take(&id)?;
    match finish(slot, Finish::Rollback).await? {
        Outcome::AlreadyEnded => Ok(RolledBack {
            transaction_id: id,
            rolled_back: false,
            warning: Some("The transaction had already been ended by a COMMIT or ROLLBACK statement run through it; what ran before that may have been committed, and later statements ran outside any transaction.".into()),
        }),
        _ => Ok(RolledBack {
            transaction_id: id,
            rolled_back: true,
            warning: None,
        }),
    }
}

// ---------------------------------------------------------------------------------------
// savepoints

const SAVEPOINT: Spec = Spec {
    name: "pg_transaction_savepoint",
    title: "Create a savepoint",
    description: "Create a savepoint in an open transaction; pg_transaction_rollback_to can later undo what followed it, even after an error.",
    hints: CONTROL,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SavepointArgs {
    /// The id returned by pg_transaction_begin.
    pub transaction_id: String,
    /// Savepoint name (any text up to 63 bytes; used exactly as given).
    pub name: String,
}

fn check_savepoint_name(name: &str) -> ToolResult<()> {
    if name.is_empty() {
        return Err(ToolError::invalid("savepoint name is empty"));
    }
    if name.contains('\0') {
        return Err(ToolError::invalid("savepoint name contains a NUL byte"));
    }
    if name.len() > 63 {
        return Err(ToolError::invalid(format!(
            "savepoint name '{name}' is longer than PostgreSQL's 63-byte identifier limit"
        )));
    }
    Ok(())
}

/// The savepoint made.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SavepointMade {
    pub transaction_id: String,
    /// Its name.
    pub savepoint: String,
    /// The transaction's savepoints now, oldest first.
    pub savepoints: Vec<String>,
}

async fn savepoint(ctx: Ctx, a: SavepointArgs) -> ToolResult<SavepointMade> {
    check_savepoint_name(&a.name)?;
    let slot = ctx.db().transactions.get(&a.transaction_id)?;
    let mut tx = slot.lock().await;
    tx.touch();
    let result = tx
        .client
        .batch_execute(&format!("SAVEPOINT {}", quote_ident(&a.name)))
        .await;
    tx.touch();
    result.map_err(|e| in_transaction_hint(ToolError::from(e), &a.transaction_id))?;
    tx.savepoints.push(a.name.clone());
    Ok(SavepointMade {
        transaction_id: a.transaction_id,
        savepoint: a.name,
        savepoints: tx.savepoints.clone(),
    })
}

/// Runs `RELEASE`/`ROLLBACK TO` for savepoint `name`. Naming a savepoint that does not
/// exist is an error, and an error aborts the whole transaction; so, unless it is
/// aborted already, the command runs behind a guard savepoint that absorbs the error.
/// On success the guard is gone with the savepoints after `name`.
async fn savepoint_command(
    client: &tokio_postgres::Client,
    command: &str,
) -> Result<(), tokio_postgres::Error> {
    match client
        .batch_execute(&format!("SAVEPOINT pgmcp_guard; {command}"))
        .await
    {
        Ok(()) => Ok(()),
        Err(e) if sqlstate(&e) == Some(IN_FAILED_TRANSACTION) => {
            // Either the transaction was aborted before (then the guard was never made
            // and there is nothing to protect) or the command failed on an aborted
            // guard; tell them apart by rolling back to the guard.
            match client
                .batch_execute("ROLLBACK TO SAVEPOINT pgmcp_guard; RELEASE SAVEPOINT pgmcp_guard")
                .await
            {
                Ok(()) => Err(e),
                Err(_) => client.batch_execute(command).await,
            }
        }
        Err(e) => {
            // The guard was made and the command failed inside it.
            client
                .batch_execute("ROLLBACK TO SAVEPOINT pgmcp_guard; RELEASE SAVEPOINT pgmcp_guard")
                .await?;
            Err(e)
        }
    }
}

fn savepoint_error(e: tokio_postgres::Error, name: &str, known: &[String], id: &str) -> ToolError {
    if sqlstate(&e) == Some("3B001") {
        return ToolError::not_found(
            Code::SavepointNotFound,
            format!("transaction {id} has no savepoint '{name}'"),
        )
        .suggest(if known.is_empty() {
            "It has no savepoints; make one with pg_transaction_savepoint. The transaction is unchanged.".to_string()
        } else {
            format!("Its savepoints are: {}. The transaction is unchanged.", known.join(", "))
        });
    }
    in_transaction_hint(ToolError::from(e), id)
}

const RELEASE: Spec = Spec {
    name: "pg_transaction_release",
    title: "Release a savepoint",
    description: "Release (forget) a savepoint and every savepoint made after it, keeping their changes.",
    hints: CONTROL,
    shortcuts: &[],
};

/// The savepoint released.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Released {
    pub transaction_id: String,
    /// The savepoint released (with every savepoint made after it).
    pub released: String,
    /// The savepoints left, oldest first.
    pub savepoints: Vec<String>,
}

async fn release(ctx: Ctx, a: SavepointArgs) -> ToolResult<Released> {
    // Releasing a savepoint also releases every savepoint made after it.
    let (transaction_id, released, savepoints) =
        savepoint_step(ctx, a, "RELEASE SAVEPOINT", false).await?;
    Ok(Released {
        transaction_id,
        released,
        savepoints,
    })
}

const ROLLBACK_TO: Spec = Spec {
    name: "pg_transaction_rollback_to",
    title: "Roll back to a savepoint",
    description: "Undo everything done after a savepoint, including an error that aborted the transaction; the savepoint remains and the transaction stays open.",
    hints: CONTROL,
    shortcuts: &[],
};

/// The transaction rolled back to the savepoint.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolledBackTo {
    pub transaction_id: String,
    /// The savepoint rolled back to; it remains.
    pub rolled_back_to: String,
    /// The savepoints left (those made after it are gone), oldest first.
    pub savepoints: Vec<String>,
}

async fn rollback_to(ctx: Ctx, a: SavepointArgs) -> ToolResult<RolledBackTo> {
    // The savepoint itself stays; the ones made after it are gone.
    let (transaction_id, rolled_back_to, savepoints) =
        savepoint_step(ctx, a, "ROLLBACK TO SAVEPOINT", true).await?;
    Ok(RolledBackTo {
        transaction_id,
        rolled_back_to,
        savepoints,
    })
}

/// Runs `command <savepoint>` and trims the known savepoints after it (keeping the named
/// one when `keep_named`); the transaction id, the savepoint and the savepoints left.
async fn savepoint_step(
    ctx: Ctx,
    a: SavepointArgs,
    command: &str,
    keep_named: bool,
) -> ToolResult<(String, String, Vec<String>)> {
    check_savepoint_name(&a.name)?;
    let slot = ctx.db().transactions.get(&a.transaction_id)?;
    let mut tx = slot.lock().await;
    tx.touch();
    let result =
        savepoint_command(&tx.client, &format!("{command} {}", quote_ident(&a.name))).await;
    tx.touch();
    if let Err(e) = result {
        return Err(savepoint_error(
            e,
            &a.name,
            &tx.savepoints,
            &a.transaction_id,
        ));
    }
    if let Some(i) = tx.savepoints.iter().rposition(|s| *s == a.name) {
        tx.savepoints.truncate(i + usize::from(keep_named));
    }
    let savepoints = tx.savepoints.clone();
    Ok((a.transaction_id, a.name, savepoints))
}

// ---------------------------------------------------------------------------------------
// status

const STATUS: Spec = Spec {
    name: "pg_transaction_status",
    title: "Show open transactions",
    description: "Show one transaction (state: active, aborted or busy; isolation, read-only, savepoints, age, idle time) or, without transactionId, list every open transaction.",
    hints: READ,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StatusArgs {
    /// One transaction; without it, every open transaction is listed.
    pub transaction_id: Option<String>,
}

/// A transaction's bookkeeping, known without asking the server.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TxInfo {
    /// Whether it is READ ONLY.
    pub read_only: bool,
    /// `read_committed`, `repeatable_read` or `serializable`.
    pub isolation_level: String,
    /// Savepoints made through pgmcp, oldest first.
    pub savepoints: Vec<String>,
    /// Milliseconds since it began.
    pub age_ms: u64,
    /// Milliseconds since its last call.
    pub idle_ms: u64,
}

impl TxInfo {
    fn of(tx: &PinnedTx) -> Self {
        TxInfo {
            read_only: tx.read_only,
            isolation_level: tx.isolation.clone(),
            savepoints: tx.savepoints.clone(),
            age_ms: tx.age().as_millis() as u64,
            idle_ms: tx.idle().as_millis() as u64,
        }
    }
}

/// The state of one transaction.
#[derive(Serialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum TxStateName {
    /// Open and usable.
    Active,
    /// An earlier statement failed: only a rollback (or rollback to a savepoint) works.
    Aborted,
    /// A COMMIT or ROLLBACK statement run through it ended it; release it with a rollback.
    Ended,
    /// A statement is running in it (nothing else is reported then).
    Busy,
}

impl From<TxState> for TxStateName {
    fn from(s: TxState) -> Self {
        match s {
            TxState::Active => TxStateName::Active,
            TxState::Aborted => TxStateName::Aborted,
            TxState::Ended => TxStateName::Ended,
        }
    }
}

/// One transaction in detail (with `transactionId`).
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TxStatus {
    pub transaction_id: String,
    /// Absent while busy.
    #[serde(flatten)]
    pub info: Option<TxInfo>,
    pub state: TxStateName,
    /// Milliseconds until it is rolled back for being idle (absent while busy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rolls_back_in_ms: Option<u64>,
    /// What to do next, when it is aborted or ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// An open transaction, in the list.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TxSummary {
    pub transaction_id: String,
    /// Absent while busy.
    #[serde(flatten)]
    pub info: Option<TxInfo>,
    /// A statement is running in it.
    pub busy: bool,
}

/// Every open transaction the caller may see (without `transactionId`).
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TxList {
    pub count: usize,
    pub transactions: Vec<TxSummary>,
    /// Transactions idle this long are rolled back.
    pub idle_timeout_seconds: u64,
}

/// One transaction (with `transactionId`), or the list of open ones.
#[derive(Serialize, JsonSchema)]
#[serde(untagged)]
pub enum StatusResult {
    One(TxStatus),
    All(TxList),
}

async fn status(ctx: Ctx, a: StatusArgs) -> ToolResult<StatusResult> {
    let registry = &ctx.db().transactions;
    let timeout = registry.idle_timeout();
    let Some(id) = a.transaction_id else {
        // A Code Mode execution sees only its own transactions.
        let ids = match &ctx.execution {
            Some(owner) => registry.ids_owned_by(owner),
            None => registry.ids(),
        };
        // Without waiting on a statement running in one: a busy one is reported as such.
        let transactions: Vec<TxSummary> = ids
            .into_iter()
            .filter_map(|id| {
                let slot = registry.get(&id).ok()?;
                let info = slot.try_lock().ok().map(|tx| TxInfo::of(&tx));
                Some(TxSummary {
                    transaction_id: id,
                    busy: info.is_none(),
                    info,
                })
            })
            .collect();
        return Ok(StatusResult::All(TxList {
            count: transactions.len(),
            transactions,
            idle_timeout_seconds: timeout.as_secs(),
        }));
    };
    let slot = registry.get(&id)?;
    // Never wait behind a running statement: a busy transaction is reported as such.
    let Ok(tx) = slot.try_lock() else {
        return Ok(StatusResult::One(TxStatus {
            transaction_id: id,
            info: None,
            state: TxStateName::Busy,
            rolls_back_in_ms: None,
            hint: None,
        }));
    };
    let state = probe(&tx.client).await?;
    let hint = match state {
        TxState::Aborted => Some(
            "An earlier statement failed: only pg_transaction_rollback or pg_transaction_rollback_to a savepoint work now; a commit would roll back.",
        ),
        TxState::Ended => Some(
            "A COMMIT or ROLLBACK statement ended this transaction; statements now run in autocommit. Call pg_transaction_rollback to release it.",
        ),
        TxState::Active => None,
    };
    Ok(StatusResult::One(TxStatus {
        info: Some(TxInfo::of(&tx)),
        state: state.into(),
        rolls_back_in_ms: Some(timeout.saturating_sub(tx.idle()).as_millis() as u64),
        hint: hint.map(str::to_string),
        transaction_id: id,
    }))
}

// ---------------------------------------------------------------------------------------
// execute

/// One statement of a batch: a SQL string, or `{sql, params}`.
#[derive(JsonSchema)]
#[schemars(untagged)]
pub enum Statement {
    /// A statement without parameters.
    Sql(String),
    /// A statement with $n parameters.
    WithParams(StatementWithParams),
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StatementWithParams {
    /// One SQL statement, with $1, $2… placeholders.
    #[serde(alias = "query")]
    pub sql: String,
    /// Values for the placeholders, in order.
    #[serde(default)]
    pub params: Vec<Value>,
}

impl<'de> Deserialize<'de> for Statement {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => Ok(Statement::Sql(s)),
            v @ Value::Object(_) => serde_json::from_value(v)
                .map(Statement::WithParams)
                .map_err(|e| D::Error::custom(format!("in a statement: {e}"))),
            other => Err(D::Error::custom(format!(
                "each statement must be a SQL string or an object {{\"sql\": …, \"params\": […]}}, got {}",
                super::json_kind(&other)
            ))),
        }
    }
}

impl Statement {
    fn parts(&self) -> (&str, &[Value]) {
        match self {
            Statement::Sql(s) => (s, &[]),
            Statement::WithParams(p) => (&p.sql, &p.params),
        }
    }
}

const EXECUTE: Spec = Spec {
    name: "pg_transaction_execute",
    title: "Run statements atomically",
    description: "Run several statements atomically: all take effect or none.\nWithout transactionId they run in a new transaction that is committed at the end and rolled back on the first failure (the error names the failing statement's 0-based index and SQL). With transactionId they run inside that open transaction (not committed; a failure undoes just this batch). Statements are SQL strings or {sql, params} objects; each result has rowsAffected, and rows when the statement returns rows.",
    hints: DESTRUCTIVE,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExecuteArgs {
    /// The statements, run in order: SQL strings or {sql, params} objects.
    pub statements: Vec<Statement>,
    /// Run inside this open transaction instead of a new one (it is not committed).
    pub transaction_id: Option<String>,
    /// Isolation level of the new transaction (not with transactionId).
    pub isolation_level: Option<IsolationLevel>,
    /// Run the new transaction READ ONLY (not with transactionId).
    pub read_only: Option<bool>,
}

/// One statement's result: rows affected, and the rows when the statement returns any.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatementResult {
    /// Rows inserted, updated, deleted… or returned.
    pub rows_affected: u64,
    /// When the statement returns rows (a SELECT, or … RETURNING).
    #[serde(flatten)]
    pub rows: Option<QueryResult>,
}

fn statement_result(out: QueryOutput) -> StatementResult {
    StatementResult {
        rows_affected: out.affected,
        rows: (!out.columns.is_empty()).then(|| out.into_result()),
    }
}

/// What a batch did.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Executed {
    /// The open transaction the batch ran in (with `transactionId`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    /// `true` when the batch ran in its own transaction, now committed; `false` inside an
    /// open transaction, which the batch does not commit.
    pub committed: bool,
    pub statement_count: usize,
    /// One per statement, in order.
    pub results: Vec<StatementResult>,
}

/// Runs the statements on `client`, sharing one byte budget; on failure returns the
/// index of the statement and its error.
async fn run_batch<C: tokio_postgres::GenericClient + Sync>(
    client: &C,
    statements: &[Statement],
    caps: Caps,
) -> Result<Vec<StatementResult>, (usize, ToolError)> {
    let mut results = Vec::with_capacity(statements.len());
    let mut used = 0usize;
    for (i, st) in statements.iter().enumerate() {
        let (sql, params) = st.parts();
        let caps = Caps {
            max_rows: caps.max_rows,
            max_bytes: caps.max_bytes.saturating_sub(used).max(1),
            budget: caps.budget.clone(),
        };
        let out = run_query(client, sql, params, caps)
            .await
            .map_err(|e| (i, e))?;
        used += out
            .rows
            .iter()
            .map(|r| serde_json::to_vec(r).map(|v| v.len()).unwrap_or(0))
            .sum::<usize>();
        results.push(statement_result(out));
    }
    Ok(results)
}

fn statement_failed(mut e: ToolError, i: usize, sql: &str, undone: &str) -> ToolError {
    e.error = format!("statement {i} failed: {}; {undone}", e.error);
    add_details(e, json!({ "failedStatement": i, "sql": sql }))
}

async fn execute(ctx: Ctx, a: ExecuteArgs) -> ToolResult<Executed> {
    if a.statements.is_empty() {
        return Err(ToolError::invalid(
            "statements is empty; give at least one SQL statement",
        ));
    }
    for (i, st) in a.statements.iter().enumerate() {
        let (sql, _) = st.parts();
        if sql.trim().is_empty() {
            return Err(ToolError::invalid(format!("statement {i} is empty")));
        }
        if let Some(k) = transaction_control(sql) {
            return Err(ToolError::invalid(format!(
                "statement {i} is transaction control ({k}); pg_transaction_execute manages the transaction itself"
            ))
            .suggest("Leave out BEGIN/COMMIT/ROLLBACK/SAVEPOINT; use pg_transaction_begin, pg_transaction_savepoint and pg_transaction_commit for finer control."));
        }
    }
    let caps = ctx.caps();
    if let Some(id) = a.transaction_id.as_deref() {
        if a.isolation_level.is_some() || a.read_only.is_some() {
            return Err(ToolError::invalid(
                "isolationLevel and readOnly apply to a new transaction; they cannot be combined with transactionId",
            )
            .suggest("The open transaction keeps the options it was begun with."));
        }
        return execute_in(&ctx, id, &a.statements, caps).await;
    }
    let read_only = ctx.read_only || a.read_only == Some(true);
    let mut client = ctx.db().client().await?;
    // The batch must not see earlier callers' cached read texts.
    client.forget_all();
    if a.statements.iter().any(|s| may_load_library(s.parts().0)) {
        client.discard();
    }
    let mut builder = client.build_transaction().read_only(read_only);
    if let Some(level) = a.isolation_level {
        builder = builder.isolation_level(match level {
            IsolationLevel::ReadCommitted => tokio_postgres::IsolationLevel::ReadCommitted,
            IsolationLevel::RepeatableRead => tokio_postgres::IsolationLevel::RepeatableRead,
            IsolationLevel::Serializable => tokio_postgres::IsolationLevel::Serializable,
        });
    }
    let tx = builder.start().await.map_err(ToolError::from)?;
    let results = match run_batch(&*tx, &a.statements, caps).await {
        Ok(r) => r,
        Err((i, e)) => {
            let undone = match tx.rollback().await {
                Ok(()) => "the transaction was rolled back and none of the statements took effect",
                Err(_) => {
                    "the connection failed while rolling back; none of the statements were committed"
                }
            };
            return Err(add_details(
                statement_failed(e, i, a.statements[i].parts().0, undone),
                json!({ "committed": false }),
            ));
        }
    };
    if let Err(e) = tx.commit().await {
        let mut e = ToolError::from(e);
        e.error = format!(
            "COMMIT failed, none of the statements took effect: {}",
            e.error
        );
        return Err(add_details(e, json!({ "committed": false })));
    }
    // A committed SET (or a dblink connection, a seed…) would outlive the call on this
    // pooled connection: reset it as every write call's connection is.
    crate::db::pool::release(client);
    Ok(Executed {
        transaction_id: None,
        committed: true,
        statement_count: results.len(),
        results,
    })
}

/// Runs the batch inside an open transaction, behind a savepoint so that a failure undoes
/// the whole batch and leaves the transaction usable.
async fn execute_in(
    ctx: &Ctx,
    id: &str,
    statements: &[Statement],
    caps: Caps,
) -> ToolResult<Executed> {
    let slot = ctx.db().transactions.get(id)?;
    let mut tx = slot.lock().await;
    tx.touch();
    if ctx.read_only && !tx.read_only {
        return Err(ToolError::permission(
            "this call is read-only and cannot run statements in a read-write transaction",
        ));
    }
    if statements.iter().any(|s| may_load_library(s.parts().0)) {
        // Closed instead of reused when the transaction ends (`pool::may_load_library`).
        tx.client.discard();
    }
    tx.client
        .batch_execute("SAVEPOINT pgmcp_execute")
        .await
        .map_err(|e| in_transaction_hint(ToolError::from(e), id))?;
    let outcome = run_batch(&***tx.client, statements, caps).await;
    let result = match outcome {
        Ok(results) => match tx
            .client
            .batch_execute("RELEASE SAVEPOINT pgmcp_execute")
            .await
        {
            Ok(()) => Ok(Executed {
                transaction_id: Some(id.to_string()),
                committed: false,
                statement_count: results.len(),
                results,
            }),
            Err(e) => Err(in_transaction_hint(ToolError::from(e), id)),
        },
        Err((i, e)) => {
            let undone = match tx
                .client
                .batch_execute(
                    "ROLLBACK TO SAVEPOINT pgmcp_execute; RELEASE SAVEPOINT pgmcp_execute",
                )
                .await
            {
                Ok(()) => {
                    format!("the batch was undone and transaction {id} is still open and usable")
                }
                Err(_) => format!("the batch could not be undone; roll back transaction {id}"),
            };
            Err(statement_failed(e, i, statements[i].parts().0, &undone))
        }
    };
    tx.touch();
    result
}

// ---------------------------------------------------------------------------------------
// Ownership, for the layers that run calls on a caller's behalf (Code Mode)

/// Whether transaction `id` is open and was begun by `owner` (a Code Mode execution).
pub fn is_owned(env: &Env, id: &str, owner: &str) -> bool {
    env.db.transactions.owned_by(id, Some(owner))
}

/// Whether `owner` still has transactions open.
pub fn owns_any(env: &Env, owner: &str) -> bool {
    !env.db.transactions.ids_owned_by(owner).is_empty()
}

/// Rolls back every transaction `owner` began; returns how many.
pub async fn rollback_owned(env: &Env, owner: &str) -> usize {
    env.db.transactions.rollback_owned(owner).await
}

/// The error for a transaction id the caller may not use: as unknown as a made-up one.
pub fn unknown_transaction(id: &str) -> ToolError {
    crate::db::transactions::unknown(id)
}

pub fn tools() -> Vec<Tool> {
    vec![
        BEGIN.tool(GROUP, begin),
        COMMIT.tool(GROUP, commit),
        ROLLBACK.tool(GROUP, rollback),
        SAVEPOINT.tool(GROUP, savepoint),
        RELEASE.tool(GROUP, release),
        ROLLBACK_TO.tool(GROUP, rollback_to),
        STATUS.tool(GROUP, status),
        EXECUTE.tool(GROUP, execute),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn output(rows: Vec<Value>, columns: &[&str]) -> QueryOutput {
        QueryOutput {
            affected: rows.len() as u64,
            rows: rows
                .into_iter()
                .map(|r| match r {
                    Value::Object(m) => m,
                    _ => unreachable!(),
                })
                .collect(),
            columns: columns.iter().map(|c| c.to_string()).collect(),
            ..Default::default()
        }
    }

    /// The typed result is `QueryOutput::into_json` to the byte, key order included.

    #[test]
    fn a_statement_without_columns_has_only_rows_affected() {
        let r = statement_result(QueryOutput {
            affected: 3,
            ..Default::default()
        });
        assert_eq!(serde_json::to_value(r).unwrap(), json!({"rowsAffected": 3}));
        let r = statement_result(output(vec![json!({"id": 1})], &["id"]));
        assert_eq!(
            serde_json::to_value(r).unwrap(),
            json!({"rowsAffected": 1, "rowCount": 1, "rows": [{"id": 1}]})
        );
    }
}

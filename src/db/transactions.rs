//! Explicit transactions that outlive one tool call: each is pinned to one pooled
//! connection until commit, rollback, idle timeout or shutdown.
//!
//! A pinned connection goes back to the pool only once it is provably outside any
//! transaction block and its session state has been reset (`DISCARD ALL`); if either step
//! fails, the connection is detached from the pool and closed, so no half-finished
//! transaction and no `SET` made inside one is ever seen by a later call.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Object;
use tokio::sync::Mutex;

use crate::error::{Code, ToolError, ToolResult};

/// SQLSTATE 25P02: the transaction is aborted, commands ignored until ROLLBACK.
pub const IN_FAILED_TRANSACTION: &str = "25P02";
/// SQLSTATE 25P01: no transaction block is open (SAVEPOINT outside BEGIN … COMMIT).
pub const NO_ACTIVE_TRANSACTION: &str = "25P01";

pub struct PinnedTx {
    pub client: Object,
    pub read_only: bool,
    /// `read_committed`, `repeatable_read`, `serializable` (as reported by the server).
    pub isolation: String,
    /// Savepoints made through pgmcp, oldest first (a name may repeat: the newest wins).
    pub savepoints: Vec<String>,
    started: Instant,
    last_used: Instant,
    /// A row of at least `LARGE_ROW_BYTES` came through this connection: close it at the end
    /// rather than pool it (see `db::LARGE_ROW_BYTES`).
    pub large_row: bool,
}

impl PinnedTx {
    pub fn touch(&mut self) {
        self.last_used = Instant::now();
    }

    pub fn age(&self) -> Duration {
        self.started.elapsed()
    }

    pub fn idle(&self) -> Duration {
        self.last_used.elapsed()
    }
}

pub type Slot = Arc<Mutex<PinnedTx>>;

/// What the server says about a pinned connection's transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxState {
    /// Open and usable.
    Active,
    /// An earlier statement failed; only ROLLBACK (or ROLLBACK TO a savepoint) works.
    Aborted,
    /// No transaction block is open any more: a COMMIT/ROLLBACK statement sent through
    /// the transaction ended it, and later statements ran in autocommit.
    Ended,
}

impl TxState {
    pub fn as_str(self) -> &'static str {
        match self {
            TxState::Active => "active",
            TxState::Aborted => "aborted",
            TxState::Ended => "ended",
        }
    }
}

/// Asks the server for the transaction state in one round trip, without changing it: a
/// savepoint can only be made inside a transaction block that has not failed.
pub async fn probe(client: &tokio_postgres::Client) -> ToolResult<TxState> {
    match client
        .batch_execute("SAVEPOINT pgmcp_probe; RELEASE SAVEPOINT pgmcp_probe")
        .await
    {
        Ok(()) => Ok(TxState::Active),
        Err(e) => match sqlstate(&e) {
            Some(IN_FAILED_TRANSACTION) => Ok(TxState::Aborted),
            Some(NO_ACTIVE_TRANSACTION) => Ok(TxState::Ended),
            _ => Err(ToolError::from(e)),
        },
    }
}

pub fn sqlstate(e: &tokio_postgres::Error) -> Option<&str> {
    e.as_db_error().map(|d| d.code().code())
}

/// How to end a pinned transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    Commit,
    Rollback,
}

/// How a pinned transaction actually ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Committed,
    RolledBack,
    /// COMMIT was asked for, but an earlier error had aborted the transaction, so it was
    /// rolled back (PostgreSQL answers such a COMMIT with ROLLBACK).
    AbortedRolledBack,
    /// There was no transaction block left to end (see [`TxState::Ended`]).
    AlreadyEnded,
}

/// An open transaction and who began it: a Code Mode execution's id, or `None` for the MCP
/// client. An owner's transactions are rolled back together when it ends
/// ([`TxRegistry::rollback_owned`]), and only its owner may use them. Kept beside the slot,
/// not in it, so ownership is answered without waiting for a statement running inside.
struct Entry {
    owner: Option<String>,
    slot: Slot,
}

pub struct TxRegistry {
    open: std::sync::Mutex<HashMap<String, Entry>>,
    idle_timeout: Duration,
    /// For READ ONLY transactions, whose locks must not stall DDL (and every reader queued
    /// behind it) for long; at most `idle_timeout`.
    read_only_idle_timeout: Duration,
}

impl TxRegistry {
    pub fn new(idle_timeout: Duration, read_only_idle_timeout: Duration) -> Self {
        TxRegistry {
            open: std::sync::Mutex::new(HashMap::new()),
            idle_timeout,
            read_only_idle_timeout: read_only_idle_timeout.min(idle_timeout),
        }
    }

    pub fn idle_timeout(&self) -> Duration {
        self.idle_timeout
    }

    /// The idle timeout of a transaction in this mode.
    pub fn idle_timeout_for(&self, read_only: bool) -> Duration {
        if read_only {
            self.read_only_idle_timeout
        } else {
            self.idle_timeout
        }
    }

    /// How often the reaper should look, so that no transaction outlives its idle timeout
    /// by more than a tenth of it (and never by more than 5 s).
    pub fn reap_interval(&self) -> Duration {
        (self.read_only_idle_timeout / 10).clamp(Duration::from_millis(250), Duration::from_secs(5))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // A poisoned map is still a valid map: the panicking holder never left it half-updated.
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a connection on which BEGIN has already succeeded, on behalf of `owner`.
    pub fn insert(
        &self,
        client: Object,
        read_only: bool,
        isolation: String,
        owner: Option<String>,
    ) -> String {
        let id = format!("tx_{}", uuid::Uuid::new_v4().simple());
        let now = Instant::now();
        let slot = Arc::new(Mutex::new(PinnedTx {
            client,
            read_only,
            isolation,
            savepoints: Vec::new(),
            started: now,
            last_used: now,
            large_row: false,
        }));
        self.lock().insert(id.clone(), Entry { owner, slot });
        id
    }

    pub fn get(&self, id: &str) -> ToolResult<Slot> {
        self.lock()
            .get(id)
            .map(|e| e.slot.clone())
            .ok_or_else(|| unknown(id))
    }

    /// Removes the transaction from the registry; the caller finishes it.
    pub fn take(&self, id: &str) -> ToolResult<Slot> {
        self.lock()
            .remove(id)
            .map(|e| e.slot)
            .ok_or_else(|| unknown(id))
    }

    /// Whether `id` is open and was begun by `owner` (`None`: by the MCP client). Waits for
    /// nothing, even while a statement runs inside the transaction.
    pub fn owned_by(&self, id: &str, owner: Option<&str>) -> bool {
        self.lock()
            .get(id)
            .is_some_and(|e| e.owner.as_deref() == owner)
    }

    /// The open transactions `owner` began.
    pub fn ids_owned_by(&self, owner: &str) -> Vec<String> {
        let mut ids: Vec<String> = self
            .lock()
            .iter()
            .filter(|(_, e)| e.owner.as_deref() == Some(owner))
            .map(|(id, _)| id.clone())
            .collect();
        ids.sort();
        ids
    }

    /// Rolls back every transaction `owner` began (a Code Mode execution that ended, however
    /// it ended); returns how many.
    pub async fn rollback_owned(&self, owner: &str) -> usize {
        let mine: Vec<Slot> = {
            let mut map = self.lock();
            let ids: Vec<String> = map
                .iter()
                .filter(|(_, e)| e.owner.as_deref() == Some(owner))
                .map(|(id, _)| id.clone())
                .collect();
            ids.iter()
                .filter_map(|id| map.remove(id).map(|e| e.slot))
                .collect()
        };
        let n = mine.len();
        for slot in mine {
            finish(slot, Finish::Rollback).await.ok();
        }
        n
    }

    pub fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.lock().keys().cloned().collect();
        ids.sort();
        ids
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Rolls back every transaction idle for longer than the timeout. A transaction with
    /// a statement running or about to run (someone holds its slot) is not idle.
    pub async fn reap_idle(&self) -> usize {
        let expired: Vec<(String, Slot)> = {
            let mut map = self.lock();
            let ids: Vec<String> = map
                .iter()
                .filter(|(_, Entry { slot, .. })| {
                    // Checked under the map lock, where nobody can `get` a new handle: a
                    // count of one means no call is using or waiting for it.
                    Arc::strong_count(slot) == 1
                        && slot
                            .try_lock()
                            .map(|tx| tx.idle() >= self.idle_timeout_for(tx.read_only))
                            .unwrap_or(false)
                })
                .map(|(id, _)| id.clone())
                .collect();
            ids.into_iter()
                .filter_map(|id| map.remove(&id).map(|e| (id, e.slot)))
                .collect()
        };
        let n = expired.len();
        for (id, slot) in expired {
            tracing::warn!(transaction = %id, "rolling back idle transaction");
            if let Err(e) = finish(slot, Finish::Rollback).await {
                tracing::warn!(transaction = %id, error = %e, "rollback of idle transaction failed; connection closed");
            }
        }
        n
    }

    /// Rolls back everything; used at shutdown.
    pub async fn rollback_all(&self) -> usize {
        let all: Vec<Slot> = self.lock().drain().map(|(_, e)| e.slot).collect();
        let n = all.len();
        for slot in all {
            finish(slot, Finish::Rollback).await.ok();
        }
        n
    }
}

/// The error for an id that names no open transaction (or none the caller may use).
pub fn unknown(id: &str) -> ToolError {
    ToolError::not_found(
        Code::TransactionNotFound,
        format!("no open transaction '{id}'"),
    )
    .suggest("It was committed, rolled back, or rolled back after being idle; start a new one with pg_transaction_begin (pg_transaction_status lists the open ones).")
}

/// Waits until `slot` is held by nobody else (calls already running or queued in the
/// transaction finish first, inside it) and returns the transaction. The slot must have
/// been removed from the registry, so no new handle can appear.
async fn exclusive(mut slot: Slot) -> PinnedTx {
    loop {
        match Arc::try_unwrap(slot) {
            Ok(m) => return m.into_inner(),
            Err(shared) => {
                // Queue behind whoever holds or awaits the lock, then let them go.
                drop(shared.lock().await);
                tokio::time::sleep(Duration::from_millis(2)).await;
                slot = shared;
            }
        }
    }
}

/// Ends a pinned transaction and releases its connection: back to the pool when the
/// session is clean, detached and closed otherwise.
///
/// A COMMIT is preceded by a savepoint in the same round trip, which fails when the
/// transaction is aborted (PostgreSQL would silently turn the COMMIT into a ROLLBACK) or
/// when no transaction block is open, so the outcome is always known.
pub async fn finish(slot: Slot, how: Finish) -> ToolResult<Outcome> {
    let tx = exclusive(slot).await;
    let client = &tx.client;
    let statement = match how {
        Finish::Commit => "SAVEPOINT pgmcp_end; COMMIT",
        Finish::Rollback => "SAVEPOINT pgmcp_end; ROLLBACK",
    };
    let result = match client.batch_execute(statement).await {
        Ok(()) => Ok(match how {
            Finish::Commit => Outcome::Committed,
            Finish::Rollback => Outcome::RolledBack,
        }),
        Err(e) => match sqlstate(&e) {
            Some(IN_FAILED_TRANSACTION) => match client.batch_execute("ROLLBACK").await {
                Ok(()) => Ok(match how {
                    Finish::Commit => Outcome::AbortedRolledBack,
                    Finish::Rollback => Outcome::RolledBack,
                }),
                Err(e) => Err(e),
            },
            // The savepoint failed in an implicit block, which is over: nothing is open.
            Some(NO_ACTIVE_TRANSACTION) => Ok(Outcome::AlreadyEnded),
            // The COMMIT itself failed (deferred constraint, serialization failure): the
            // server has rolled back. A ROLLBACK makes sure and only warns if idle.
            Some(_) => match client.batch_execute("ROLLBACK").await {
                Ok(()) => {
                    release(tx).await;
                    return Err(ToolError::from(e));
                }
                Err(_) => {
                    detach(tx);
                    return Err(ToolError::from(e));
                }
            },
            None => Err(e),
        },
    };
    match result {
        Ok(outcome) if tx.large_row => {
            detach(tx);
            crate::db::trim_memory();
            Ok(outcome)
        }
        Ok(outcome) => {
            release(tx).await;
            Ok(outcome)
        }
        Err(e) => {
            detach(tx);
            Err(ToolError::from(e))
        }
    }
}

/// Returns an idle (no transaction block) connection to the pool after resetting what a
/// committed transaction may have left in the session: settings, role, temporary
/// tables, prepared statements, advisory locks, LISTEN, dblink connections, a replication
/// origin session, the random seed (`pool::reset_sql`). A connection whose session may
/// hold a loaded library is closed instead (`pool::Conn::discard`).
async fn release(tx: PinnedTx) {
    match tx.client.batch_execute(&super::pool::reset_sql()).await {
        Ok(()) => {
            // The reset deallocated the server side of every prepared statement.
            let mut tx = tx;
            tx.client.statement_cache.clear();
            tx.client.deallocated();
            drop(tx);
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not reset a transaction's connection; closing it");
            detach(tx);
        }
    }
}

/// Removes the connection from the pool; dropping it closes it.
fn detach(tx: PinnedTx) {
    drop(Object::take(tx.client));
}

/// The transaction-control command a statement starts with (`COMMIT`, `ROLLBACK`,
/// `SAVEPOINT`…), if any. Statements run one at a time through the extended protocol, so
/// the leading keyword after comments and whitespace decides what the statement is.
pub fn transaction_control(sql: &str) -> Option<&'static str> {
    let mut words = leading_words(sql, 2).into_iter();
    let first = words.next()?;
    const KEYWORDS: [&str; 8] = [
        "BEGIN",
        "START",
        "COMMIT",
        "END",
        "ROLLBACK",
        "ABORT",
        "SAVEPOINT",
        "RELEASE",
    ];
    if let Some(k) = KEYWORDS.iter().find(|k| first.eq_ignore_ascii_case(k)) {
        return Some(k);
    }
    if first.eq_ignore_ascii_case("PREPARE")
        && words
            .next()
            .is_some_and(|w| w.eq_ignore_ascii_case("TRANSACTION"))
    {
        return Some("PREPARE TRANSACTION");
    }
    None
}

/// Up to `n` leading keywords of a statement, skipping whitespace and comments.
fn leading_words(sql: &str, n: usize) -> Vec<&str> {
    let b = sql.as_bytes();
    let mut i = 0;
    let mut words = Vec::new();
    while i < b.len() && words.len() < n {
        match b[i] {
            c if c.is_ascii_whitespace() => i += 1,
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                // Block comments nest in PostgreSQL.
                let mut depth = 0usize;
                while i < b.len() {
                    if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        i += 2;
                    } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                words.push(&sql[start..i]);
            }
            _ => break,
        }
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_transaction_control() {
        for (sql, k) in [
            ("COMMIT", Some("COMMIT")),
            ("  commit work", Some("COMMIT")),
            ("-- x\n/* a /* nested */ b */ Rollback", Some("ROLLBACK")),
            ("end", Some("END")),
            ("START TRANSACTION", Some("START")),
            ("prepare transaction 'x'", Some("PREPARE TRANSACTION")),
            ("PREPARE q AS SELECT 1", None),
            ("SELECT 'COMMIT'", None),
            ("INSERT INTO t VALUES (1)", None),
            ("committed", None),
            ("", None),
            ("/* unterminated", None),
        ] {
            assert_eq!(transaction_control(sql), k, "{sql}");
        }
    }
}

//! Explicit transactions that outlive one tool call: each is pinned to one pooled
//! connection until commit, rollback, idle timeout or shutdown. A pinned connection goes
//! back to the pool only after a successful ROLLBACK or COMMIT; if that fails, the
//! connection is detached and closed so that no half-finished transaction is ever reused.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use deadpool_postgres::Object;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::error::{ToolError, ToolResult};

pub struct PinnedTx {
    pub client: Object,
    pub read_only: bool,
    pub isolation: String,
    pub savepoints: Vec<String>,
    started: Instant,
    last_used: Instant,
}

impl PinnedTx {
    pub fn touch(&mut self) {
        self.last_used = Instant::now();
    }
}

type Slot = Arc<Mutex<PinnedTx>>;

pub struct TxRegistry {
    open: std::sync::Mutex<HashMap<String, Slot>>,
    idle_timeout: Duration,
}

impl TxRegistry {
    pub fn new(idle_timeout: Duration) -> Self {
        TxRegistry {
            open: std::sync::Mutex::new(HashMap::new()),
            idle_timeout,
        }
    }

    pub fn idle_timeout(&self) -> Duration {
        self.idle_timeout
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Slot>> {
        // A poisoned map is still a valid map: the panicking holder never left it half-updated.
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a connection on which BEGIN has already succeeded.
    pub fn insert(&self, client: Object, read_only: bool, isolation: String) -> String {
        let id = format!("tx_{}", uuid::Uuid::new_v4().simple());
        let now = Instant::now();
        self.lock().insert(
            id.clone(),
            Arc::new(Mutex::new(PinnedTx {
                client,
                read_only,
                isolation,
                savepoints: Vec::new(),
                started: now,
                last_used: now,
            })),
        );
        id
    }

    pub fn get(&self, id: &str) -> ToolResult<Slot> {
        self.lock().get(id).cloned().ok_or_else(|| unknown(id))
    }

    /// Removes the transaction from the registry; the caller finishes it.
    pub fn take(&self, id: &str) -> ToolResult<Slot> {
        self.lock().remove(id).ok_or_else(|| unknown(id))
    }

    pub fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.lock().keys().cloned().collect();
        ids.sort();
        ids
    }

    /// Describes one transaction without waiting on a statement running in it.
    pub fn describe(&self, id: &str) -> ToolResult<Value> {
        let slot = self.get(id)?;
        Ok(match slot.try_lock() {
            Ok(tx) => json!({
                "transactionId": id,
                "readOnly": tx.read_only,
                "isolationLevel": tx.isolation,
                "savepoints": tx.savepoints,
                "ageMs": tx.started.elapsed().as_millis() as u64,
                "idleMs": tx.last_used.elapsed().as_millis() as u64,
                "busy": false,
            }),
            Err(_) => json!({ "transactionId": id, "busy": true }),
        })
    }

    /// Rolls back every transaction idle for longer than the timeout.
    pub async fn reap_idle(&self) -> usize {
        let expired: Vec<(String, Slot)> = {
            let map = self.lock();
            map.iter()
                .filter(|(_, slot)| {
                    slot.try_lock()
                        .map(|tx| tx.last_used.elapsed() >= self.idle_timeout)
                        .unwrap_or(false)
                })
                .map(|(id, slot)| (id.clone(), slot.clone()))
                .collect()
        };
        let mut n = 0;
        for (id, _) in expired {
            if let Ok(slot) = self.take(&id) {
                tracing::warn!(transaction = %id, "rolling back idle transaction");
                finish(slot, "ROLLBACK").await.ok();
                n += 1;
            }
        }
        n
    }

    /// Rolls back everything; used at shutdown.
    pub async fn rollback_all(&self) -> usize {
        let all: Vec<Slot> = self.lock().drain().map(|(_, s)| s).collect();
        let n = all.len();
        for slot in all {
            finish(slot, "ROLLBACK").await.ok();
        }
        n
    }
}

fn unknown(id: &str) -> ToolError {
    ToolError::not_found(
        "TRANSACTION_NOT_FOUND",
        format!("no open transaction '{id}'"),
    )
    .suggest("It was committed, rolled back, or rolled back after being idle; start a new one with pg_transaction_begin.")
}

/// Ends a pinned transaction with COMMIT or ROLLBACK and releases its connection. When
/// the statement fails the connection is detached from the pool and closed.
pub async fn finish(slot: Slot, statement: &str) -> ToolResult<()> {
    let tx = slot.lock().await;
    let result = tx.client.batch_execute(statement).await;
    drop(tx);
    let tx = match Arc::try_unwrap(slot) {
        Ok(m) => m.into_inner(),
        // Someone still holds a clone (a status call racing us): they only read it, and
        // the connection is released when the last clone drops.
        Err(_) => return result.map_err(ToolError::from),
    };
    if result.is_err() {
        let _ = Object::take(tx.client);
    }
    result.map_err(ToolError::from)
}

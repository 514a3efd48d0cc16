//! Code Mode's execution-scoped read session: the reads of one execution share one pooled
//! connection and one READ ONLY transaction, instead of paying `BEGIN READ ONLY`, the
//! snapshot query, `ROLLBACK` and the advisory-lock release on every `pg.*` call.
//!
//! The transaction is opened by the execution's first read (`BEGIN READ ONLY`, the switch to
//! `--read-only-role` when one is configured, and a first snapshot, after which PostgreSQL
//! refuses to make it read-write) and ended when the execution ends ([`ReadSession::finish`]:
//! `ROLLBACK`, the advisory locks released and the random seed replaced, as after every
//! pooled read, [`end_read_sql`]). Each read inside it is fenced by a savepoint that is always
//! rolled back, sent in the same round trip as the read. The savepoint is set once, when the
//! session opens: `ROLLBACK TO SAVEPOINT` keeps it (and starts its subtransaction again), so
//! each read is
//!
//! ```text
//! [plan settings, guard, settings restored;] <statement>; ROLLBACK TO SAVEPOINT pgmcp_read
//! ```
//!
//! one message fewer for the server than setting the savepoint again for every read.
//!
//! Rolling back to the savepoint undoes whatever the statement did to the session (as the
//! per-call `ROLLBACK` did), releases the locks the statement took (a table read early in an
//! execution is not held against `ALTER TABLE` or `VACUUM FULL` for the rest of it), and
//! leaves the transaction usable after an error. Every statement still passes the whole
//! statement policy (parse half, then the catalog guard in the same transaction right before
//! it, see `catalog_policy`), exactly as a pooled read.
//!
//! Isolation stays READ COMMITTED: each read sees what was committed when it started, as
//! separate calls did. A REPEATABLE READ snapshot across the execution was weighed and left
//! out: the catalog guard would then judge functions as they were when the execution
//! started, while PostgreSQL resolves names against the current catalog, which would widen
//! the window between the check and the use from one statement to the whole execution.
//!
//! The session holds one of the execution's connection permits (`--code-max-connections`)
//! for as long as it is open, and gives it back as soon as another call of the execution
//! needs a permit and none is free ([`ReadSession::release_idle`]). A call whose read runs in
//! the session lends its own permit for that time (the session's connection is the one in
//! use), so the session costs no call its place: an execution still runs as many calls at
//! once as before. A read that finds the session busy (concurrent calls, `Promise.all`)
//! takes a pooled connection with its call's permit, as before.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::db::QueryOutput;
use crate::db::catalog_policy::GENERIC_PLAN_SQL;
use crate::db::pool::{Object, end_read_sql};
use crate::db::read_policy::ReadCheck;
use crate::error::{ToolError, ToolResult};
use crate::tools::Ctx;
use crate::tools::exec::{
    ReadScope, begin_read_only, catalog_policy, checked_read, plans_a_write_only, role_tool_error,
};

const SAVEPOINT: &str = "SAVEPOINT pgmcp_read";
const ROLLBACK_TO: &str = "ROLLBACK TO SAVEPOINT pgmcp_read";

/// A call's connection permit, shared between the call and its context (see `Ctx::permit`).
pub type PermitSlot = Arc<std::sync::Mutex<Option<OwnedSemaphorePermit>>>;

/// Takes the call's permit out of its slot (to lend it), or puts one back.
fn lend(slot: Option<&PermitSlot>) -> Option<OwnedSemaphorePermit> {
    slot.and_then(|s| s.lock().unwrap_or_else(|p| p.into_inner()).take())
}

/// One execution's read session; see the module documentation.
pub struct ReadSession {
    /// The execution's connection quota, shared with its calls.
    permits: Arc<Semaphore>,
    open: tokio::sync::Mutex<Option<Open>>,
    /// Set by [`ReadSession::finish`]: no read opens the session again.
    ended: AtomicBool,
}

/// The open transaction.
struct Open {
    /// `None` only while being closed.
    conn: Option<Object>,
    /// A read was on the wire when its future was dropped (the execution was cancelled or
    /// timed out): the connection's state is unknown, so it is closed, never pooled.
    busy: bool,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Open {
    /// A session that was not finished (its execution's future was dropped): the connection
    /// is detached from the pool and closed, which ends the transaction at the server.
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            drop(Object::take(conn));
        }
    }
}

impl Open {
    /// Ends the transaction and returns the connection to the pool with nothing to reset.
    /// A connection that is busy, cannot end cleanly, or whose closing is itself cancelled
    /// is closed instead ([`Drop`]).
    async fn close(mut self) {
        if self.busy {
            return;
        }
        let ended = match &self.conn {
            Some(conn) => conn.batch_execute(&end_read_sql()).await.is_ok(),
            None => false,
        };
        if ended && let Some(conn) = self.conn.take() {
            crate::db::pool::release_clean(conn);
        }
    }
}

impl ReadSession {
    pub fn new(permits: Arc<Semaphore>) -> ReadSession {
        ReadSession {
            permits,
            open: tokio::sync::Mutex::new(None),
            ended: AtomicBool::new(false),
        }
    }

    /// Runs a read that passed the parse half of the policy (`check`) in the session, or
    /// returns `None` when the session cannot take it (busy with another read of this
    /// execution, no permit free, a plan-only EXPLAIN of a write that must not run as the
    /// read-only role, or the execution ended): the caller then reads on a pooled connection.
    pub async fn read(
        &self,
        ctx: &Ctx,
        sql: &str,
        params: &[Value],
        check: &ReadCheck,
    ) -> Option<ToolResult<QueryOutput>> {
        let set_role = crate::tools::exec::set_role_sql(ctx);
        if set_role.is_some() && plans_a_write_only(sql) {
            return None;
        }
        let mut slot = self.open.try_lock().ok()?;
        if self.ended.load(Ordering::Acquire) {
            return None;
        }
        // A read of this session was abandoned on the wire (its call's future was dropped):
        // the connection is closed rather than trusted, and a fresh session opened.
        if slot.as_ref().is_some_and(|open| open.busy) {
            drop(slot.take());
        }
        // The call's own permit: it becomes the session's when this read opens the session,
        // and is given back for the time of the read otherwise. Either way the call gets a
        // permit again before it goes on (below).
        let lent = lend(ctx.permit.as_ref());
        let had_permit = lent.is_some();
        let opened = match (slot.is_some(), lent) {
            (true, lent) => {
                drop(lent);
                Ok(())
            }
            (false, lent) => {
                let permit = match lent {
                    Some(p) => p,
                    None => self.permits.clone().try_acquire_owned().ok()?,
                };
                Self::begin(ctx, permit, set_role.as_deref())
                    .await
                    .map(|open| *slot = Some(open))
            }
        };
        let out = match opened {
            Ok(()) => Self::read_open(&mut slot, ctx, sql, params, check).await,
            Err(e) => Err(e),
        };
        drop(slot);
        if had_permit && let Some(call) = &ctx.permit {
            let Some(permit) = self.acquire_permit().await else {
                return Some(out);
            };
            *call.lock().unwrap_or_else(|p| p.into_inner()) = Some(permit);
        }
        Some(out)
    }

    /// Opens the session's transaction on a pooled connection, holding `permit`.
    async fn begin(
        ctx: &Ctx,
        permit: OwnedSemaphorePermit,
        set_role: Option<&str>,
    ) -> ToolResult<Open> {
        let conn = ctx.db().client().await?;
        // Owned by an `Open` from here on: whatever part of BEGIN ran when it fails or is
        // cancelled, the connection is closed, not pooled.
        let mut fresh = Open {
            conn: Some(conn),
            busy: true,
            _permit: permit,
        };
        if let Some(conn) = &fresh.conn {
            conn.batch_execute(&format!(
                "{}; {SAVEPOINT}",
                begin_read_only(false, set_role)
            ))
            .await
            .map_err(|e| role_tool_error(ctx, ToolError::from(e)))?;
        }
        fresh.busy = false;
        Ok(fresh)
    }

    /// [`ReadSession::read`] in the session `slot` holds open.
    async fn read_open(
        slot: &mut Option<Open>,
        ctx: &Ctx,
        sql: &str,
        params: &[Value],
        check: &ReadCheck,
    ) -> ToolResult<QueryOutput> {
        let Some(open) = slot.as_mut() else {
            return Err(ToolError::internal("the read session is not open"));
        };
        let Some(conn) = open.conn.as_mut() else {
            return Err(ToolError::internal("the read session is closed"));
        };
        open.busy = true;
        let cancel = ctx.db().cancel_guard(conn);
        let result = checked_read(
            catalog_policy(ctx),
            conn,
            sql,
            params,
            check,
            ctx.caps(),
            &FENCE,
        )
        .await;
        cancel.disarm();
        match result {
            Ok(out) => {
                open.busy = false;
                if out.as_ref().is_ok_and(|o| o.large_row) {
                    // Its read buffer grew to a large row: closed, as a pooled read's is.
                    drop(slot.take());
                    crate::db::trim_memory();
                }
                out.map_err(|e| role_tool_error(ctx, e))
            }
            // The savepoint could not be rolled back: the session is unusable.
            Err(e) => {
                drop(slot.take());
                Err(e)
            }
        }
    }

    /// One of the execution's connection permits for a call. Waits only while the
    /// execution's other calls hold every permit; the session, when idle, gives its own
    /// back rather than make the call wait for the end of the execution. `None`: the
    /// quota was closed.
    pub async fn acquire_permit(&self) -> Option<OwnedSemaphorePermit> {
        if let Ok(permit) = self.permits.clone().try_acquire_owned() {
            return Some(permit);
        }
        self.release_idle().await;
        self.permits.clone().acquire_owned().await.ok()
    }

    /// Gives the session's permit back when the session is open and idle: another call of
    /// the execution needs a permit and none is free. Returns whether one was given back.
    pub async fn release_idle(&self) -> bool {
        let open = match self.open.try_lock() {
            Ok(mut slot) => slot.take(),
            Err(_) => None,
        };
        match open {
            Some(open) => {
                open.close().await;
                true
            }
            None => false,
        }
    }

    /// Ends the session when its execution ends.
    pub async fn finish(&self) {
        self.ended.store(true, Ordering::Release);
        let open = self.open.lock().await.take();
        if let Some(open) = open {
            open.close().await;
        }
    }
}

/// A read inside the session's transaction is fenced by the session's savepoint (set when it
/// opened), rolled back in the same round trip ([`checked_read`]'s outer `Err` then means the
/// session is broken: the guard's settings could not be made, or the savepoint could not be
/// rolled back).
static FENCE: ReadScope<'static> = ReadScope {
    open: &fence_open,
    abandon: ROLLBACK_TO,
    close: ROLLBACK_TO,
};

fn fence_open(guarded: bool) -> String {
    match guarded {
        true => GENERIC_PLAN_SQL.to_string(),
        false => String::new(),
    }
}

//! The connection pool's manager: deadpool-postgres's, with the session reset taken off
//! the round trips of the next call.
//!
//! A connection handed out must carry no session state from its previous borrower: a
//! `SET ROLE`, `SET search_path`, session advisory lock, LISTEN or temp table left by one
//! call must not leak into the next caller. deadpool's `RecyclingMethod::Clean` resets the
//! session at every checkout, which costs the next call one extra round trip.
//!
//! Here a borrower that is done normally hands its connection to [`release`] instead, which
//! *sends* the same reset at once (pipelined behind the borrower's last statement, so
//! nothing can run between the two) and puts the connection back. The next checkout then
//! only collects the reset's outcome, which has normally arrived by then; a connection whose
//! reset failed is discarded, never handed out. A connection that comes back any other way
//! (dropped by a path that does not call [`release`]) has no reset in flight, and its next
//! checkout runs the reset first, exactly as `Clean` did.
//!
//! A read needs no reset at all: it ran in a READ ONLY transaction that ended with
//! [`end_read_sql`], which leaves nothing of the session's state behind (see there), so
//! [`release_clean`] returns it as it is.

use std::collections::{HashMap, HashSet};
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use deadpool::managed::{self, Metrics, RecycleError, RecycleResult};
use futures::{FutureExt, StreamExt};
use tokio_postgres::SimpleQueryStream;

/// What `DISCARD ALL` does, as statements that may run in the implicit transaction of a
/// pipelined multi-statement query (`DISCARD ALL` itself may not), plus the session state
/// `DISCARD ALL` does not know about. Unlike deadpool's `RecyclingMethod::Clean` it
/// deallocates prepared statements too: a SQL-level `PREPARE` outlives transactions and
/// would reach the next borrower (found by the escape corpus). It also drops the
/// protocol-level statements of the read cache ([`Conn::cached`]), which the cache forgets
/// at the same moment. Then [`SESSION_EXTRAS_SQL`] and a fresh random seed ([`reseed_sql`]).
pub fn reset_sql() -> String {
    format!(
        "CLOSE ALL; SET SESSION AUTHORIZATION DEFAULT; RESET ALL; UNLISTEN *; \
         SELECT pg_catalog.pg_advisory_unlock_all(); DISCARD TEMP; DISCARD SEQUENCES; \
         DEALLOCATE ALL; {SESSION_EXTRAS_SQL}; {}",
        reseed_sql()
    )
}

/// Session state that neither `DISCARD ALL` nor a rollback touches: a replication origin
/// set up for the session, and dblink's connections (named ones and the unnamed one),
/// which live in the backend until disconnected and would let the next caller run SQL
/// elsewhere as whoever opened them. A DO block, because the functions may be absent (no
/// dblink extension, or installed in any schema) or not executable by the connecting role
/// (the replication origin functions are revoked from PUBLIC): a role that cannot execute
/// `pg_replication_origin_session_is_setup` could not have set an origin up either, unless
/// granted `..._setup` alone, which is refused here as a failed reset.
pub const SESSION_EXTRAS_SQL: &str = "DO $pgmcp_reset$ DECLARE s name; BEGIN \
     IF pg_catalog.has_function_privilege('pg_catalog.pg_replication_origin_session_is_setup()', 'EXECUTE') \
        AND pg_catalog.pg_replication_origin_session_is_setup() THEN \
       PERFORM pg_catalog.pg_replication_origin_session_reset(); \
     END IF; \
     SELECT n.nspname INTO s FROM pg_catalog.pg_extension e \
       JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'dblink'; \
     IF s IS NOT NULL THEN \
       EXECUTE pg_catalog.format('SELECT %1$I.dblink_disconnect(c) FROM pg_catalog.unnest(%1$I.dblink_get_connections()) c', s); \
       BEGIN EXECUTE pg_catalog.format('SELECT %I.dblink_disconnect()', s); \
       EXCEPTION WHEN OTHERS THEN NULL; END; \
     END IF; END $pgmcp_reset$";

/// `SELECT setseed(x)` with `x` drawn from the OS's random source here, not by the server:
/// a seed derived from the session's own `random()` (`setseed(random())`) would be
/// predictable to whoever set or observed the previous seed. After it the next borrower's
/// `random()` sequence is independent of everything earlier callers did or saw.
pub fn reseed_sql() -> String {
    format!("SELECT pg_catalog.setseed({:?})", random_seed())
}

/// 53 random bits (uuid v4 takes them from the OS), the precision of the float8 that
/// `setseed` takes, spread over [-1, 1).
fn random_seed() -> f64 {
    let bits = uuid::Uuid::new_v4().as_u128() >> 75;
    (bits as f64) / ((1u64 << 53) as f64) * 2.0 - 1.0
}

/// How a read's READ ONLY transaction ends, in one round trip with the read itself. After
/// it the session holds nothing the reset would remove: SET, SET ROLE (the read-only role
/// included: it was `SET LOCAL`) and SESSION AUTHORIZATION, LISTEN, cursors (even WITH
/// HOLD) and temp objects are transactional and rolled back; a READ ONLY transaction cannot
/// create temp tables or advance sequences; session advisory locks, the one thing a
/// rollback keeps, are released here (as the session user, which owns them whatever role
/// took them), and the random seed a `setseed` may have set is replaced ([`reseed_sql`]).
/// dblink connections and replication origin sessions are not undone here: a read cannot
/// open them past the statement policy, and the read-only role (without a password for
/// dblink, without EXECUTE on the origin functions) cannot open them either.
pub fn end_read_sql() -> String {
    format!(
        "ROLLBACK; SELECT pg_catalog.pg_advisory_unlock_all(), pg_catalog.setseed({:?})",
        random_seed()
    )
}

/// Whether a statement sent through a write tool may leave a shared library loaded in the
/// session. A library cannot be unloaded, and one loaded by `LOAD` may install hooks that
/// act on every later statement, so such a connection is closed after the call instead of
/// going back to the pool ([`Conn::discard`]). Conservative by design: the word `load`
/// anywhere (a `LOAD` statement, or `EXECUTE 'LOAD …'` in a string or function body), a DO
/// block (which can assemble the command from pieces), `CREATE EXTENSION` and
/// `CREATE FUNCTION` (both load a C library to check it), or text that does not parse. The
/// known gap: a function created by an earlier call that assembles `LOAD` at run time.
pub fn may_load_library(sql: &str) -> bool {
    let lower = sql.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    let word = |i: usize| {
        bytes
            .get(i)
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
    };
    if lower
        .match_indices("load")
        .any(|(i, _)| (i == 0 || !word(i - 1)) && !word(i + 4))
    {
        return true;
    }
    match pg_query::parse(sql, pg_query::ParserOptions::DEFAULT) {
        // Through `Value` (the same text as `to_string`): the parse tree's serializer is then
        // in the binary once, the one the read policy and the index advisor use, instead of
        // a second copy for the string writer (~0.2 MB; docs/PERFORMANCE.md "Binary size").
        Ok(parsed) => match serde_json::to_value(&parsed.protobuf).map(|v| v.to_string()) {
            Ok(tree) => [
                "\"DoStmt\"",
                "\"CreateExtensionStmt\"",
                "\"CreateFunctionStmt\"",
            ]
            .iter()
            .any(|k| tree.contains(k)),
            Err(_) => true,
        },
        Err(_) => true,
    }
}

pub type Pool = managed::Pool<Manager>;
pub type Object = managed::Object<Manager>;
pub type PoolError = managed::PoolError<tokio_postgres::Error>;

/// A pooled connection.
pub struct Conn {
    client: deadpool_postgres::ClientWrapper,
    session: Session,
    /// Statements prepared on this connection for reads, by SQL text (see [`Conn::cached`]).
    statements: HashMap<String, tokio_postgres::Statement>,
    /// The read policy's candidate query and guard, prepared once per session (their text is
    /// pgmcp's own, so unlike `statements` they reveal nothing of earlier callers).
    policy: Option<PolicyStatements>,
    /// Set when the session may hold something no reset removes ([`may_load_library`]):
    /// the connection is closed rather than handed to anyone else.
    discard: bool,
    /// This connection's server process, registered in [`OwnBackends`] while it lives.
    pid: i32,
    own: OwnBackends,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.own.forget(self.pid);
    }
}

/// The backend process ids of pgmcp's own pooled connections (every connection the pool
/// holds, idle, checked out or pinned to a transaction), so that pg_cancel_backend and
/// pg_terminate_backend can refuse to signal them. A connection's pid is asked for once,
/// when it is opened (`SELECT pg_backend_pid()`), and removed when the connection is
/// dropped, whichever way it leaves the pool.
#[derive(Clone, Default)]
pub struct OwnBackends(Arc<Mutex<HashSet<i32>>>);

impl OwnBackends {
    /// Whether `pid` is one of pgmcp's own pooled connections.
    pub fn contains(&self, pid: i32) -> bool {
        self.0.lock().map(|s| s.contains(&pid)).unwrap_or(true)
    }

    /// Every pid pgmcp's pool holds now, sorted.
    pub fn pids(&self) -> Vec<i32> {
        let mut v: Vec<i32> = self
            .0
            .lock()
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        v.sort_unstable();
        v
    }

    fn add(&self, pid: i32) {
        if let Ok(mut s) = self.0.lock() {
            s.insert(pid);
        }
    }

    fn forget(&self, pid: i32) {
        if let Ok(mut s) = self.0.lock() {
            s.remove(&pid);
        }
    }
}

/// Distinct read statements one connection keeps prepared; past it the cache starts over.
const STATEMENT_CACHE_SIZE: usize = 64;

impl Conn {
    /// A statement this connection has already prepared for a read of exactly `sql`. With
    /// it a read needs no Parse round trip: Bind/Execute travel with `BEGIN READ ONLY` and
    /// the closing ROLLBACK in one flight (`tools::exec`). Only statements that passed the
    /// read-only policy are kept, and the session reset, which deallocates every prepared
    /// statement, empties the cache ([`release`], [`Manager::recycle`]).
    pub fn cached(&self, sql: &str) -> Option<tokio_postgres::Statement> {
        self.statements.get(sql).cloned()
    }

    pub fn remember(&mut self, sql: &str, statement: tokio_postgres::Statement) {
        if self.statements.len() >= STATEMENT_CACHE_SIZE {
            // Dropping the statements sends their Close messages; no round trip is awaited.
            self.statements.clear();
        }
        self.statements.insert(sql.to_string(), statement);
    }

    pub fn forget(&mut self, sql: &str) {
        self.statements.remove(sql);
    }

    /// The catalog policy's candidate query and guard (`db/catalog_policy.rs`), prepared on
    /// first use; the session reset (`DEALLOCATE ALL`) drops them with everything else.
    pub async fn policy_statements(&mut self) -> Result<PolicyStatements, tokio_postgres::Error> {
        if let Some(p) = &self.policy {
            return Ok(p.clone());
        }
        let (candidates, guard) = tokio::join!(
            self.client
                .prepare(crate::db::catalog_policy::CANDIDATES_SQL),
            self.client.prepare(crate::db::catalog_policy::GUARD_SQL)
        );
        let p = PolicyStatements {
            candidates: candidates?,
            guard: guard?,
        };
        self.policy = Some(p.clone());
        Ok(p)
    }

    /// After a `DEALLOCATE ALL` the caller ran: nothing prepared is left on the server.
    pub fn deallocated(&mut self) {
        self.statements.clear();
        self.policy = None;
    }

    /// Deallocates every cached read statement before the connection runs anything but a
    /// read: `pg_prepared_statements` shows a session's statements with their full text,
    /// literals included, and a write call (or a pinned transaction) may read it. Dropping
    /// the statements queues their Close messages on the connection ahead of whatever the
    /// caller sends next, so the server has forgotten them before that runs; no round trip
    /// is awaited.
    pub fn forget_all(&mut self) {
        self.statements.clear();
    }

    /// Closes this connection when it comes back instead of reusing it (see [`Conn::discard`]).
    pub fn discard(&mut self) {
        self.discard = true;
    }

    /// How many read statements this connection keeps prepared (reads may not look at
    /// `pg_prepared_statements`, so tests ask the cache).
    pub fn cached_statements(&self) -> usize {
        self.statements.len()
    }
}

/// See [`Conn::policy_statements`].
#[derive(Clone)]
pub struct PolicyStatements {
    pub candidates: tokio_postgres::Statement,
    pub guard: tokio_postgres::Statement,
}

/// What is known about a pooled connection's session when it comes back.
enum Session {
    /// Nothing: the next checkout resets it.
    Unknown,
    /// Nothing to reset ([`release_clean`]).
    Clean,
    /// A reset was sent by [`release`]; these are its replies, not yet checked.
    Resetting(Pin<Box<SimpleQueryStream>>),
}

impl Deref for Conn {
    type Target = deadpool_postgres::ClientWrapper;
    fn deref(&self) -> &deadpool_postgres::ClientWrapper {
        &self.client
    }
}

impl DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut deadpool_postgres::ClientWrapper {
        &mut self.client
    }
}

pub struct Manager {
    /// Configured with `RecyclingMethod::Fast`: it only checks that the connection is open.
    inner: deadpool_postgres::Manager,
    /// The pids of the connections this manager opened (see [`OwnBackends`]).
    pub own: OwnBackends,
}

impl Manager {
    pub fn new(
        pg: tokio_postgres::Config,
        tls: tokio_postgres_rustls::MakeRustlsConnect,
    ) -> Manager {
        Manager {
            inner: deadpool_postgres::Manager::from_config(
                pg,
                tls,
                deadpool_postgres::ManagerConfig {
                    recycling_method: deadpool_postgres::RecyclingMethod::Fast,
                },
            ),
            own: OwnBackends::default(),
        }
    }
}

impl managed::Manager for Manager {
    type Type = Conn;
    type Error = tokio_postgres::Error;

    async fn create(&self) -> Result<Conn, tokio_postgres::Error> {
        let client = self.inner.create().await?;
        // tokio-postgres keeps the pid of BackendKeyData private: ask the server, once
        // (a simple query: one round trip, nothing left prepared).
        let pid = client
            .simple_query("SELECT pg_catalog.pg_backend_pid()")
            .await?
            .iter()
            .find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0)?.parse::<i32>().ok(),
                _ => None,
            })
            .unwrap_or(0);
        self.own.add(pid);
        Ok(Conn {
            client,
            session: Session::Unknown,
            statements: HashMap::new(),
            policy: None,
            discard: false,
            pid,
            own: self.own.clone(),
        })
    }

    async fn recycle(
        &self,
        conn: &mut Conn,
        metrics: &Metrics,
    ) -> RecycleResult<tokio_postgres::Error> {
        if conn.discard {
            return Err(RecycleError::message(
                "the session may hold a loaded library; closing the connection",
            ));
        }
        self.inner.recycle(&mut conn.client, metrics).await?;
        let outcome = match std::mem::replace(&mut conn.session, Session::Unknown) {
            Session::Clean => Ok(()),
            // Sent when the connection came back: only its outcome is outstanding.
            Session::Resetting(mut replies) => loop {
                match replies.next().await {
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => break Err(e),
                    None => break Ok(()),
                }
            },
            Session::Unknown => {
                conn.statements.clear();
                conn.policy = None;
                conn.client.simple_query(&reset_sql()).await.map(drop)
            }
        };
        outcome.map_err(|e| {
            tracing::warn!("a pooled connection could not be reset: {e}");
            RecycleError::Backend(e)
        })
    }

    fn detach(&self, conn: &mut Conn) {
        self.inner.detach(&mut conn.client);
    }
}

/// Gives a connection back after normal use (its statements have all completed): the
/// session reset is sent now, queued on the connection ahead of anything a later borrower
/// sends, and the connection returns to the pool at once.
pub fn release(mut conn: Object) {
    if conn.discard {
        drop(Object::take(conn));
        return;
    }
    // The reset deallocates every prepared statement.
    conn.statements.clear();
    conn.policy = None;
    // Sending is synchronous: the future is ready at its first poll.
    if let Some(Ok(replies)) = conn.client.simple_query_raw(&reset_sql()).now_or_never() {
        conn.session = Session::Resetting(Box::pin(replies));
    }
    // Otherwise (the connection is closed) nothing is in flight, and the next checkout
    // resets the session itself or discards the connection.
}

/// Gives a connection back whose last use was a read that ended with [`end_read_sql`]
/// successfully: there is nothing to reset.
pub fn release_clean(mut conn: Object) {
    conn.session = Session::Clean;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_may_load_a_library() {
        for sql in [
            "LOAD 'auto_explain'",
            "  load '$libdir/plugins/x'",
            "DO $$ BEGIN EXECUTE 'LO' || 'AD ''x'''; END $$",
            "CREATE EXTENSION dblink",
            "CREATE FUNCTION f() RETURNS int LANGUAGE c AS 'x', 'f'",
            "SELECT 1; LOAD 'x'",
            "select from (",
        ] {
            assert!(may_load_library(sql), "{sql}");
        }
        for sql in [
            "INSERT INTO t VALUES (1)",
            "CREATE TABLE workload (download int, load_avg int)",
            "UPDATE t SET x = 'unloaded'",
        ] {
            assert!(!may_load_library(sql), "{sql}");
        }
    }

    #[test]
    fn seeds_are_fresh_and_in_range() {
        let a = reseed_sql();
        assert_ne!(a, reseed_sql());
        for _ in 0..1000 {
            let s = random_seed();
            assert!((-1.0..1.0).contains(&s), "{s}");
        }
        assert!(end_read_sql().starts_with("ROLLBACK; "));
        assert!(reset_sql().contains("setseed("), "{}", reset_sql());
    }
}

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
//! [`END_READ_SQL`], which leaves nothing of the session's state behind (see there), so
//! [`release_clean`] returns it as it is.

use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;

use deadpool::managed::{self, Metrics, RecycleError, RecycleResult};
use futures::{FutureExt, StreamExt};
use tokio_postgres::SimpleQueryStream;

/// What `DISCARD ALL` does, as statements that may run in the implicit transaction of a
/// pipelined multi-statement query (`DISCARD ALL` itself may not). Unlike deadpool's
/// `RecyclingMethod::Clean` it deallocates prepared statements too: a SQL-level `PREPARE`
/// outlives transactions and would reach the next borrower (found by the escape corpus).
/// It also drops the protocol-level statements of the read cache ([`Conn::cached`]), which
/// the cache forgets at the same moment.
pub const RESET_SQL: &str = "CLOSE ALL; SET SESSION AUTHORIZATION DEFAULT; RESET ALL; \
                             UNLISTEN *; SELECT pg_advisory_unlock_all(); DISCARD TEMP; \
                             DISCARD SEQUENCES; DEALLOCATE ALL;";

/// How a read's READ ONLY transaction ends, in one round trip with the read itself. After
/// it the session holds nothing the reset would remove: SET, SET ROLE and SESSION
/// AUTHORIZATION, LISTEN, cursors (even WITH HOLD) and temp objects are transactional and
/// rolled back; a READ ONLY transaction cannot create temp tables or advance sequences;
/// session advisory locks, the one thing a rollback keeps, are released here.
pub const END_READ_SQL: &str = "ROLLBACK; SELECT pg_advisory_unlock_all()";

pub type Pool = managed::Pool<Manager>;
pub type Object = managed::Object<Manager>;
pub type PoolError = managed::PoolError<tokio_postgres::Error>;

/// A pooled connection.
pub struct Conn {
    client: deadpool_postgres::ClientWrapper,
    session: Session,
    /// Statements prepared on this connection for reads, by SQL text (see [`Conn::cached`]).
    statements: HashMap<String, tokio_postgres::Statement>,
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

    /// How many read statements this connection keeps prepared (reads may not look at
    /// `pg_prepared_statements`, so tests ask the cache).
    pub fn cached_statements(&self) -> usize {
        self.statements.len()
    }
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
        }
    }
}

impl managed::Manager for Manager {
    type Type = Conn;
    type Error = tokio_postgres::Error;

    async fn create(&self) -> Result<Conn, tokio_postgres::Error> {
        Ok(Conn {
            client: self.inner.create().await?,
            session: Session::Unknown,
            statements: HashMap::new(),
        })
    }

    async fn recycle(
        &self,
        conn: &mut Conn,
        metrics: &Metrics,
    ) -> RecycleResult<tokio_postgres::Error> {
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
                conn.client.simple_query(RESET_SQL).await.map(drop)
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
    // The reset deallocates every prepared statement.
    conn.statements.clear();
    // Sending is synchronous: the future is ready at its first poll.
    if let Some(Ok(replies)) = conn.client.simple_query_raw(RESET_SQL).now_or_never() {
        conn.session = Session::Resetting(Box::pin(replies));
    }
    // Otherwise (the connection is closed) nothing is in flight, and the next checkout
    // resets the session itself or discards the connection.
}

/// Gives a connection back whose last use was a read that ended with [`END_READ_SQL`]
/// successfully: there is nothing to reset.
pub fn release_clean(mut conn: Object) {
    conn.session = Session::Clean;
}

//! Relation sizes that never wait for a lock.
//!
//! `pg_relation_size`, `pg_table_size`, `pg_indexes_size`, `pg_total_relation_size` and
//! pgstattuple's functions open the relation with an ACCESS SHARE lock (the last three open
//! its indexes and TOAST table too). ACCESS SHARE conflicts only with ACCESS EXCLUSIVE, but
//! a request also queues behind a waiting one: while another session holds (or waits for)
//! an ACCESS EXCLUSIVE lock — `LOCK TABLE`, most `ALTER TABLE`s, `DROP`, `TRUNCATE`,
//! `VACUUM FULL`, `REINDEX` — a size call on it waits, and a health check that sizes every
//! table waits until the statement timeout, then fails. Catalog and statistics reads
//! (`pg_class`, `pg_stat_*`, `pg_stats`) take no relation locks.
//!
//! Every size the tools read goes through [`size`]: NULL (unknown) for a relation in
//! [`LOCKED`], the relations whose size would wait, so the tools answer at once and report
//! the relation as locked instead. `LOCKED` is read once per statement (an uncorrelated
//! subquery is an InitPlan), just before the first size call; a lock taken between that
//! read and the size call still makes that call wait.

use serde::Deserialize;
use serde_json::json;

use super::Ctx;
use super::exec::read_rows;
use crate::error::ToolResult;

/// Why a size is unknown, for notes and skip reasons.
pub const LOCKED_REASON: &str = "another session holds or waits for an ACCESS EXCLUSIVE lock on it (or on one of its indexes or its TOAST table): its size is not read rather than waited for";

/// SQL: the `oid[]` of the relations whose size would wait for a lock — those another
/// session holds or waits for an ACCESS EXCLUSIVE lock on in this database, and the tables
/// whose index, TOAST table or TOAST index is so locked (the table-wide size functions open
/// those too). Locks of this session do not block it and are not counted.
pub const LOCKED: &str = "(SELECT coalesce(array_agg(DISTINCT x.oid), '{}')::oid[] FROM ( \
     WITH l AS (SELECT DISTINCT lk.relation FROM pg_catalog.pg_locks lk \
       WHERE lk.locktype = 'relation' AND lk.mode = 'AccessExclusiveLock' \
         AND lk.pid IS DISTINCT FROM pg_catalog.pg_backend_pid() \
         AND lk.database = (SELECT d.oid FROM pg_catalog.pg_database d \
                            WHERE d.datname = pg_catalog.current_database())) \
     SELECT l.relation AS oid FROM l \
     UNION ALL SELECT i.indrelid FROM pg_catalog.pg_index i JOIN l ON l.relation = i.indexrelid \
     UNION ALL SELECT c.oid FROM pg_catalog.pg_class c JOIN l ON l.relation = c.reltoastrelid \
     UNION ALL SELECT c.oid FROM pg_catalog.pg_class c \
       JOIN pg_catalog.pg_index ti ON ti.indrelid = c.reltoastrelid \
       JOIN l ON l.relation = ti.indexrelid) x)";

/// SQL: whether the relation `oid` (an SQL expression) is in [`LOCKED`].
pub fn locked(oid: &str) -> String {
    // The cast makes it an array expression: `ANY ((SELECT …))` alone is ANY (subquery).
    format!("({oid} = ANY ({LOCKED}::oid[]))")
}

/// SQL: `func(oid)` (a size function such as `pg_total_relation_size`), or NULL when the
/// relation `oid` is [`locked`], without calling `func`.
pub fn size(func: &str, oid: &str) -> String {
    format!(
        "(CASE WHEN {} THEN NULL ELSE pg_catalog.{func}({oid}) END)",
        locked(oid)
    )
}

/// `schema.name` of the locked relations (tables, materialized views, indexes) in `schema`,
/// or in every schema but PostgreSQL's own when `None`, sorted.
pub async fn locked_relations(ctx: &Ctx, schema: Option<&str>) -> ToolResult<Vec<String>> {
    #[derive(Deserialize)]
    struct R {
        name: String,
    }
    let sql = format!(
        "SELECT n.nspname || '.' || c.relname AS name \
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.oid = ANY ({LOCKED}::oid[]) AND c.relkind IN ('r', 'm', 'p', 'i', 'I') \
           AND CASE WHEN $1::text IS NULL \
                    THEN n.nspname NOT IN ('pg_catalog', 'information_schema') \
                         AND n.nspname NOT LIKE 'pg\\_toast%' \
                    ELSE n.nspname = $1::text END \
         ORDER BY 1"
    );
    let rows: Vec<R> = super::catalog::decode(read_rows(ctx, &sql, &[json!(schema)]).await?)?;
    Ok(rows.into_iter().map(|r| r.name).collect())
}

/// The error of a tool that needs the size of relation `name` while it is locked.
pub fn locked_error(name: &str) -> crate::error::ToolError {
    use crate::error::{Category, Code, ToolError};
    ToolError::new(
        Category::Limit,
        Code::LockTimeout,
        format!("'{name}' is locked: {LOCKED_REASON}"),
    )
    .suggest("Retry when the other session's transaction ends; pg_locks shows who holds the lock.")
    .recoverable(true)
}

//! Index advice with hypothetical indexes: the tools around the HypoPG advisor engine
//! (`crate::dba`). Every call runs the engine on ONE pooled connection held for the whole
//! call; the engine resets HypoPG at its start and end, and the connection goes back to
//! the pool (with the pool's session reset) only when the engine finished cleanly. On any
//! error, and when the call's future is dropped mid-run (the guard is dropped armed), the
//! connection is closed instead, so no hypothetical index can reach a later borrower.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::GROUP;
use crate::db::pool::Conn;
use crate::dba::{AdvisorOptions, IndexAdvice, WorkloadStatement, recommend_indexes};
use crate::error::{ToolError, ToolResult};
use crate::tools::catalog::decode;
use crate::tools::exec::{check_read_in_transaction, read_rows};
use crate::tools::{Ctx, READ, Spec, Tool};

pub fn tools() -> Vec<Tool> {
    vec![
        ANALYZE_QUERY_INDEXES.tool(GROUP, analyze_query_indexes),
        ANALYZE_WORKLOAD_INDEXES.tool(GROUP, analyze_workload_indexes),
        INDEX_RECOMMENDATIONS.tool(GROUP, index_recommendations),
    ]
}

/// Search settings shared by the three tools.
#[derive(Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SearchArgs {
    /// Most indexes recommended, 1–20 (default 5; 10 for a workload).
    pub max_indexes: Option<u32>,
    /// Most key columns per index, 1–5 (default 3).
    pub max_index_width: Option<u32>,
    /// Total estimated size the recommendations may take, in MB (default: unlimited).
    pub budget_mb: Option<f64>,
    /// Least relative cost improvement for a statement's indexes to count, 0–1 (default 0.10).
    pub min_improvement: Option<f64>,
    /// Cost units charged per index entry writes add (default 1; 0 ignores writes): the
    /// workload's INSERT/UPDATE statements, or for a table the workload never writes (workload
    /// modes only), the rows `pg_stat_user_tables` saw modified since its last ANALYZE,
    /// scaled to pg_stat_statements' window (`writesFrom` says which).
    pub write_penalty: Option<f64>,
    /// Wall-time budget in seconds, 1–300 (default 30); the best answer so far is returned
    /// (`stats.truncated`) when it runs out.
    pub time_budget_seconds: Option<u32>,
}

impl SearchArgs {
    fn options(&self, default_max_indexes: u32) -> ToolResult<AdvisorOptions> {
        let max_indexes = self.max_indexes.unwrap_or(default_max_indexes);
        let width = self.max_index_width.unwrap_or(3);
        let seconds = self.time_budget_seconds.unwrap_or(30);
        let min_improvement = self.min_improvement.unwrap_or(0.10);
        let write_penalty = self.write_penalty.unwrap_or(1.0);
        if !(1..=20).contains(&max_indexes) {
            return Err(ToolError::invalid("maxIndexes must be between 1 and 20"));
        }
        if !(1..=5).contains(&width) {
            return Err(ToolError::invalid("maxIndexWidth must be between 1 and 5"));
        }
        if !(1..=300).contains(&seconds) {
            return Err(ToolError::invalid(
                "timeBudgetSeconds must be between 1 and 300",
            ));
        }
        if !(0.0..=1.0).contains(&min_improvement) {
            return Err(ToolError::invalid("minImprovement must be between 0 and 1"));
        }
        if !(write_penalty.is_finite() && write_penalty >= 0.0) {
            return Err(ToolError::invalid("writePenalty must be 0 or more"));
        }
        let budget = match self.budget_mb {
            None => None,
            Some(mb) if mb.is_finite() && mb > 0.0 => Some((mb * 1024.0 * 1024.0) as i64),
            Some(_) => return Err(ToolError::invalid("budgetMb must be more than 0")),
        };
        Ok(AdvisorOptions {
            max_index_width: width as usize,
            max_indexes: max_indexes as usize,
            storage_budget_bytes: budget,
            min_improvement,
            write_penalty,
            time_budget: Duration::from_secs(u64::from(seconds)),
            ..AdvisorOptions::default()
        })
    }
}

/// Runs the engine on one pooled connection held for the call (see the module docs).
async fn advise(
    ctx: &Ctx,
    workload: &[WorkloadStatement],
    opts: &AdvisorOptions,
) -> ToolResult<IndexAdvice> {
    let mut guard = ctx.db().guard_pooled(ctx.db().client().await?);
    let result = match screen(ctx, guard.client(), workload).await {
        Ok(screened) => {
            let client: &tokio_postgres::Client = guard.client();
            recommend_indexes(client, &screened, opts).await
        }
        Err(e) => Err(e),
    };
    match result {
        // The engine rolled back its transaction, reset HypoPG and deallocated its
        // statements; the pool's reset follows.
        Ok(advice) => {
            guard.disarm();
            Ok(advice)
        }
        // Its cleanup may not have run: the connection is closed, not reused.
        Err(e) => {
            guard.disarm_discard();
            Err(e)
        }
    }
}

/// The workload with every statement the read policy would refuse as `EXPLAIN <statement>`
/// marked `refused`. The engine plans on its own connection as the connecting role, and
/// planning evaluates STABLE and IMMUTABLE functions (constant folding, selectivity
/// estimates): without this screen a function that reads a server file or writes through a
/// side channel would run there, and an error from it would carry what it read into the
/// answer. Checked in a READ ONLY transaction on the engine's connection, each statement
/// under a savepoint, all rolled back before the engine starts.
async fn screen(
    ctx: &Ctx,
    conn: &mut Conn,
    workload: &[WorkloadStatement],
) -> ToolResult<Vec<WorkloadStatement>> {
    conn.batch_execute("BEGIN READ ONLY")
        .await
        .map_err(ToolError::from)?;
    let mut out = Vec::with_capacity(workload.len());
    let mut failed = None;
    for w in workload {
        let mut w = w.clone();
        if let Err(e) = conn.batch_execute("SAVEPOINT pgmcp_screen").await {
            failed = Some(ToolError::from(e));
            break;
        }
        if let Err(e) = check_read_in_transaction(ctx, conn, &format!("EXPLAIN {}", w.sql)).await {
            w.refused = Some(format!("refused by the read policy: {}", e.error));
        }
        if let Err(e) = conn
            .batch_execute("ROLLBACK TO SAVEPOINT pgmcp_screen")
            .await
        {
            failed = Some(ToolError::from(e));
            break;
        }
        out.push(w);
    }
    let ended = conn.batch_execute("ROLLBACK").await;
    match (failed, ended) {
        (Some(e), _) => Err(e),
        (None, Err(e)) => Err(ToolError::from(e)),
        (None, Ok(())) => Ok(out),
    }
}

// ---------------------------------------------------------------------------------------

const ANALYZE_QUERY_INDEXES: Spec = Spec {
    name: "pg_analyze_query_indexes",
    title: "Recommend indexes for queries (HypoPG)",
    description: "Recommend B-tree indexes for 1–20 statements (SELECT, INSERT, UPDATE, DELETE; $n placeholders get a generic plan), costed with hypothetical indexes (HypoPG): nothing is created and nothing is executed.\nEach statement may carry a weight (how often it runs). Returns the recommended `CREATE INDEX` statements with their estimated size (an upper bound) and benefit, and per statement the cost before and after, the indexes its plan would use, or why none helps. Each statement must pass the read policy as `EXPLAIN <statement>` (planning evaluates stable functions); a refused one is reported skipped with the reason. Needs the hypopg extension: the error says how to install it.",
    hints: READ,
    shortcuts: &[],
};

/// A statement, alone or with its weight.
#[derive(Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum QueryInput {
    /// The statement (weight 1).
    Sql(String),
    /// The statement and how often it runs.
    Weighted {
        sql: String,
        /// Relative frequency (default 1).
        weight: Option<f64>,
    },
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AnalyzeQueryIndexesArgs {
    /// 1–20 statements: strings, or `{sql, weight}`.
    pub queries: Vec<QueryInput>,
    #[serde(flatten)]
    pub search: SearchArgs,
}

async fn analyze_query_indexes(ctx: Ctx, a: AnalyzeQueryIndexesArgs) -> ToolResult<IndexAdvice> {
    if a.queries.is_empty() || a.queries.len() > 20 {
        return Err(ToolError::invalid(format!(
            "queries must hold 1 to 20 statements (got {})",
            a.queries.len()
        ))
        .suggest("For a whole workload use pg_analyze_workload_indexes."));
    }
    let workload: Vec<WorkloadStatement> = a
        .queries
        .into_iter()
        .map(|q| match q {
            QueryInput::Sql(sql) => WorkloadStatement::new(sql, 1.0),
            QueryInput::Weighted { sql, weight } => {
                WorkloadStatement::new(sql, weight.unwrap_or(1.0))
            }
        })
        .collect();
    if let Some(empty) = workload.iter().position(|w| w.sql.trim().is_empty()) {
        return Err(ToolError::invalid(format!("queries[{empty}] is empty")));
    }
    let opts = a.search.options(5)?;
    advise(&ctx, &workload, &opts).await
}

// ---------------------------------------------------------------------------------------

const ANALYZE_WORKLOAD_INDEXES: Spec = Spec {
    name: "pg_analyze_workload_indexes",
    title: "Recommend indexes for the workload (pg_stat_statements + HypoPG)",
    description: "Recommend B-tree indexes for the current database's workload: the top `topN` statements of pg_stat_statements (by total execution time, at least `minCalls` calls, top-level SELECT/INSERT/UPDATE/DELETE/WITH, catalog queries left out), each weighted by its calls, costed with hypothetical indexes (HypoPG) on generic plans. Nothing is created or executed.\nReturns the recommended `CREATE INDEX` statements (in the order a greedy search chose them, with estimated size and write penalty), per statement the cost before and after, and the workload objective before/after. Needs pg_stat_statements and hypopg: the errors say how to install them.",
    hints: READ,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AnalyzeWorkloadIndexesArgs {
    /// Statements taken from pg_stat_statements, 1–200 (default 50).
    pub top_n: Option<u32>,
    /// Only statements called at least this often (default 10).
    pub min_calls: Option<u32>,
    #[serde(flatten)]
    pub search: SearchArgs,
}

#[derive(Deserialize)]
struct WorkloadRow {
    query: String,
    calls: f64,
}

#[derive(Deserialize)]
struct Window {
    seconds: Option<f64>,
}

/// The current database's top statements from pg_stat_statements, weighted by calls;
/// `table` keeps only those naming it. With them, the seconds their calls were counted
/// over (since `pg_stat_statements_info.stats_reset`, PostgreSQL 14+), when known.
async fn workload_from_stats(
    ctx: &Ctx,
    top_n: u32,
    min_calls: u32,
    table: Option<&str>,
) -> ToolResult<(Vec<WorkloadStatement>, Option<f64>)> {
    let setup = super::workload::pss_view(ctx).await?;
    let window = if setup.has_info {
        let rows = read_rows(
            ctx,
            &format!(
                "SELECT extract(epoch FROM now() - stats_reset)::float8 AS seconds \
                 FROM {}.pg_stat_statements_info",
                crate::db::ident::quote_ident(&setup.schema)
            ),
            &[],
        )
        .await?;
        decode::<Window>(rows)?
            .into_iter()
            .next()
            .and_then(|w| w.seconds)
            .filter(|s| *s > 0.0)
    } else {
        None
    };
    let sql = format!(
        "/* pgmcp:pg_stat_statements */ SELECT s.query, sum(s.calls)::float8 AS calls \
           FROM {setup} s \
          WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
            AND s.calls >= $1 {toplevel} \
            AND lower(ltrim(s.query, E' \\t\\r\\n(')) ~ '^(select|with|insert|update|delete)\\M' \
            AND s.query !~* '(pg_catalog|information_schema|pg_stat|hypopg|pgmcp)' \
            AND ($3::text IS NULL OR strpos(lower(s.query), lower($3)) > 0) \
          GROUP BY s.query ORDER BY sum(s.{total}) DESC, s.query LIMIT $2",
        setup = setup.view,
        toplevel = if setup.has_toplevel {
            "AND s.toplevel"
        } else {
            ""
        },
        total = setup.total_time,
    );
    let rows = read_rows(
        ctx,
        &sql,
        &[
            Value::from(min_calls),
            Value::from(top_n),
            Value::from(table),
        ],
    )
    .await
    .map_err(super::workload::pss_error)?;
    let rows: Vec<WorkloadRow> = decode(rows)?;
    let workload = rows
        .into_iter()
        .filter(|r| table.is_none_or(|t| names_table(&r.query, t)))
        .map(|r| WorkloadStatement::new(r.query, r.calls))
        .collect();
    Ok((workload, window))
}

/// Whether `query` mentions `table` as a whole word (case-insensitively).
fn names_table(query: &str, table: &str) -> bool {
    let q = query.to_lowercase();
    let t = table.to_lowercase();
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$');
    q.match_indices(&t)
        .any(|(i, _)| !word(q[..i].chars().next_back()) && !word(q[i + t.len()..].chars().next()))
}

async fn analyze_workload_indexes(
    ctx: Ctx,
    a: AnalyzeWorkloadIndexesArgs,
) -> ToolResult<IndexAdvice> {
    let top_n = a.top_n.unwrap_or(50);
    if !(1..=200).contains(&top_n) {
        return Err(ToolError::invalid("topN must be between 1 and 200"));
    }
    let min_calls = a.min_calls.unwrap_or(10);
    let opts = a.search.options(10)?;
    let (workload, window) = workload_from_stats(&ctx, top_n, min_calls, None).await?;
    let opts = AdvisorOptions {
        workload_window_seconds: window,
        ..opts
    };
    run_workload(&ctx, workload, &opts, top_n, min_calls, None).await
}

async fn run_workload(
    ctx: &Ctx,
    workload: Vec<WorkloadStatement>,
    opts: &AdvisorOptions,
    top_n: u32,
    min_calls: u32,
    table: Option<&str>,
) -> ToolResult<IndexAdvice> {
    let scope = table.map(|t| format!(" naming {t}")).unwrap_or_default();
    if workload.is_empty() {
        return Err(ToolError::not_found(
            crate::error::Code::NotFound,
            format!(
                "pg_stat_statements holds no statement{scope} of this database with at least {min_calls} calls to analyse"
            ),
        )
        .suggest("Lower minCalls, let the workload run for a while, or pass statements to pg_analyze_query_indexes."));
    }
    let mut advice = advise(ctx, &workload, opts).await?;
    advice.notes.insert(
        0,
        format!(
            "Workload: the top {} statements{scope} of pg_stat_statements in this database by total execution time (of at most {top_n}, each called at least {min_calls} times), weighted by calls.",
            workload.len()
        ),
    );
    Ok(advice)
}

// ---------------------------------------------------------------------------------------

const INDEX_RECOMMENDATIONS: Spec = Spec {
    name: "pg_index_recommendations",
    title: "Index recommendations for a query or a table",
    description: "Index recommendations in one call: with `sql`, for that statement (as pg_analyze_query_indexes); with `table`, for the pg_stat_statements workload statements that name that table (weighted by calls, as pg_analyze_workload_indexes). Costed with hypothetical indexes (HypoPG); nothing is created or executed.",
    hints: READ,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IndexRecommendationsArgs {
    /// One statement to recommend indexes for.
    #[serde(alias = "query")]
    pub sql: Option<String>,
    /// A table: recommend for the workload statements that name it.
    pub table: Option<String>,
    /// With `table`: only statements called at least this often (default 1).
    pub min_calls: Option<u32>,
    #[serde(flatten)]
    pub search: SearchArgs,
}

async fn index_recommendations(ctx: Ctx, a: IndexRecommendationsArgs) -> ToolResult<IndexAdvice> {
    match (a.sql, a.table) {
        (Some(sql), None) => {
            if sql.trim().is_empty() {
                return Err(ToolError::invalid("sql is empty"));
            }
            let opts = a.search.options(5)?;
            advise(&ctx, &[WorkloadStatement::new(sql, 1.0)], &opts).await
        }
        (None, Some(table)) => {
            let bare = table.rsplit('.').next().unwrap_or(&table).trim_matches('"');
            if bare.is_empty() {
                return Err(ToolError::invalid("table is empty"));
            }
            let opts = a.search.options(5)?;
            let min_calls = a.min_calls.unwrap_or(1);
            let (workload, window) = workload_from_stats(&ctx, 50, min_calls, Some(bare)).await?;
            let opts = AdvisorOptions {
                workload_window_seconds: window,
                ..opts
            };
            run_workload(&ctx, workload, &opts, 50, min_calls, Some(bare)).await
        }
        _ => Err(ToolError::invalid("pass exactly one of sql or table").suggest(
            "sql: recommendations for that statement; table: for the pg_stat_statements statements that name it.",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_table_as_a_whole_word() {
        assert!(names_table("SELECT * FROM orders WHERE id = $1", "orders"));
        assert!(names_table("select * from public.Orders o", "orders"));
        assert!(!names_table("SELECT * FROM orders_archive", "orders"));
        assert!(!names_table("SELECT * FROM old_orders", "orders"));
    }
}

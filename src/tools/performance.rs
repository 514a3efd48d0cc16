//! Performance tools: query plans and table access statistics.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::core::{resolve_relation, user_schema_filter};
use super::exec::{Mode, execute, read_rows};
use super::{Ctx, READ, Tool, tool};
use crate::db::ident::parse_qualified;
use crate::error::{Code, ToolError, ToolResult};

const GROUP: &str = "performance";

#[derive(Deserialize, JsonSchema, Clone, Copy, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PlanFormat {
    #[default]
    Json,
    Text,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExplainArgs {
    /// The statement to explain (one statement; $n placeholders allowed).
    #[serde(alias = "query")]
    pub sql: String,
    /// Values for $n placeholders.
    #[serde(default)]
    pub params: Vec<Value>,
    /// Run the statement to get real timings and row counts (EXPLAIN ANALYZE). It runs in a
    /// READ ONLY transaction that is rolled back, so only reads can be analyzed.
    #[serde(default)]
    pub analyze: bool,
    /// Include buffer usage (with analyze).
    #[serde(default)]
    pub buffers: bool,
    #[serde(default)]
    pub verbose: bool,
    /// `json` (default; structured plan) or `text` (the familiar indented plan).
    #[serde(default)]
    pub format: PlanFormat,
}

async fn explain(ctx: Ctx, a: ExplainArgs) -> ToolResult<Value> {
    let trimmed = a.sql.trim_start().to_ascii_lowercase();
    if trimmed.starts_with("explain") {
        return Err(
            ToolError::invalid("pass the statement itself, without EXPLAIN")
                .suggest("Use the analyze/buffers/verbose/format arguments for EXPLAIN options."),
        );
    }
    let mut options = vec![format!(
        "FORMAT {}",
        if a.format == PlanFormat::Json {
            "JSON"
        } else {
            "TEXT"
        }
    )];
    if a.analyze {
        options.push("ANALYZE".into());
        if a.buffers {
            options.push("BUFFERS".into());
        }
    }
    if a.verbose {
        options.push("VERBOSE".into());
    }
    let sql = format!("EXPLAIN ({}) {}", options.join(", "), a.sql);
    let out = execute(&ctx, &sql, &a.params, None, Mode::Read).await.map_err(|mut e| {
        if e.sqlstate.as_deref() == Some("25006") {
            e.suggestion = Some(
                "EXPLAIN ANALYZE executes the statement, and pg_explain is read-only; explain a write without analyze."
                    .into(),
            );
        }
        e
    })?;
    let first_col =
        |row: &serde_json::Map<String, Value>| row.values().next().cloned().unwrap_or(Value::Null);
    if a.format == PlanFormat::Text {
        let lines: Vec<String> = out
            .rows
            .iter()
            .filter_map(|r| first_col(r).as_str().map(str::to_string))
            .collect();
        return Ok(json!({ "plan": lines.join("\n") }));
    }
    // FORMAT JSON yields one row holding a one-element array.
    let doc = out.rows.first().map(first_col).unwrap_or(Value::Null);
    let top = doc.get(0).cloned().unwrap_or(Value::Null);
    let plan = top.get("Plan").cloned().unwrap_or(Value::Null);
    let mut result = json!({
        "plan": plan,
        "totalCost": plan.get("Total Cost"),
        "estimatedRows": plan.get("Plan Rows"),
    });
    for (from, to) in [
        ("Planning Time", "planningTimeMs"),
        ("Execution Time", "executionTimeMs"),
    ] {
        if let Some(v) = top.get(from) {
            result[to] = v.clone();
        }
    }
    if let Some(seq) = seq_scans(&plan) {
        result["seqScans"] = seq;
    }
    Ok(result)
}

/// Tables read by sequential scan anywhere in the plan: the usual first lead for indexes.
fn seq_scans(plan: &Value) -> Option<Value> {
    fn walk(node: &Value, out: &mut Vec<Value>) {
        if node.get("Node Type").and_then(Value::as_str) == Some("Seq Scan") {
            out.push(json!({
                "table": node.get("Relation Name"),
                "filter": node.get("Filter"),
                "rows": node.get("Actual Rows").or_else(|| node.get("Plan Rows")),
            }));
        }
        if let Some(children) = node.get("Plans").and_then(Value::as_array) {
            for c in children {
                walk(c, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(plan, &mut out);
    (!out.is_empty()).then(|| Value::Array(out))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TableStatsArgs {
    /// One table (`schema.table` allowed): the result is that table's statistics object.
    /// Without it, every user table's statistics are listed.
    pub table: Option<String>,
    pub schema: Option<String>,
    #[serde(default)]
    pub include_system: bool,
}

const STATS_COLUMNS: &str = "s.schemaname AS schema, s.relname AS table,
    s.seq_scan, s.seq_tup_read, s.idx_scan, s.idx_tup_fetch,
    s.n_live_tup, s.n_dead_tup, s.n_tup_ins, s.n_tup_upd, s.n_tup_del, s.n_tup_hot_upd,
    s.n_mod_since_analyze, s.last_vacuum, s.last_autovacuum, s.last_analyze, s.last_autoanalyze,
    s.vacuum_count, s.autovacuum_count, s.analyze_count, s.autoanalyze_count,
    pg_total_relation_size(s.relid) AS total_bytes,
    pg_size_pretty(pg_total_relation_size(s.relid)) AS size";

async fn table_stats(ctx: Ctx, a: TableStatsArgs) -> ToolResult<Value> {
    if let Some(t) = &a.table {
        let q = parse_qualified(t, a.schema.as_deref())?;
        let oid = resolve_relation(&ctx, &q, "table").await?;
        let rows = read_rows(
            &ctx,
            &format!("SELECT {STATS_COLUMNS} FROM pg_stat_all_tables s WHERE s.relid = $1::oid"),
            &[json!(oid)],
        )
        .await?;
        return rows.into_iter().next().ok_or_else(|| {
            ToolError::not_found(
                Code::NotFound,
                format!("'{q}' has no table statistics (is it a view?)"),
            )
        });
    }
    let sql = format!(
        "SELECT {STATS_COLUMNS} FROM pg_stat_all_tables s
          WHERE ($1::text IS NULL OR s.schemaname = $1) AND {}
          ORDER BY s.seq_tup_read DESC, 1, 2",
        user_schema_filter("s.schemaname", 2)
    );
    let show_system = a.include_system || a.schema.is_some();
    let rows = read_rows(&ctx, &sql, &[json!(a.schema), json!(show_system)]).await?;
    Ok(json!({ "tables": rows }))
}

const TABLE_STATS_TS: &str = "{ schema: string; table: string; seq_scan: number; seq_tup_read: number; idx_scan?: number; idx_tup_fetch?: number; n_live_tup: number; n_dead_tup: number; n_tup_ins: number; n_tup_upd: number; n_tup_del: number; last_vacuum?: string; last_autovacuum?: string; last_analyze?: string; last_autoanalyze?: string; total_bytes: number; size: string; [k: string]: any }";

pub fn tools() -> Vec<Tool> {
    vec![
        tool("pg_explain", GROUP, "Explain a query plan",
            "Show PostgreSQL's plan for a statement (EXPLAIN), optionally with real timings (analyze, read-only).\nThe JSON result lists totalCost, estimatedRows and every sequential scan (seqScans), the usual lead for missing indexes.",
            READ, explain)
            .returns("{ plan: any; totalCost?: number; estimatedRows?: number; planningTimeMs?: number; executionTimeMs?: number; seqScans?: { table: string; filter?: string; rows: number }[] }"),
        tool("pg_table_stats", GROUP, "Table access statistics",
            "Access statistics of tables from pg_stat_all_tables: sequential vs index scans, live/dead tuples, writes, vacuum and analyze times, size.\nWith `table`, returns that table's statistics object; otherwise `{tables: [...]}` for user tables, most sequentially-read first.",
            READ, table_stats)
            .returns(TABLE_STATS_TS),
    ]
}

//! Performance tools: query plans and table access statistics.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Number, Value};

mod health;

pub use alerts::{AlertThresholds, tools as alert_tools};
pub use health::core_tools as health_core_tools;

use super::catalog::Listing;
use super::core::resolve_relation;
use super::exec::{Mode, execute};
use super::relsize;
use super::{Ctx, READ, Shortcut, Spec, Tool};
use crate::db::ident::parse_qualified;
use crate::error::{Code, ToolError, ToolResult};

mod advice;
mod alerts;
mod anomaly;
mod connections;
mod diagnose;
mod partition;
mod plans;
mod whatif;
mod workload;

pub(crate) const GROUP: &str = "performance";

const EXPLAIN: Spec = Spec {
    name: "pg_explain",
    title: "Explain a query plan",
    description: "Show PostgreSQL's plan for a statement (EXPLAIN), optionally with real timings (analyze, read-only).\nThe JSON result gives totalCost, estimatedRows, every sequential scan (seqScans) and a summary (node tree, costliest nodes, misestimates); the whole JSON plan only with includePlan. What-if (HypoPG, estimated plans only): hypotheticalIndexes the planner should consider, hideIndexes it should ignore (HypoPG 1.4+); nothing is created or dropped.",
    hints: READ,
    shortcuts: &[Shortcut {
        name: "explain",
        positional: &["sql", "params"],
        shape: None,
    }],
};

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
    /// `json` (default; a summary for a model) or `text` (the familiar indented plan).
    #[serde(default)]
    pub format: PlanFormat,
    /// With format `json`: also return PostgreSQL's whole JSON plan tree (`plan`).
    #[serde(default)]
    pub include_plan: bool,
    /// Indexes that do not exist, for the planner to consider (HypoPG; at most 10; not with
    /// analyze). Nothing is created.
    #[serde(default)]
    pub hypothetical_indexes: Vec<whatif::HypotheticalIndex>,
    /// Existing indexes (`name` or `schema.name`) the planner must ignore (HypoPG 1.4+; at
    /// most 10; not with analyze). Nothing is dropped.
    #[serde(default)]
    pub hide_indexes: Vec<String>,
}

/// A statement's plan: with format `json`, `summary` (and PostgreSQL's JSON plan tree in
/// `plan`, the top `Plan` node with `Plans` below it, with includePlan); with format `text`,
/// the indented text plan in `plan`, alone.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Explain {
    // PostgreSQL's plan, user-shaped: described on the type (a description here would
    // spell the any-JSON schema out as a union in the declarations).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<Value>,
    /// The plan summarized: node tree, costliest nodes, sequential scans, misestimates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<plans::PlanSummary>,
    /// The hypothetical indexes given, and whether the plan uses each.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hypothetical_indexes: Option<Vec<whatif::HypotheticalUse>>,
    /// The indexes hidden from the planner (`schema.name`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hidden_indexes: Option<Vec<String>>,
    /// The planner's estimated total cost of the whole statement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_cost: Option<Number>,
    /// The planner's estimate of the rows the statement returns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_rows: Option<Number>,
    /// Planning time in milliseconds (with analyze).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub planning_time_ms: Option<Number>,
    /// Execution time in milliseconds (with analyze).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_time_ms: Option<Number>,
    /// Every sequential scan in the plan, in plan order; absent when there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq_scans: Option<Vec<SeqScan>>,
}

/// A table read by sequential scan.
#[derive(Serialize, JsonSchema)]
pub struct SeqScan {
    /// The table's name.
    pub table: String,
    /// The scan's filter condition; null when it reads every row.
    #[schemars(required, schema_with = "string_or_null")]
    pub filter: Option<String>,
    /// Rows the scan returns: actual with analyze, else estimated.
    pub rows: Number,
}

fn string_or_null(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "anyOf": [{ "type": "string" }, { "type": "null" }] })
}

fn number(v: Option<&Value>) -> Option<Number> {
    match v {
        Some(Value::Number(n)) => Some(n.clone()),
        _ => None,
    }
}

async fn explain(ctx: Ctx, a: ExplainArgs) -> ToolResult<Explain> {
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
    let what_if = !a.hypothetical_indexes.is_empty() || !a.hide_indexes.is_empty();
    if what_if && a.analyze {
        return Err(ToolError::invalid(
            "hypothetical and hidden indexes apply to estimated plans only: drop analyze",
        ));
    }
    let (rows, hypothetical, hidden) = if what_if {
        let w = whatif::explain(
            &ctx,
            &sql,
            &a.params,
            &a.hypothetical_indexes,
            &a.hide_indexes,
        )
        .await?;
        (w.rows, Some(w.hypothetical), Some(w.hidden))
    } else {
        let out = execute(&ctx, &sql, &a.params, None, Mode::Read).await.map_err(|mut e| {
            if e.sqlstate.as_deref() == Some("25006") {
                e.suggestion = Some(
                    "EXPLAIN ANALYZE executes the statement, and pg_explain is read-only; explain a write without analyze."
                        .into(),
                );
            }
            e
        })?;
        (out.rows, None, None)
    };
    let first_col =
        |row: &serde_json::Map<String, Value>| row.values().next().cloned().unwrap_or(Value::Null);
    if a.format == PlanFormat::Text {
        let lines: Vec<String> = rows
            .iter()
            .filter_map(|r| first_col(r).as_str().map(str::to_string))
            .collect();
        return Ok(Explain {
            plan: Some(lines.join("\n").into()),
            summary: None,
            hypothetical_indexes: hypothetical,
            hidden_indexes: hidden,
            total_cost: None,
            estimated_rows: None,
            planning_time_ms: None,
            execution_time_ms: None,
            seq_scans: None,
        });
    }
    // FORMAT JSON yields one row holding a one-element array.
    let doc = rows.first().map(first_col).unwrap_or(Value::Null);
    let top = doc.get(0).cloned().unwrap_or(Value::Null);
    let plan = top.get("Plan").cloned().unwrap_or(Value::Null);
    Ok(Explain {
        total_cost: number(plan.get("Total Cost")),
        estimated_rows: number(plan.get("Plan Rows")),
        planning_time_ms: number(top.get("Planning Time")),
        execution_time_ms: number(top.get("Execution Time")),
        seq_scans: seq_scans(&plan),
        summary: Some(plans::summarize(&top)),
        hypothetical_indexes: hypothetical,
        hidden_indexes: hidden,
        plan: a.include_plan.then_some(plan),
    })
}

/// Tables read by sequential scan anywhere in the plan: the usual first lead for indexes.
fn seq_scans(plan: &Value) -> Option<Vec<SeqScan>> {
    fn walk(node: &Value, out: &mut Vec<SeqScan>) {
        if node.get("Node Type").and_then(Value::as_str) == Some("Seq Scan") {
            let text = |key| node.get(key).and_then(Value::as_str).map(str::to_string);
            out.push(SeqScan {
                table: text("Relation Name").unwrap_or_default(),
                filter: text("Filter"),
                rows: number(node.get("Actual Rows").or_else(|| node.get("Plan Rows")))
                    .unwrap_or_else(|| 0.into()),
            });
        }
        if let Some(children) = node.get("Plans").and_then(Value::as_array) {
            for c in children {
                walk(c, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(plan, &mut out);
    (!out.is_empty()).then_some(out)
}

const TABLE_STATS: Spec = Spec {
    name: "pg_table_stats",
    title: "Table access statistics",
    description: "Access statistics of tables from pg_stat_all_tables: sequential vs index scans, live/dead tuples, writes, vacuum and analyze times, size.\nWith `table`, returns that table's statistics object; otherwise `{tables: [...]}` for user tables, most sequentially-read first.",
    hints: READ,
    shortcuts: &[Shortcut {
        name: "getTableStats",
        positional: &["table", "schema"],
        shape: Some("stats"),
    }],
};

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

fn stats_columns() -> String {
    format!(
        "s.schemaname AS schema, s.relname AS table,
    s.seq_scan, s.seq_tup_read, s.idx_scan, s.idx_tup_fetch,
    s.n_live_tup, s.n_dead_tup, s.n_tup_ins, s.n_tup_upd, s.n_tup_del, s.n_tup_hot_upd,
    s.n_mod_since_analyze, s.last_vacuum, s.last_autovacuum, s.last_analyze, s.last_autoanalyze,
    s.vacuum_count, s.autovacuum_count, s.analyze_count, s.autoanalyze_count,
    {bytes} AS total_bytes, pg_size_pretty({bytes}) AS size",
        bytes = relsize::size("pg_total_relation_size", "s.relid")
    )
}

/// One table's row of pg_stat_all_tables (PostgreSQL's column names), with its size.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct TableStats {
    pub schema: String,
    pub table: String,
    /// Sequential scans started on the table.
    pub seq_scan: i64,
    /// Live rows fetched by sequential scans.
    pub seq_tup_read: i64,
    /// Index scans started on the table's indexes; absent when it has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idx_scan: Option<i64>,
    /// Live rows fetched by index scans; absent when it has no index.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idx_tup_fetch: Option<i64>,
    /// Estimated live rows.
    pub n_live_tup: i64,
    /// Estimated dead rows (left by updates and deletes until vacuumed).
    pub n_dead_tup: i64,
    /// Rows inserted.
    pub n_tup_ins: i64,
    /// Rows updated (HOT updates included).
    pub n_tup_upd: i64,
    /// Rows deleted.
    pub n_tup_del: i64,
    /// Rows HOT-updated (no index entry needed).
    pub n_tup_hot_upd: i64,
    /// Rows modified since the table was last analyzed.
    pub n_mod_since_analyze: i64,
    /// Last manual VACUUM (absent: never).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_vacuum: Option<String>,
    /// Last autovacuum (absent: never).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_autovacuum: Option<String>,
    /// Last manual ANALYZE (absent: never).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_analyze: Option<String>,
    /// Last autoanalyze (absent: never).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_autoanalyze: Option<String>,
    pub vacuum_count: i64,
    pub autovacuum_count: i64,
    pub analyze_count: i64,
    pub autoanalyze_count: i64,
    /// Size with indexes and TOAST, in bytes; absent while the table is locked (another session
    /// holds or waits for an ACCESS EXCLUSIVE lock on it or its indexes; not waited for).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_bytes: Option<i64>,
    /// `total_bytes` for reading, e.g. `16 kB`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
}

/// One table's statistics (with `table`), or every user table's.
#[derive(Serialize, JsonSchema)]
#[serde(untagged)]
pub enum TableStatsResult {
    /// With `table`: that table's statistics.
    One(Box<TableStats>),
    /// Without `table`: user tables, most sequentially-read first.
    All { tables: Vec<TableStats> },
}

async fn table_stats(ctx: Ctx, a: TableStatsArgs) -> ToolResult<TableStatsResult> {
    let listing = Listing::new(stats_columns(), "pg_stat_all_tables s");
    if let Some(t) = &a.table {
        let q = parse_qualified(t, a.schema.as_deref())?;
        let oid = resolve_relation(&ctx, &q, "table").await?;
        let rows = listing
            .filter("s.relid = {}::oid", oid)
            .all::<TableStats>(&ctx)
            .await?;
        return match rows.into_iter().next() {
            Some(stats) => Ok(TableStatsResult::One(Box::new(stats))),
            None => Err(ToolError::not_found(
                Code::NotFound,
                format!("'{q}' has no table statistics (is it a view?)"),
            )),
        };
    }
    let tables = listing
        .schema("s.schemaname", a.schema.as_deref())
        .hide_system_schemas("s.schemaname", a.include_system || a.schema.is_some())
        .order_by("s.seq_tup_read DESC, 1, 2")
        .all(&ctx)
        .await?;
    Ok(TableStatsResult::All { tables })
}

/// The group's tools in listing order; each family module adds its own list here.
pub fn tools() -> Vec<Tool> {
    let mut tools = vec![
        EXPLAIN.tool(GROUP, explain),
        TABLE_STATS.tool(GROUP, table_stats),
    ];
    // Family modules (plans, workload, advice, health) extend the list here, one line each.
    tools.extend(plans::tools());
    tools.extend(workload::tools());
    tools.extend(advice::tools());
    tools.extend(health::tools());
    tools.extend(anomaly::tools());
    tools.extend(connections::tools());
    tools.extend(diagnose::tools());
    tools.extend(partition::tools());
    tools
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both plan forms, and a scan without a filter (null, as before the type), pass the
    /// output schema.
    #[test]
    fn explain_results_match_the_output_schema() {
        let t = EXPLAIN.tool(GROUP, explain);
        let schema = Value::Object((**t.output_schema().unwrap()).clone());
        let v = jsonschema::draft202012::new(&schema).unwrap();
        let node =
            serde_json::json!({"Node Type": "Seq Scan", "Relation Name": "t", "Plan Rows": 3});
        let json_plan = Explain {
            plan: Some(node.clone()),
            summary: Some(plans::summarize(&serde_json::json!({ "Plan": node }))),
            hypothetical_indexes: None,
            hidden_indexes: None,
            total_cost: serde_json::Number::from_f64(1.5),
            estimated_rows: Some(3.into()),
            planning_time_ms: None,
            execution_time_ms: None,
            seq_scans: seq_scans(
                &serde_json::json!({"Node Type": "Seq Scan", "Relation Name": "t", "Plan Rows": 3}),
            ),
        };
        let json_plan = serde_json::to_value(json_plan).unwrap();
        assert_eq!(json_plan["seqScans"][0]["filter"], Value::Null);
        assert!(v.is_valid(&json_plan), "{json_plan}");
        assert!(v.is_valid(&serde_json::json!({"plan": "Seq Scan on t"})));
        assert!(
            !v.is_valid(&serde_json::json!({"plan": {}, "seqScans": [{"table": "t", "rows": 1}]}))
        );
        // Its TypeScript declaration is checked in codemode::api (tools/ never names codemode/).
    }
}

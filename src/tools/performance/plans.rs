//! Executed plans and plan comparison: EXPLAIN ANALYZE (reads through the read policy in a
//! READ ONLY transaction; writes in a transaction that is always rolled back), buffer
//! usage, plan statistics, and two plans compared on one session.
//!
//! Every plan is summarized for a model: a compact node tree, the costliest nodes (by
//! exclusive time when executed, else by exclusive cost), sequential scans and row
//! misestimates; PostgreSQL's full JSON plan only with `includePlan: true`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::GROUP;
use crate::db::pool::may_load_library;
use crate::db::run_query;
use crate::error::{Category, Code, ToolError, ToolResult};
use crate::tools::exec::{
    Mode, check_read_in_transaction, execute, plans_a_write_only, set_role_sql,
};
use crate::tools::{Ctx, Hints, READ, Spec, Tool};

pub fn tools() -> Vec<Tool> {
    vec![
        // In read-only mode they stay available and refuse writes themselves.
        EXPLAIN_ANALYZE
            .tool(GROUP, explain_analyze)
            .enforcing_read_only(),
        EXPLAIN_BUFFERS
            .tool(GROUP, explain_buffers)
            .enforcing_read_only(),
        QUERY_PLAN_STATS.tool(GROUP, query_plan_stats),
        QUERY_PLAN_COMPARE.tool(GROUP, query_plan_compare),
    ]
}

/// Runs the statement: a write's effects are rolled back, but it still takes locks, fires
/// triggers' side effects outside the database and advances sequences.
const EXECUTES: Hints = Hints {
    read_only: false,
    destructive: false,
    idempotent: false,
    open_world: false,
};

// ---------------------------------------------------------------------------------------
// The plan summary.

/// Most nodes listed in `nodes`.
const MAX_NODES: usize = 60;

/// A node of the compact plan tree.
#[derive(Serialize, JsonSchema, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct PlanNode {
    /// Position in the tree: `0` is the root, `0.1` its second child.
    pub path: String,
    pub depth: u32,
    /// e.g. `Seq Scan`, `Hash Join (Inner)`, `Index Scan`.
    pub node_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<String>,
    /// Estimated total cost (planner units), children included.
    pub total_cost: f64,
    /// Estimated rows per loop.
    pub estimated_rows: f64,
    /// Actual rows per loop (executed plans).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual_rows: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loops: Option<f64>,
    /// Time in this node and its children over all loops, ms (executed with timing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_time_ms: Option<f64>,
    /// Time in this node alone, ms (children subtracted, at least 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub self_time_ms: Option<f64>,
    /// Cost of this node alone (children subtracted, at least 0).
    pub self_cost: f64,
    /// The node was never executed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub never_executed: bool,
}

/// A node among the costliest.
#[derive(Serialize, JsonSchema, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct CostlyNode {
    pub path: String,
    pub node_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relation: Option<String>,
    /// Its own time (executed plans) or its own cost (estimated plans).
    pub self_value: f64,
    /// `self_value` as a share of the whole plan's, 0–1.
    pub share: f64,
}

/// A sequential scan.
#[derive(Serialize, JsonSchema, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct ScanInfo {
    pub path: String,
    pub table: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// Rows returned (actual over all loops when executed, else estimated).
    pub rows: f64,
    /// Rows read and discarded by the filter (executed plans).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows_removed_by_filter: Option<f64>,
}

/// A node whose row estimate is off by at least 10× (q-error), on at least 100 rows.
#[derive(Serialize, JsonSchema, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Misestimate {
    pub path: String,
    pub node_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relation: Option<String>,
    pub estimated_rows: f64,
    pub actual_rows: f64,
    pub loops: f64,
    /// max(est, act) / min(est, act), each at least 1.
    pub q_error: f64,
    /// `under` (more rows than estimated) or `over`.
    pub direction: String,
}

/// Buffer usage of the whole statement (the root node's counters), in 8 kB blocks.
#[derive(Serialize, JsonSchema, Clone, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct Buffers {
    pub shared_hit: f64,
    pub shared_read: f64,
    pub shared_dirtied: f64,
    pub shared_written: f64,
    pub local_hit: f64,
    pub local_read: f64,
    pub temp_read: f64,
    pub temp_written: f64,
    /// shared hit / (hit + read); absent when no shared block was touched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hit_ratio: Option<f64>,
}

/// A plan summarized.
#[derive(Serialize, JsonSchema, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct PlanSummary {
    /// The root's estimated total cost.
    pub total_cost: f64,
    pub estimated_rows: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actual_rows: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub planning_time_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_time_ms: Option<f64>,
    /// The node tree in pre-order (at most 60 nodes; see `nodeCount`).
    pub nodes: Vec<PlanNode>,
    pub node_count: usize,
    /// The five costliest nodes by their own time (executed) or own cost (estimated).
    pub costly_nodes: Vec<CostlyNode>,
    pub seq_scans: Vec<ScanInfo>,
    /// Deepest first: the bottom one is usually the root cause.
    pub misestimates: Vec<Misestimate>,
    /// With BUFFERS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buffers: Option<Buffers>,
}

fn num(node: &Value, key: &str) -> Option<f64> {
    node.get(key).and_then(Value::as_f64)
}

fn text(node: &Value, key: &str) -> Option<String> {
    node.get(key).and_then(Value::as_str).map(str::to_string)
}

fn children(node: &Value) -> &[Value] {
    node.get("Plans")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn relation(node: &Value) -> Option<String> {
    let rel = text(node, "Relation Name")?;
    Some(match text(node, "Schema") {
        Some(s) => format!("{s}.{rel}"),
        None => rel,
    })
}

/// Summarizes one element of `EXPLAIN (FORMAT JSON)`'s array (`{"Plan": …, …}`).
pub fn summarize(top: &Value) -> PlanSummary {
    let root = top.get("Plan").unwrap_or(&Value::Null);
    let mut all = Vec::new();
    let mut seq_scans = Vec::new();
    let mut mis: Vec<(u32, Misestimate)> = Vec::new();
    walk(root, "0".into(), 0, &mut all, &mut seq_scans, &mut mis);
    let executed = root.get("Actual Rows").is_some();
    let timed = all.iter().any(|n| n.self_time_ms.is_some());
    let value = |n: &PlanNode| {
        if timed {
            n.self_time_ms.unwrap_or(0.0)
        } else {
            n.self_cost
        }
    };
    let whole: f64 = all.iter().map(value).sum();
    let mut ranked: Vec<&PlanNode> = all.iter().collect();
    ranked.sort_by(|a, b| value(b).total_cmp(&value(a)).then(a.path.cmp(&b.path)));
    let costly_nodes = ranked
        .into_iter()
        .take(5)
        .filter(|n| value(n) > 0.0)
        .map(|n| CostlyNode {
            path: n.path.clone(),
            node_type: n.node_type.clone(),
            relation: n.relation.clone(),
            self_value: round3(value(n)),
            share: if whole > 0.0 {
                round3(value(n) / whole)
            } else {
                0.0
            },
        })
        .collect();
    mis.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.path.cmp(&b.1.path)));
    let buffers = root.get("Shared Hit Blocks").map(|_| {
        let b = |k| num(root, k).unwrap_or(0.0);
        let (hit, read) = (b("Shared Hit Blocks"), b("Shared Read Blocks"));
        Buffers {
            shared_hit: hit,
            shared_read: read,
            shared_dirtied: b("Shared Dirtied Blocks"),
            shared_written: b("Shared Written Blocks"),
            local_hit: b("Local Hit Blocks"),
            local_read: b("Local Read Blocks"),
            temp_read: b("Temp Read Blocks"),
            temp_written: b("Temp Written Blocks"),
            hit_ratio: (hit + read > 0.0).then(|| round3(hit / (hit + read))),
        }
    });
    let node_count = all.len();
    all.truncate(MAX_NODES);
    PlanSummary {
        total_cost: num(root, "Total Cost").unwrap_or(0.0),
        estimated_rows: num(root, "Plan Rows").unwrap_or(0.0),
        actual_rows: executed.then(|| num(root, "Actual Rows").unwrap_or(0.0)),
        planning_time_ms: num(top, "Planning Time"),
        execution_time_ms: num(top, "Execution Time"),
        nodes: all,
        node_count,
        costly_nodes,
        seq_scans,
        misestimates: mis.into_iter().map(|(_, m)| m).take(10).collect(),
        buffers,
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn walk(
    node: &Value,
    path: String,
    depth: u32,
    out: &mut Vec<PlanNode>,
    scans: &mut Vec<ScanInfo>,
    mis: &mut Vec<(u32, Misestimate)>,
) {
    let mut node_type = text(node, "Node Type").unwrap_or_default();
    if let Some(j) = text(node, "Join Type") {
        node_type = format!("{node_type} ({j})");
    }
    let loops = num(node, "Actual Loops");
    let actual = num(node, "Actual Rows");
    let est = num(node, "Plan Rows").unwrap_or(0.0);
    let incl = |n: &Value| {
        let l = num(n, "Actual Loops")?;
        Some(num(n, "Actual Total Time")? * l)
    };
    let total_time = incl(node);
    let kids = children(node);
    // InitPlans run once and are not part of their parent's time.
    let child_time: f64 = kids
        .iter()
        .filter(|c| text(c, "Parent Relationship").as_deref() != Some("InitPlan"))
        .filter_map(incl)
        .sum();
    let cost = num(node, "Total Cost").unwrap_or(0.0);
    let child_cost: f64 = kids
        .iter()
        .filter(|c| text(c, "Parent Relationship").as_deref() != Some("InitPlan"))
        .filter_map(|c| num(c, "Total Cost"))
        .sum();
    let relation = relation(node);
    let never = loops == Some(0.0);
    out.push(PlanNode {
        path: path.clone(),
        depth,
        node_type: node_type.clone(),
        relation: relation.clone(),
        index: text(node, "Index Name"),
        total_cost: cost,
        estimated_rows: est,
        actual_rows: actual,
        loops,
        total_time_ms: total_time.map(round3),
        self_time_ms: total_time.map(|t| round3((t - child_time).max(0.0))),
        self_cost: round3((cost - child_cost).max(0.0)),
        never_executed: never,
    });
    if text(node, "Node Type").as_deref() == Some("Seq Scan") {
        scans.push(ScanInfo {
            path: path.clone(),
            table: relation.clone().unwrap_or_default(),
            filter: text(node, "Filter"),
            rows: match (actual, loops) {
                (Some(a), Some(l)) => a * l,
                _ => est,
            },
            rows_removed_by_filter: num(node, "Rows Removed by Filter")
                .map(|r| r * loops.unwrap_or(1.0)),
        });
    }
    if let (Some(act), Some(l)) = (actual, loops)
        && !never
    {
        let (e1, a1) = (est.max(1.0), act.max(1.0));
        let q = e1.max(a1) / e1.min(a1);
        if q >= 10.0 && act.max(est) * l >= 100.0 {
            mis.push((
                depth,
                Misestimate {
                    path: path.clone(),
                    node_type,
                    relation,
                    estimated_rows: est,
                    actual_rows: act,
                    loops: l,
                    q_error: round3(q),
                    direction: if act > est { "under" } else { "over" }.into(),
                },
            ));
        }
    }
    for (i, c) in kids.iter().enumerate() {
        walk(c, format!("{path}.{i}"), depth + 1, out, scans, mis);
    }
}

// ---------------------------------------------------------------------------------------
// Running EXPLAIN ANALYZE.

/// Whether `sql` is one INSERT, UPDATE, DELETE or MERGE, or a query with a data-modifying
/// WITH: a write, which EXPLAIN ANALYZE would execute.
fn is_write(sql: &str) -> bool {
    use pg_query::NodeEnum;
    let Ok(parsed) = pg_query::parse(sql, pg_query::ParserOptions::DEFAULT) else {
        return false;
    };
    let [raw] = parsed.protobuf.stmts.as_slice() else {
        return false;
    };
    let Some(node) = raw.stmt.as_ref().and_then(|s| s.node.as_ref()) else {
        return false;
    };
    match node {
        NodeEnum::InsertStmt(_)
        | NodeEnum::UpdateStmt(_)
        | NodeEnum::DeleteStmt(_)
        | NodeEnum::MergeStmt(_) => true,
        NodeEnum::SelectStmt(s) => s.with_clause.as_ref().is_some_and(|w| {
            w.ctes.iter().any(|cte| {
                matches!(
                    cte.node.as_ref(),
                    Some(NodeEnum::CommonTableExpr(c)) if c.ctequery.as_ref().and_then(|q| q.node.as_ref()).is_some_and(|q| matches!(q,
                        NodeEnum::InsertStmt(_) | NodeEnum::UpdateStmt(_) | NodeEnum::DeleteStmt(_) | NodeEnum::MergeStmt(_)))
                )
            })
        }),
        _ => false,
    }
}

fn refuse_explain_prefix(sql: &str) -> ToolResult<()> {
    if sql
        .trim_start()
        .get(..7)
        .is_some_and(|w| w.eq_ignore_ascii_case("explain"))
    {
        return Err(
            ToolError::invalid("pass the statement itself, without EXPLAIN")
                .suggest("The tool adds EXPLAIN and its options."),
        );
    }
    if sql.trim().is_empty() {
        return Err(ToolError::invalid("sql is empty"));
    }
    Ok(())
}

#[derive(Default, Clone, Copy)]
struct Options {
    buffers: bool,
    timing: bool,
    verbose: bool,
    /// PG17+.
    memory: bool,
    /// PG17+.
    serialize: bool,
}

impl Options {
    fn sql(self, analyze: bool, sql: &str) -> String {
        let mut o = vec!["FORMAT JSON"];
        if analyze {
            o.push("ANALYZE");
            if !self.timing {
                o.push("TIMING OFF");
            }
            if self.serialize {
                o.push("SERIALIZE");
            }
        }
        if self.buffers {
            o.push("BUFFERS");
        }
        if self.verbose {
            o.push("VERBOSE");
        }
        if self.memory {
            o.push("MEMORY");
        }
        format!("EXPLAIN ({}) {sql}", o.join(", "))
    }
}

/// A version-gated EXPLAIN option on an older server gets a clear suggestion.
fn explain_error(mut e: ToolError) -> ToolError {
    if e.error.contains("unrecognized EXPLAIN option") {
        e.suggestion = Some(
            "memory and serialize need PostgreSQL 17 or later; leave them out on this server."
                .into(),
        );
    }
    e
}

/// The one-element array FORMAT JSON returns, from the first column of the first row.
fn plan_document(rows: &[serde_json::Map<String, Value>]) -> ToolResult<Value> {
    rows.first()
        .and_then(|r| r.values().next())
        .and_then(|doc| doc.get(0))
        .cloned()
        .ok_or_else(|| ToolError::internal("EXPLAIN returned no plan"))
}

/// EXPLAIN ANALYZE: a read through the read policy (READ ONLY, rolled back); a write,
/// unless the call is read-only, in a read-write transaction that is rolled back.
/// Returns the plan document and whether the statement was a write.
async fn run_analyze(
    ctx: &Ctx,
    sql: &str,
    params: &[Value],
    opts: Options,
    allow_write: bool,
) -> ToolResult<(Value, bool)> {
    refuse_explain_prefix(sql)?;
    let explain = opts.sql(true, sql);
    if !is_write(sql) {
        let out = execute(ctx, &explain, params, None, Mode::Read)
            .await
            .map_err(explain_error)?;
        return Ok((plan_document(&out.rows)?, false));
    }
    if !allow_write {
        return Err(ToolError::new(
            Category::Permission,
            Code::ReadOnlyViolation,
            "this tool analyzes reads only, and the statement writes",
        )
        .suggest("Use pg_explain_analyze (it runs a write in a transaction that is rolled back), or pg_explain for the estimated plan."));
    }
    if ctx.read_only {
        return Err(ToolError::new(
            Category::Permission,
            Code::ReadOnlyViolation,
            "EXPLAIN ANALYZE executes the statement, and writes are not allowed in read-only mode",
        )
        .suggest("Use pg_explain for the estimated plan of a write (it executes nothing)."));
    }
    if ctx.transaction.is_some() {
        return Err(ToolError::invalid(
            "EXPLAIN ANALYZE of a write is not run inside a pinned transaction",
        )
        .suggest("Call it outside the transaction: it runs the write in its own transaction and rolls it back."));
    }
    let mut guard = ctx.db().guard_pooled(ctx.db().client().await?);
    let conn = guard.client();
    conn.forget_all();
    if may_load_library(sql) {
        conn.discard();
    }
    let caps = ctx.caps();
    let client: &tokio_postgres::Client = conn;
    let out = match client.batch_execute("BEGIN READ WRITE").await {
        Ok(()) => run_query(client, &explain, params, caps).await,
        Err(e) => Err(e.into()),
    };
    // Whatever happened, the write is undone before the connection is given back.
    let rolled_back = client.batch_execute("ROLLBACK").await;
    match (&out, rolled_back) {
        (Ok(o), Ok(())) if !o.large_row => guard.disarm(),
        (Err(_), Ok(())) => guard.disarm(),
        _ => guard.disarm_discard(),
    }
    let out = out.map_err(explain_error)?;
    Ok((plan_document(&out.rows)?, true))
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalyzedPlan {
    /// The statement wrote (INSERT/UPDATE/DELETE/MERGE): it ran and was rolled back.
    pub rolled_back: bool,
    pub summary: PlanSummary,
    /// Planning memory in kB (PG17 `memory`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub planning_memory_kb: Option<f64>,
    /// Time to serialize the result, ms (PG17 `serialize`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serialization_ms: Option<f64>,
    /// Bytes the result would have sent, in kB (PG17 `serialize`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serialized_kb: Option<f64>,
    // PostgreSQL's JSON plan, user-shaped: only with includePlan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<Value>,
}

fn analyzed(top: Value, rolled_back: bool, include_plan: bool) -> AnalyzedPlan {
    let planning = top.get("Planning");
    let ser = top.get("Serialization");
    AnalyzedPlan {
        rolled_back,
        summary: summarize(&top),
        planning_memory_kb: planning.and_then(|p| num(p, "Memory Used")),
        serialization_ms: ser.and_then(|s| num(s, "Time")),
        serialized_kb: ser.and_then(|s| num(s, "Output Volume")),
        plan: include_plan.then(|| top.get("Plan").cloned().unwrap_or(Value::Null)),
    }
}

const EXPLAIN_ANALYZE: Spec = Spec {
    name: "pg_explain_analyze",
    title: "Run a statement with EXPLAIN ANALYZE",
    description: "EXECUTES the statement with EXPLAIN ANALYZE and summarizes where the time went: the node tree with actual rows, loops and per-node time, the costliest nodes, sequential scans, row misestimates (q-error ≥ 10) and, with buffers (default on), shared/local/temp block I/O. The full JSON plan only with includePlan.\nA read runs in a READ ONLY transaction through the read policy. A write (INSERT/UPDATE/DELETE/MERGE, data-modifying WITH) runs in a transaction that is ROLLED BACK: its changes are undone, but it takes its locks, fires triggers and advances sequences; it is refused in read-only mode. PG17: memory, serialize.",
    hints: EXECUTES,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExplainAnalyzeArgs {
    /// The statement (one; $n placeholders allowed), without EXPLAIN.
    #[serde(alias = "query")]
    pub sql: String,
    /// Values for $n placeholders.
    #[serde(default)]
    pub params: Vec<Value>,
    /// Buffer usage (default true).
    pub buffers: Option<bool>,
    /// Per-node timing (default true; off lowers the overhead on many cheap rows).
    pub timing: Option<bool>,
    #[serde(default)]
    pub verbose: bool,
    /// Planning memory (PostgreSQL 17+).
    #[serde(default)]
    pub memory: bool,
    /// Cost of serializing the result (PostgreSQL 17+).
    #[serde(default)]
    pub serialize: bool,
    /// Include PostgreSQL's full JSON plan.
    #[serde(default)]
    pub include_plan: bool,
}

async fn explain_analyze(ctx: Ctx, a: ExplainAnalyzeArgs) -> ToolResult<AnalyzedPlan> {
    let opts = Options {
        buffers: a.buffers.unwrap_or(true),
        timing: a.timing.unwrap_or(true),
        verbose: a.verbose,
        memory: a.memory,
        serialize: a.serialize,
    };
    let (top, wrote) = run_analyze(&ctx, &a.sql, &a.params, opts, true).await?;
    Ok(analyzed(top, wrote, a.include_plan))
}

const EXPLAIN_BUFFERS: Spec = Spec {
    name: "pg_explain_buffers",
    title: "EXPLAIN (ANALYZE, BUFFERS)",
    description: "EXECUTES the statement with EXPLAIN (ANALYZE, BUFFERS) and reports its block I/O: shared hits/reads/dirtied/written, local and temp blocks, the cache hit ratio, and the plan summary (costliest nodes, sequential scans, misestimates). Same safety as pg_explain_analyze: a read runs READ ONLY; a write runs in a transaction that is ROLLED BACK and is refused in read-only mode.",
    hints: EXECUTES,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExplainBuffersArgs {
    /// The statement (one; $n placeholders allowed), without EXPLAIN.
    #[serde(alias = "query")]
    pub sql: String,
    /// Values for $n placeholders.
    #[serde(default)]
    pub params: Vec<Value>,
    /// Include PostgreSQL's full JSON plan.
    #[serde(default)]
    pub include_plan: bool,
}

async fn explain_buffers(ctx: Ctx, a: ExplainBuffersArgs) -> ToolResult<AnalyzedPlan> {
    let opts = Options {
        buffers: true,
        timing: true,
        ..Options::default()
    };
    let (top, wrote) = run_analyze(&ctx, &a.sql, &a.params, opts, true).await?;
    Ok(analyzed(top, wrote, a.include_plan))
}

const QUERY_PLAN_STATS: Spec = Spec {
    name: "pg_query_plan_stats",
    title: "Plan statistics of a query",
    description: "Runs a read (SELECT, VALUES, TABLE, read-only WITH) with EXPLAIN (ANALYZE, BUFFERS) in a READ ONLY transaction and returns the plan summary: planning and execution time, the costliest nodes by their own time, sequential scans with rows removed by filters, row misestimates (estimated vs actual, q-error ≥ 10, deepest first) and buffer I/O. Writes are refused: use pg_explain_analyze.",
    hints: READ,
    shortcuts: &[],
};

async fn query_plan_stats(ctx: Ctx, a: ExplainBuffersArgs) -> ToolResult<AnalyzedPlan> {
    let opts = Options {
        buffers: true,
        timing: true,
        ..Options::default()
    };
    let (top, wrote) = run_analyze(&ctx, &a.sql, &a.params, opts, false).await?;
    Ok(analyzed(top, wrote, a.include_plan))
}

// ---------------------------------------------------------------------------------------
// Plan comparison.

const QUERY_PLAN_COMPARE: Spec = Spec {
    name: "pg_query_plan_compare",
    title: "Compare two query plans",
    description: "Plans two statements (`sqlA`, `sqlB`), or one statement under two settings maps (`sql` with `settingsA`, `settingsB`), one after the other on ONE session, each in the same READ ONLY transaction with its own planner settings (enable_*, work_mem, *_cost, effective_cache_size, jit, plan_cache_mode, …; SET LOCAL, undone after).\nReturns a structured diff: whether the shape is the same, total cost of each and their ratio, node types added/removed, estimated rows, sequential scans per side and access paths per relation, plus both plan summaries. `analyze: true` executes reads (never writes) for actual times. Full plans only with includePlan.",
    hints: READ,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PlanCompareArgs {
    /// One statement planned under settingsA and settingsB.
    #[serde(alias = "query")]
    pub sql: Option<String>,
    /// The first statement (with sqlB).
    pub sql_a: Option<String>,
    /// The second statement (with sqlA).
    pub sql_b: Option<String>,
    /// Planner settings for side A, e.g. `{"enable_seqscan": "off"}`.
    #[serde(default)]
    pub settings_a: BTreeMap<String, Value>,
    /// Planner settings for side B.
    #[serde(default)]
    pub settings_b: BTreeMap<String, Value>,
    /// Execute both (reads only) with EXPLAIN (ANALYZE, BUFFERS).
    #[serde(default)]
    pub analyze: bool,
    /// Include both full JSON plans.
    #[serde(default)]
    pub include_plan: bool,
}

/// Per-relation access path.
#[derive(Serialize, JsonSchema, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AccessPathChange {
    pub relation: String,
    /// e.g. `Seq Scan` or `Index Scan using orders_pkey`; absent when the side does not read it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub a: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub b: Option<String>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanSide {
    pub sql: String,
    pub settings: BTreeMap<String, String>,
    pub summary: PlanSummary,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<Value>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanDiff {
    /// The same node types and relations in the same order (costs aside).
    pub same_shape: bool,
    pub total_cost_a: f64,
    pub total_cost_b: f64,
    /// totalCostB / totalCostA (absent when A costs 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_ratio: Option<f64>,
    pub estimated_rows_a: f64,
    pub estimated_rows_b: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_time_ms_a: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_time_ms_b: Option<f64>,
    /// Node types (with join type) in B but not A, with their count difference.
    pub nodes_added: BTreeMap<String, i64>,
    /// Node types in A but not B, with their count difference.
    pub nodes_removed: BTreeMap<String, i64>,
    /// Tables read by sequential scan on each side.
    pub seq_scans_a: Vec<String>,
    pub seq_scans_b: Vec<String>,
    /// Relations whose access path differs.
    pub access_path_changes: Vec<AccessPathChange>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanComparison {
    pub diff: PlanDiff,
    pub a: PlanSide,
    pub b: PlanSide,
}

/// Planner settings a comparison may change.
fn allowed_setting(name: &str) -> bool {
    const NAMES: &[&str] = &[
        "work_mem",
        "hash_mem_multiplier",
        "random_page_cost",
        "seq_page_cost",
        "cpu_tuple_cost",
        "cpu_index_tuple_cost",
        "cpu_operator_cost",
        "parallel_setup_cost",
        "parallel_tuple_cost",
        "effective_cache_size",
        "effective_io_concurrency",
        "jit",
        "jit_above_cost",
        "plan_cache_mode",
        "max_parallel_workers_per_gather",
        "join_collapse_limit",
        "from_collapse_limit",
        "geqo",
        "geqo_threshold",
        "constraint_exclusion",
        "cursor_tuple_fraction",
        "default_statistics_target",
        "min_parallel_table_scan_size",
        "min_parallel_index_scan_size",
        "recursive_worktable_factor",
    ];
    let lower = name.to_ascii_lowercase();
    NAMES.contains(&lower.as_str())
        || (lower.starts_with("enable_")
            && lower.len() > 7
            && lower[7..]
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '_'))
}

fn settings_of(map: &BTreeMap<String, Value>, side: &str) -> ToolResult<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (k, v) in map {
        if !allowed_setting(k) {
            return Err(ToolError::invalid(format!(
                "settings{side}: {k} is not a planner setting a comparison may change"
            ))
            .suggest("Allowed: enable_*, work_mem, hash_mem_multiplier, *_cost, effective_cache_size, effective_io_concurrency, jit, jit_above_cost, plan_cache_mode, max_parallel_workers_per_gather, join_collapse_limit, from_collapse_limit, geqo, geqo_threshold, constraint_exclusion, cursor_tuple_fraction, min_parallel_*_scan_size."));
        }
        let v = match v {
            Value::String(s) => s.clone(),
            Value::Bool(b) => if *b { "on" } else { "off" }.to_string(),
            Value::Number(n) => n.to_string(),
            _ => {
                return Err(ToolError::invalid(format!(
                    "settings{side}.{k} must be a string, number or boolean"
                )));
            }
        };
        out.insert(k.to_ascii_lowercase(), v);
    }
    Ok(out)
}

async fn query_plan_compare(ctx: Ctx, a: PlanCompareArgs) -> ToolResult<PlanComparison> {
    let (sql_a, sql_b) = match (a.sql, a.sql_a, a.sql_b) {
        (Some(s), None, None) => (s.clone(), s),
        (None, Some(x), Some(y)) => (x, y),
        _ => {
            return Err(ToolError::invalid(
                "pass either sql (one statement, two settings maps) or both sqlA and sqlB",
            ));
        }
    };
    refuse_explain_prefix(&sql_a)?;
    refuse_explain_prefix(&sql_b)?;
    if a.analyze && (is_write(&sql_a) || is_write(&sql_b)) {
        return Err(ToolError::new(
            Category::Permission,
            Code::ReadOnlyViolation,
            "analyze would execute a write; plan comparison executes reads only",
        )
        .suggest("Compare estimated plans (analyze: false), or use pg_explain_analyze on each statement."));
    }
    let set_a = settings_of(&a.settings_a, "A")?;
    let set_b = settings_of(&a.settings_b, "B")?;
    if ctx.transaction.is_some() {
        return Err(ToolError::invalid(
            "plan comparison runs on a session of its own, not inside a pinned transaction",
        ));
    }
    let opts = Options {
        buffers: a.analyze,
        timing: true,
        ..Options::default()
    };
    let ea = opts.sql(a.analyze, &sql_a);
    let eb = opts.sql(a.analyze, &sql_b);
    let mut guard = ctx.db().guard_pooled(ctx.db().client().await?);
    let conn = guard.client();
    conn.forget_all();
    let role = set_role_sql(&ctx);
    let result = async {
        conn.batch_execute("BEGIN READ ONLY")
            .await
            .map_err(ToolError::from)?;
        let mut tops = Vec::new();
        for (sql, settings) in [(&ea, &set_a), (&eb, &set_b)] {
            conn.batch_execute("SAVEPOINT pgmcp_compare")
                .await
                .map_err(ToolError::from)?;
            // As every read: the read-only role, except for a plain EXPLAIN of a write,
            // which plans with the connecting role's privileges (see exec).
            if let Some(role) = role.as_deref().filter(|_| !plans_a_write_only(sql)) {
                conn.batch_execute(role)
                    .await
                    .map_err(|e| crate::tools::exec::role_error(&ctx, e))?;
            }
            check_read_in_transaction(&ctx, conn, sql).await?;
            let client: &tokio_postgres::Client = conn;
            for (k, v) in settings {
                client
                    .query("SELECT pg_catalog.set_config($1, $2, true)", &[k, v])
                    .await
                    .map_err(|e| {
                        let mut err = ToolError::from(e);
                        err.error = format!("setting {k} = {v}: {}", err.error);
                        err
                    })?;
            }
            let out = run_query(client, sql, &[], ctx.caps())
                .await
                .map_err(explain_error)?;
            client
                .batch_execute("ROLLBACK TO SAVEPOINT pgmcp_compare")
                .await
                .map_err(ToolError::from)?;
            tops.push(plan_document(&out.rows)?);
        }
        Ok::<_, ToolError>(tops)
    }
    .await;
    let ended = guard.client().batch_execute("ROLLBACK").await;
    match ended {
        Ok(()) => guard.disarm(),
        Err(_) => guard.disarm_discard(),
    }
    let mut tops = result?.into_iter();
    let (ta, tb) = (
        tops.next().unwrap_or_default(),
        tops.next().unwrap_or_default(),
    );
    let side = |sql: String, settings, top: &Value| PlanSide {
        sql,
        settings,
        summary: summarize(top),
        plan: a
            .include_plan
            .then(|| top.get("Plan").cloned().unwrap_or(Value::Null)),
    };
    let pa = side(sql_a, set_a, &ta);
    let pb = side(sql_b, set_b, &tb);
    Ok(PlanComparison {
        diff: diff(&pa.summary, &pb.summary, &ta, &tb),
        a: pa,
        b: pb,
    })
}

/// Shape (node type + relation + index with hypothetical OIDs normalized) in pre-order.
fn shape(node: &Value, out: &mut Vec<String>) {
    let index = text(node, "Index Name").map(|i| match i.strip_prefix('<') {
        Some(rest) => rest
            .split_once('>')
            .map(|(_, n)| n.to_string())
            .unwrap_or(i),
        None => i,
    });
    out.push(format!(
        "{}|{}|{}|{}",
        text(node, "Node Type").unwrap_or_default(),
        text(node, "Join Type").unwrap_or_default(),
        relation(node).unwrap_or_default(),
        index.unwrap_or_default()
    ));
    for c in children(node) {
        shape(c, out);
    }
}

fn access_paths(node: &Value, out: &mut BTreeMap<String, Vec<String>>) {
    if let Some(rel) = relation(node) {
        let t = text(node, "Node Type").unwrap_or_default();
        let path = match text(node, "Index Name") {
            Some(i) => format!("{t} using {i}"),
            None => t,
        };
        out.entry(rel).or_default().push(path);
    }
    for c in children(node) {
        access_paths(c, out);
    }
}

fn diff(a: &PlanSummary, b: &PlanSummary, ta: &Value, tb: &Value) -> PlanDiff {
    let (pa, pb) = (
        ta.get("Plan").unwrap_or(&Value::Null),
        tb.get("Plan").unwrap_or(&Value::Null),
    );
    let (mut sa, mut sb) = (Vec::new(), Vec::new());
    shape(pa, &mut sa);
    shape(pb, &mut sb);
    let count = |root: &Value| {
        let mut nodes = Vec::new();
        let mut scans = Vec::new();
        let mut mis = Vec::new();
        walk(root, "0".into(), 0, &mut nodes, &mut scans, &mut mis);
        let mut m: BTreeMap<String, i64> = BTreeMap::new();
        for n in nodes {
            *m.entry(n.node_type).or_insert(0) += 1;
        }
        m
    };
    let (ca, cb) = (count(pa), count(pb));
    let mut added = BTreeMap::new();
    let mut removed = BTreeMap::new();
    for k in ca.keys().chain(cb.keys()) {
        let d = cb.get(k).copied().unwrap_or(0) - ca.get(k).copied().unwrap_or(0);
        if d > 0 {
            added.insert(k.clone(), d);
        } else if d < 0 {
            removed.insert(k.clone(), -d);
        }
    }
    let (mut xa, mut xb) = (BTreeMap::new(), BTreeMap::new());
    access_paths(pa, &mut xa);
    access_paths(pb, &mut xb);
    let mut changes = Vec::new();
    for rel in xa
        .keys()
        .chain(xb.keys())
        .collect::<std::collections::BTreeSet<_>>()
    {
        let (va, vb) = (xa.get(rel), xb.get(rel));
        if va != vb {
            changes.push(AccessPathChange {
                relation: rel.clone(),
                a: va.map(|v| v.join(", ")),
                b: vb.map(|v| v.join(", ")),
            });
        }
    }
    let tables = |s: &PlanSummary| s.seq_scans.iter().map(|x| x.table.clone()).collect();
    PlanDiff {
        same_shape: sa == sb,
        total_cost_a: a.total_cost,
        total_cost_b: b.total_cost,
        cost_ratio: (a.total_cost > 0.0).then(|| round3(b.total_cost / a.total_cost)),
        estimated_rows_a: a.estimated_rows,
        estimated_rows_b: b.estimated_rows,
        execution_time_ms_a: a.execution_time_ms,
        execution_time_ms_b: b.execution_time_ms,
        nodes_added: added,
        nodes_removed: removed,
        seq_scans_a: tables(a),
        seq_scans_b: tables(b),
        access_path_changes: changes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn classifies_writes() {
        for sql in [
            "INSERT INTO t VALUES (1)",
            "update t set a = 1",
            "DELETE FROM t",
            "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
        ] {
            assert!(is_write(sql), "{sql}");
        }
        for sql in [
            "SELECT 1",
            "WITH x AS (SELECT 1) SELECT * FROM x",
            "VALUES (1)",
            "SELECT 1; DELETE FROM t",
            "oops",
        ] {
            assert!(!is_write(sql), "{sql}");
        }
    }

    #[test]
    fn summarizes_times_misestimates_and_scans() {
        let top = json!({"Plan": {
            "Node Type": "Hash Join", "Join Type": "Inner", "Total Cost": 100.0, "Plan Rows": 10,
            "Actual Rows": 5000, "Actual Loops": 1, "Actual Total Time": 50.0,
            "Shared Hit Blocks": 30, "Shared Read Blocks": 10,
            "Plans": [
                {"Node Type": "Seq Scan", "Relation Name": "a", "Schema": "public", "Total Cost": 60.0,
                 "Plan Rows": 5, "Actual Rows": 5000, "Actual Loops": 1, "Actual Total Time": 30.0,
                 "Filter": "(x = 1)", "Rows Removed by Filter": 95000},
                {"Node Type": "Hash", "Total Cost": 20.0, "Plan Rows": 100,
                 "Actual Rows": 100, "Actual Loops": 1, "Actual Total Time": 5.0, "Plans": [
                    {"Node Type": "Index Scan", "Relation Name": "b", "Schema": "public",
                     "Index Name": "b_pkey", "Total Cost": 20.0, "Plan Rows": 100,
                     "Actual Rows": 100, "Actual Loops": 1, "Actual Total Time": 4.0}]}
            ]},
            "Planning Time": 0.5, "Execution Time": 51.0});
        let s = summarize(&top);
        assert_eq!(s.node_count, 4);
        assert_eq!(s.nodes[0].self_time_ms, Some(15.0));
        assert_eq!(s.costly_nodes[0].path, "0.0");
        assert_eq!(s.seq_scans[0].table, "public.a");
        assert_eq!(s.seq_scans[0].rows_removed_by_filter, Some(95000.0));
        // Deepest first: the scan, then the join it feeds.
        assert_eq!(s.misestimates[0].path, "0.0");
        assert_eq!(s.misestimates[1].path, "0");
        assert_eq!(s.misestimates[0].direction, "under");
        assert_eq!(s.buffers.as_ref().unwrap().hit_ratio, Some(0.75));
    }

    #[test]
    fn only_planner_settings_are_allowed() {
        for ok in [
            "enable_seqscan",
            "work_mem",
            "ENABLE_HASHJOIN",
            "random_page_cost",
        ] {
            assert!(allowed_setting(ok), "{ok}");
        }
        for bad in [
            "role",
            "session_authorization",
            "enable_",
            "search_path",
            "statement_timeout",
        ] {
            assert!(!allowed_setting(bad), "{bad}");
        }
    }
}

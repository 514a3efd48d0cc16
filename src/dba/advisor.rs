//! Index recommendations for a workload, costed with hypothetical indexes (HypoPG).
//!
//! An AutoAdmin/DTA-style search (docs: research "dba-toolkit" §5):
//! 1. each statement is parsed (libpg_query) for the columns its predicates, joins,
//!    ORDER BY and GROUP BY use, and planned as it is (the baseline; `$n` statements get a
//!    generic plan);
//! 2. candidate B-tree indexes per statement and table: single columns, and composites
//!    with equality/join columns first, then the sort keys, then one range column; minus
//!    candidates an existing index already serves (same leading keys) and columns without
//!    a default B-tree operator class;
//! 3. per statement, the candidates are created as hypothetical indexes and the subset (of
//!    at most two) of those the planner uses with the lowest cost is that statement's best
//!    set, kept when it improves the cost by `min_improvement`;
//! 4. over the union of the best sets, a greedy search (the first step may take a pair)
//!    minimizes Σ weight × cost + write penalty, within the storage budget and index count,
//!    accepting an index only when it lowers that objective by 0.5 % of the baseline (at
//!    least 1 cost unit); then indexes whose removal costs less than that are removed;
//! 5. every recommended index is checked to appear in a final plan.
//!
//! EXPLAIN never costs index maintenance, so each candidate carries a write penalty from
//! the workload's own writes: `write_penalty` cost units per index entry written, i.e. per
//! row an INSERT adds, and per row an UPDATE changes when that update is not HOT (it
//! assigns a column of some index) or would stop being HOT because of this index (then
//! every index of the table gets an entry). A table the workload reads but never writes is
//! charged, when the workload's window is known (`workload_window_seconds`: the
//! pg_stat_statements window), the rows `pg_stat_user_tables` counts as modified since its
//! last ANALYZE, as a rate over the time since that ANALYZE times the window (a bulk load
//! shortly before counts as an ongoing rate; `writesFrom` names the source).
//!
//! Everything runs on the one connection given, which must not be used by anything else
//! meanwhile (hypothetical indexes exist only in the creating backend) and must not be
//! inside a transaction: the analysis runs in a READ ONLY transaction of its own (each
//! EXPLAIN under a savepoint, so one failing statement is skipped, not fatal), which it
//! rolls back at the end, with its SET LOCAL settings (timeouts, `plan_cache_mode`). It
//! begins and ends with `hypopg_reset()` and deallocates the statements it prepared; if
//! the call fails or its future is dropped before it finishes, discard the connection
//! rather than reuse it.

use std::collections::{BTreeMap, BTreeSet, HashMap, btree_map};
use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::json;
use tokio_postgres::{Client, SimpleQueryMessage};

use super::explain::{self, PREPARED_PREFIX, PlanMode};
use super::parse::{self, ParsedStatement, Role, StmtKind};
use crate::db::ident::quote_ident;
use crate::error::{Category, Code, ToolError};

/// One statement of the workload; `weight` is how often it runs (e.g. its calls).
#[derive(Debug, Clone)]
pub struct WorkloadStatement {
    pub sql: String,
    pub weight: f64,
    /// Why the caller will not have it planned (the read policy refused it): it is reported
    /// as skipped with this reason and never reaches the planner.
    pub refused: Option<String>,
}

impl WorkloadStatement {
    pub fn new(sql: impl Into<String>, weight: f64) -> Self {
        WorkloadStatement {
            sql: sql.into(),
            weight,
            refused: None,
        }
    }
}

/// Search limits and thresholds.
#[derive(Debug, Clone)]
pub struct AdvisorOptions {
    /// Most key columns per index.
    pub max_index_width: usize,
    /// Most indexes recommended.
    pub max_indexes: usize,
    /// Total estimated size the recommendations may take (`None`: unlimited).
    pub storage_budget_bytes: Option<i64>,
    /// Least relative cost improvement (0.10 = 10 %) for a statement's best index set to
    /// be considered.
    pub min_improvement: f64,
    /// Cost units charged per index entry the workload's writes would add (0: ignore writes).
    pub write_penalty: f64,
    /// Most EXPLAIN calls; the search returns its best so far when reached (`truncated`).
    pub max_explain_calls: u32,
    /// Wall-time budget, checked before every EXPLAIN, with the same anytime behaviour.
    pub time_budget: Duration,
    /// `statement_timeout` for each planning call.
    pub statement_timeout: Duration,
    /// The seconds the workload's weights were counted over (pg_stat_statements since its
    /// reset), when known: then a table the workload reads but never writes is charged the
    /// writes `pg_stat_user_tables` saw since its last ANALYZE, scaled to that window.
    pub workload_window_seconds: Option<f64>,
}

impl Default for AdvisorOptions {
    fn default() -> Self {
        AdvisorOptions {
            max_index_width: 3,
            max_indexes: 10,
            storage_budget_bytes: None,
            min_improvement: 0.10,
            write_penalty: 1.0,
            max_explain_calls: 5000,
            time_budget: Duration::from_secs(60),
            statement_timeout: Duration::from_secs(5),
            workload_window_seconds: None,
        }
    }
}

/// The advisor's answer.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IndexAdvice {
    pub server_version_num: i32,
    pub hypopg: HypopgInfo,
    /// In the order the search chose them.
    pub recommendations: Vec<IndexRecommendation>,
    /// One per workload statement, in input order.
    pub statements: Vec<StatementAdvice>,
    pub objective: Objective,
    pub stats: AdvisorStats,
    /// Caveats that apply to the whole answer.
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HypopgInfo {
    pub schema: String,
    pub version: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IndexRecommendation {
    /// Ready to run (consider `CREATE INDEX CONCURRENTLY` on a busy table).
    pub create_index: String,
    pub schema: String,
    pub table: String,
    pub columns: Vec<String>,
    /// `hypopg_relation_size`: ignores B-tree deduplication (PG13+), so an upper bound.
    pub estimated_size_bytes: i64,
    /// Write penalty charged for it, in cost units (see `AdvisorOptions::write_penalty`).
    pub write_penalty: f64,
    /// It indexes a column the workload's UPDATEs assign, which makes those updates
    /// non-HOT: every index of the table then gets an entry per updated row.
    pub breaks_hot_updates: bool,
    /// Where the write penalty's writes come from; absent when there are none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub writes_from: Option<WritesFrom>,
    /// How much it lowers the objective given the recommendations before it.
    pub marginal_benefit: f64,
    /// The statements whose final plan uses it.
    pub benefits: Vec<StatementBenefit>,
}

/// The writes a write penalty charges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum WritesFrom {
    /// The workload's own INSERT and UPDATE statements (rows each writes × weight).
    WorkloadStatements,
    /// `pg_stat_user_tables.n_mod_since_analyze` over the time since the table's last
    /// ANALYZE, scaled to the workload's window (the table has no write statement in the
    /// workload). Deletes and HOT updates count too: an upper bound.
    TableStatistics,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatementBenefit {
    /// Position in the workload.
    pub statement: usize,
    pub cost_before: f64,
    pub cost_after: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum StatementOutcome {
    /// A recommended index lowers its cost.
    Improved,
    /// No index is recommended for it; `reason` says why.
    NoBeneficialIndex,
    /// An INSERT: no read part, but its rows count toward write penalties.
    WriteOnly,
    /// It could not be analysed; `reason` says why.
    Skipped,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatementAdvice {
    pub statement: usize,
    pub sql: String,
    pub weight: f64,
    pub outcome: StatementOutcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan_mode: Option<PlanMode>,
    /// Estimated total cost as the database is (planner cost units).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_before: Option<f64>,
    /// With the recommended indexes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_after: Option<f64>,
    /// `1 - after/before`, in percent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub improvement_pct: Option<f64>,
    /// `createIndex` of the recommendations its final plan uses.
    pub uses: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Σ weight × cost over the analysed statements, plus the write penalty.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Objective {
    pub before: f64,
    pub after: f64,
    pub write_penalty: f64,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdvisorStats {
    pub explain_calls: u32,
    pub hypothetical_indexes_created: u32,
    pub candidates: usize,
    pub elapsed_ms: u64,
    /// The call or time budget ran out; the answer is the best found until then.
    pub truncated: bool,
}

/// Recommends indexes for `workload`, on `client`'s session (see the module docs).
pub async fn recommend_indexes(
    client: &Client,
    workload: &[WorkloadStatement],
    opts: &AdvisorOptions,
) -> Result<IndexAdvice, ToolError> {
    let started = Instant::now();
    let (version, hypopg) = hypopg_prerequisites(client, "index advice").await?;
    // Everything happens in a READ ONLY transaction (HypoPG works there; it is not
    // transactional), so nothing the planner evaluates can write, and the session settings
    // below are SET LOCAL, undone by the final ROLLBACK. Inside the caller's transaction
    // that ROLLBACK would end the caller's work, so that is refused.
    // One simple-protocol query outside a block starts its own transaction, whose start
    // time is the statement's; inside a block, the transaction started earlier.
    let in_transaction = client
        .simple_query("SELECT pg_catalog.now() <> pg_catalog.statement_timestamp()")
        .await?
        .iter()
        .any(|m| matches!(m, SimpleQueryMessage::Row(r) if r.get(0) == Some("t")));
    if in_transaction {
        return Err(ToolError::invalid(
            "the index advisor needs a connection outside any transaction block",
        )
        .suggest("COMMIT or ROLLBACK first, or give the advisor a connection of its own."));
    }
    let schema = quote_ident(&hypopg.schema);
    let setup = format!(
        "BEGIN READ ONLY; SET LOCAL statement_timeout = {}; SET LOCAL lock_timeout = 1000; \
         SET LOCAL plan_cache_mode = force_generic_plan; SELECT {schema}.hypopg_reset()",
        opts.statement_timeout.as_millis().max(1)
    );
    let mut result = match client.simple_query(&setup).await {
        Ok(_) => {
            let mut search = Search::new(client, schema.clone(), version, opts, started);
            search.run(workload, hypopg).await
        }
        Err(e) => Err(e.into()),
    };
    let restore = format!("ROLLBACK; SELECT {schema}.hypopg_reset()");
    let mut cleanup = client.simple_query(&restore).await.map(drop);
    if cleanup.is_ok() {
        cleanup = deallocate_leftovers(client).await;
    }
    if let Err(e) = cleanup {
        let err = ToolError::from(e).suggest(
            "The advisor could not reset its session; discard this connection (it may still \
             hold hypothetical indexes).",
        );
        result = result.and(Err(err));
    }
    if let Ok(advice) = &mut result {
        advice.stats.elapsed_ms = started.elapsed().as_millis() as u64;
    }
    result
}

async fn deallocate_leftovers(client: &Client) -> Result<(), tokio_postgres::Error> {
    let pattern = format!("{PREPARED_PREFIX}%");
    let rows = client
        .query(
            "SELECT name FROM pg_prepared_statements WHERE name LIKE $1",
            &[&pattern],
        )
        .await?;
    for row in rows {
        let name: String = row.get(0);
        client
            .simple_query(&format!("DEALLOCATE {}", quote_ident(&name)))
            .await?;
    }
    Ok(())
}

/// The writes a table saw since its last ANALYZE (`writes` over `age` seconds) as a count
/// over the workload's window of `window` seconds: the rate times the window.
fn table_writes_in_window(writes: f64, age: f64, window: f64) -> f64 {
    if age <= 0.0 || window <= 0.0 {
        return 0.0;
    }
    writes / age * window
}

/// The server version and where HypoPG is installed, or the error saying how to get it
/// (`purpose` names what needs it: "index advice needs the HypoPG extension …").
pub async fn hypopg_prerequisites(
    client: &Client,
    purpose: &str,
) -> Result<(i32, HypopgInfo), ToolError> {
    let row = client
        .query_one(
            "SELECT current_setting('server_version_num')::int4, n.nspname::text, e.extversion, \
             EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'hypopg') \
             FROM (SELECT 1) one \
             LEFT JOIN pg_extension e ON e.extname = 'hypopg' \
             LEFT JOIN pg_namespace n ON n.oid = e.extnamespace",
            &[],
        )
        .await?;
    let version: i32 = row.get(0);
    match (
        row.get::<_, Option<String>>(1),
        row.get::<_, Option<String>>(2),
    ) {
        (Some(schema), Some(ext_version)) => Ok((
            version,
            HypopgInfo {
                schema,
                version: ext_version,
            },
        )),
        _ => {
            let available: bool = row.get(3);
            let major = version / 10000;
            let suggestion = if available {
                "HypoPG is installed on the server but not in this database: run CREATE \
                 EXTENSION hypopg (needs CREATE privilege on the database)."
                    .to_string()
            } else {
                format!(
                    "Install HypoPG on the database server (Debian/Ubuntu: apt install \
                     postgresql-{major}-hypopg; RHEL/Fedora with PGDG: dnf install \
                     hypopg_{major}), then run CREATE EXTENSION hypopg in this database."
                )
            };
            Err(ToolError::new(
                Category::NotFound,
                Code::HypopgNotInstalled,
                format!(
                    "{purpose} needs the HypoPG extension (hypothetical indexes), which is not \
                     installed in this database"
                ),
            )
            .suggest(suggestion)
            .with_details(json!({
                "serverVersionNum": version,
                "availableOnServer": available,
            })))
        }
    }
}

/// Leading keys of existing indexes, and the columns any index covers, per table.
#[derive(Debug)]
struct TableInfo {
    oid: u32,
    schema: String,
    name: String,
    /// name → (attnum, |n_distinct|, has a default B-tree opclass)
    columns: BTreeMap<String, (i16, f64, bool)>,
    /// (index name, key columns) of valid plain B-tree indexes without predicate.
    btree_keys: Vec<(String, Vec<i16>)>,
    /// Columns of any index (keys and INCLUDE): updating one is never HOT.
    indexed_columns: BTreeSet<i16>,
    index_count: usize,
    /// Rows inserted, updated or deleted since the last ANALYZE, and the seconds since it
    /// (`pg_stat_user_tables`); `None` when the table was never analyzed.
    writes_since_analyze: Option<(f64, f64)>,
}

#[derive(Debug, Clone)]
struct Candidate {
    table: u32,
    columns: Vec<i16>,
    column_names: Vec<String>,
    ddl: String,
    size: Option<i64>,
    penalty: f64,
    breaks_hot: bool,
    writes_from: Option<WritesFrom>,
}

#[derive(Debug, Clone)]
struct Eval {
    cost: f64,
    used: BTreeSet<usize>,
    rows_written: f64,
}

enum Stop {
    /// The call or time budget ran out.
    Budget,
    /// This statement cannot be planned (message).
    Statement(String),
    Fatal(Box<ToolError>),
}

impl From<ToolError> for Stop {
    fn from(e: ToolError) -> Self {
        Stop::Fatal(Box::new(e))
    }
}

impl From<tokio_postgres::Error> for Stop {
    fn from(e: tokio_postgres::Error) -> Self {
        Stop::Fatal(Box::new(e.into()))
    }
}

/// Per workload statement.
#[derive(Debug)]
struct Stmt {
    sql: String,
    weight: f64,
    parsed: Option<ParsedStatement>,
    /// Tables it reads or writes, resolved (sorted, unique).
    tables: Vec<u32>,
    /// The table an INSERT/UPDATE/DELETE writes, resolved.
    target: Option<u32>,
    baseline: Option<Eval>,
    skipped: Option<String>,
    candidates: Vec<usize>,
    no_benefit: Option<String>,
    best: Vec<usize>,
}

/// Creations between `hypopg_reset()`s (HypoPG's fake OIDs run out near 2,500).
const RESET_AFTER: u32 = 1000;

struct Search<'c> {
    client: &'c Client,
    /// Quoted schema of the HypoPG functions.
    hypopg: String,
    version: i32,
    opts: &'c AdvisorOptions,
    started: Instant,
    cands: Vec<Candidate>,
    by_key: HashMap<(u32, Vec<i16>), usize>,
    /// candidate → OID of its hypothetical index in the backend.
    present: BTreeMap<usize, u32>,
    by_oid: HashMap<u32, usize>,
    created: u32,
    created_total: u32,
    explain_calls: u32,
    seq: u64,
    cache: HashMap<(usize, Vec<usize>), Eval>,
    truncated: bool,
    /// Set for the final checks, which run even when the budget is spent.
    unlimited: bool,
    notes: Vec<String>,
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

impl<'c> Search<'c> {
    fn new(
        client: &'c Client,
        hypopg: String,
        version: i32,
        opts: &'c AdvisorOptions,
        started: Instant,
    ) -> Self {
        Search {
            client,
            hypopg,
            version,
            opts,
            started,
            cands: Vec::new(),
            by_key: HashMap::new(),
            present: BTreeMap::new(),
            by_oid: HashMap::new(),
            created: 0,
            created_total: 0,
            explain_calls: 0,
            seq: 0,
            cache: HashMap::new(),
            truncated: false,
            unlimited: false,
            notes: Vec::new(),
        }
    }

    async fn run(
        &mut self,
        workload: &[WorkloadStatement],
        hypopg: HypopgInfo,
    ) -> Result<IndexAdvice, ToolError> {
        let mut stmts: Vec<Stmt> = workload
            .iter()
            .map(|w| {
                let (parsed, skipped) = if let Some(why) = &w.refused {
                    (None, Some(why.clone()))
                } else if !(w.weight.is_finite() && w.weight > 0.0) {
                    (
                        None,
                        Some(format!("its weight {} is not positive", w.weight)),
                    )
                } else {
                    match parse::parse_statement(&w.sql) {
                        Ok(p) => (Some(p), None),
                        Err(why) => (None, Some(format!("cannot analyse it: {why}"))),
                    }
                };
                Stmt {
                    sql: w.sql.clone(),
                    weight: w.weight,
                    parsed,
                    tables: Vec::new(),
                    target: None,
                    baseline: None,
                    skipped,
                    candidates: Vec::new(),
                    no_benefit: None,
                    best: Vec::new(),
                }
            })
            .collect();
        let tables = self.resolve_tables(&mut stmts).await?;

        // Baselines (and the rows each write statement writes).
        for q in 0..stmts.len() {
            if stmts[q].skipped.is_some() {
                continue;
            }
            match self.evaluate(&stmts, q, &BTreeSet::new()).await {
                Ok(eval) => stmts[q].baseline = Some(eval),
                Err(Stop::Statement(why)) => {
                    stmts[q].skipped = Some(format!("EXPLAIN failed: {why}"));
                }
                Err(Stop::Budget) => {
                    self.truncated = true;
                    stmts[q].skipped = Some("the call or time budget ran out first".into());
                }
                Err(Stop::Fatal(e)) => return Err(*e),
            }
        }

        self.generate_candidates(&mut stmts, &tables);
        self.per_statement(&mut stmts).await?;
        let (chosen, marginal) = self.workload_search(&stmts).await?;
        self.finish(stmts, chosen, marginal, hypopg, &tables).await
    }

    /// Resolves each statement's tables and loads what the search needs about them.
    async fn resolve_tables(
        &mut self,
        stmts: &mut [Stmt],
    ) -> Result<BTreeMap<u32, TableInfo>, ToolError> {
        let mut names: BTreeMap<(String, String), Option<u32>> = BTreeMap::new();
        for p in stmts.iter().filter_map(|s| s.parsed.as_ref()) {
            for t in p.tables.iter().chain(&p.target) {
                names.insert((t.schema.clone(), t.name.clone()), None);
            }
        }
        let mut tables = BTreeMap::new();
        for ((schema, name), oid) in names.iter_mut() {
            let row = self
                .client
                .query_opt(
                    "SELECT c.oid, n.nspname::text, c.relname::text FROM pg_class c \
                     JOIN pg_namespace n ON n.oid = c.relnamespace \
                     WHERE c.relname::text = $2::text AND c.relkind IN ('r', 'm', 'p') \
                     AND CASE WHEN $1::text = '' THEN pg_table_is_visible(c.oid) \
                     ELSE n.nspname::text = $1::text END",
                    &[schema, name],
                )
                .await?;
            let Some(row) = row else { continue };
            let table_oid: u32 = row.get(0);
            *oid = Some(table_oid);
            if let btree_map::Entry::Vacant(slot) = tables.entry(table_oid) {
                slot.insert(self.table_info(table_oid, row.get(1), row.get(2)).await?);
            }
        }
        for stmt in stmts.iter_mut() {
            let Some(p) = &stmt.parsed else { continue };
            let mut oids: Vec<u32> = p
                .tables
                .iter()
                .chain(&p.target)
                .filter_map(|t| names[&(t.schema.clone(), t.name.clone())])
                .collect();
            oids.sort_unstable();
            oids.dedup();
            if oids.is_empty() && stmt.skipped.is_none() {
                stmt.skipped = Some("it reads no table of this database".into());
            }
            stmt.tables = oids;
            stmt.target = p
                .target
                .as_ref()
                .and_then(|t| names[&(t.schema.clone(), t.name.clone())]);
        }
        Ok(tables)
    }

    async fn table_info(
        &self,
        oid: u32,
        schema: String,
        name: String,
    ) -> Result<TableInfo, ToolError> {
        let columns = self
            .client
            .query(
                "SELECT a.attname::text, a.attnum, \
                   coalesce((SELECT CASE WHEN s.n_distinct < 0 \
                       THEN -s.n_distinct * greatest(c.reltuples, 0) ELSE s.n_distinct END \
                     FROM pg_stats s WHERE s.schemaname = $2::text AND s.tablename = $3::text \
                     AND s.attname = a.attname ORDER BY s.inherited LIMIT 1), 0)::float8, \
                   EXISTS (SELECT 1 FROM pg_opclass oc JOIN pg_am am ON am.oid = oc.opcmethod \
                     JOIN pg_type t ON t.oid = a.atttypid \
                     WHERE am.amname = 'btree' AND oc.opcdefault AND ( \
                       oc.opcintype IN (a.atttypid, t.typbasetype) \
                       OR (oc.opcintype = 'anyarray'::regtype AND t.typcategory = 'A') \
                       OR (oc.opcintype = 'anyenum'::regtype AND t.typtype = 'e') \
                       OR EXISTS (SELECT 1 FROM pg_cast k WHERE k.castsource = a.atttypid \
                         AND k.casttarget = oc.opcintype AND k.castmethod = 'b'))) \
                 FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
                 WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped",
                &[&oid, &schema, &name],
            )
            .await?
            .into_iter()
            .map(|r| (r.get::<_, String>(0), (r.get(1), r.get(2), r.get(3))))
            .collect();
        let mut info = TableInfo {
            oid,
            schema,
            name,
            columns,
            btree_keys: Vec::new(),
            indexed_columns: BTreeSet::new(),
            index_count: 0,
            writes_since_analyze: None,
        };
        info.writes_since_analyze = self
            .client
            .query_opt(
                "SELECT n_mod_since_analyze::float8, \
                   extract(epoch FROM now() - greatest(last_analyze, last_autoanalyze))::float8 \
                 FROM pg_stat_all_tables WHERE relid = $1",
                &[&oid],
            )
            .await?
            .and_then(
                |r| match (r.get::<_, Option<f64>>(0), r.get::<_, Option<f64>>(1)) {
                    (Some(n), Some(age)) if age > 0.0 => Some((n, age)),
                    _ => None,
                },
            );
        let indexes = self
            .client
            .query(
                "SELECT ic.relname::text, i.indkey::int2[], i.indnkeyatts::int4, \
                   am.amname = 'btree' AND i.indisvalid AND i.indpred IS NULL \
                   AND i.indexprs IS NULL \
                 FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid \
                 JOIN pg_am am ON am.oid = ic.relam WHERE i.indrelid = $1 ORDER BY 1",
                &[&oid],
            )
            .await?;
        for row in indexes {
            let keys: Vec<i16> = row.get(1);
            let nkeys = row.get::<_, i32>(2).max(0) as usize;
            info.index_count += 1;
            info.indexed_columns
                .extend(keys.iter().copied().filter(|&k| k > 0));
            if row.get::<_, bool>(3) {
                info.btree_keys
                    .push((row.get(0), keys.into_iter().take(nkeys).collect()));
            }
        }
        Ok(info)
    }

    /// Plans statement `q` with the candidates `config` present (those on its tables).
    async fn evaluate(
        &mut self,
        stmts: &[Stmt],
        q: usize,
        config: &BTreeSet<usize>,
    ) -> Result<Eval, Stop> {
        let stmt = &stmts[q];
        let Some(parsed) = &stmt.parsed else {
            return Err(Stop::Statement("not parsed".into()));
        };
        let rel: Vec<usize> = config
            .iter()
            .copied()
            .filter(|&c| stmt.tables.contains(&self.cands[c].table))
            .collect();
        let key = (q, rel);
        if let Some(hit) = self.cache.get(&key) {
            return Ok(hit.clone());
        }
        if !self.unlimited
            && (self.explain_calls >= self.opts.max_explain_calls
                || self.started.elapsed() >= self.opts.time_budget)
        {
            return Err(Stop::Budget);
        }
        self.materialize(&stmt.tables, &key.1).await?;
        self.explain_calls += 1;
        self.seq += 1;
        // A savepoint per call: a statement that fails to plan must not abort the
        // transaction the whole analysis runs in.
        self.client.simple_query("SAVEPOINT pgmcp_advisor").await?;
        let plan = match explain::explain(self.client, parsed, self.version, self.seq).await {
            Ok(plan) => plan,
            Err(e) => {
                let Some(db) = e.as_db_error() else {
                    return Err(Stop::from(e));
                };
                self.client
                    .simple_query(
                        "ROLLBACK TO SAVEPOINT pgmcp_advisor; RELEASE SAVEPOINT pgmcp_advisor",
                    )
                    .await?;
                return Err(Stop::Statement(db.message().to_string()));
            }
        };
        self.client
            .simple_query("RELEASE SAVEPOINT pgmcp_advisor")
            .await?;
        let eval = Eval {
            cost: round2(plan.total_cost),
            used: plan
                .hypothetical_oids()
                .filter_map(|oid| self.by_oid.get(&oid).copied())
                .collect(),
            rows_written: plan.rows_written,
        };
        self.cache.insert(key, eval.clone());
        Ok(eval)
    }

    /// Makes the hypothetical indexes on `tables` exactly `rel` (others may stay).
    async fn materialize(&mut self, tables: &[u32], rel: &[usize]) -> Result<(), Stop> {
        let stale: Vec<usize> = self
            .present
            .keys()
            .copied()
            .filter(|c| tables.contains(&self.cands[*c].table) && !rel.contains(c))
            .collect();
        for c in stale {
            if let Some(oid) = self.present.remove(&c) {
                self.by_oid.remove(&oid);
                let sql = format!("SELECT {}.hypopg_drop_index($1::int8::oid)", self.hypopg);
                self.client.execute(&sql, &[&i64::from(oid)]).await?;
            }
        }
        let missing: Vec<usize> = rel
            .iter()
            .copied()
            .filter(|c| !self.present.contains_key(c))
            .collect();
        // HypoPG's fake OIDs run out after a few thousand creations (failed ones included).
        if !missing.is_empty() && self.created >= RESET_AFTER {
            let sql = format!("SELECT {}.hypopg_reset()", self.hypopg);
            self.client.simple_query(&sql).await?;
            self.present.clear();
            self.by_oid.clear();
            self.created = 0;
            return Box::pin(self.materialize(tables, rel)).await;
        }
        for c in missing {
            let sql = format!(
                "SELECT h.indexrelid::int8, {s}.hypopg_relation_size(h.indexrelid)::int8 \
                 FROM {s}.hypopg_create_index($1) h",
                s = self.hypopg
            );
            let row = self.client.query_one(&sql, &[&self.cands[c].ddl]).await?;
            let oid = row.get::<_, i64>(0) as u32;
            self.cands[c].size.get_or_insert(row.get(1));
            self.present.insert(c, oid);
            self.by_oid.insert(oid, c);
            self.created += 1;
            self.created_total += 1;
        }
        Ok(())
    }

    /// Candidate indexes per statement and table (module docs, step 2), and their
    /// write penalties.
    fn generate_candidates(&mut self, stmts: &mut [Stmt], tables: &BTreeMap<u32, TableInfo>) {
        let width = self.opts.max_index_width.max(1);
        // (table, attnum) → how many statements use it for equality or a join.
        let mut frequency: HashMap<(u32, i16), usize> = HashMap::new();
        let resolved: Vec<Vec<(u32, i16, Role)>> =
            stmts.iter().map(|s| resolve_uses(s, tables)).collect();
        for uses in &resolved {
            let eq: BTreeSet<(u32, i16)> = uses
                .iter()
                .filter(|u| matches!(u.2, Role::Eq | Role::Join))
                .map(|u| (u.0, u.1))
                .collect();
            for key in eq {
                *frequency.entry(key).or_default() += 1;
            }
        }
        for (q, uses) in resolved.iter().enumerate() {
            let stmt = &mut stmts[q];
            if stmt.baseline.is_none() || stmt.parsed.as_ref().unwrap().kind == StmtKind::Insert {
                continue;
            }
            let mut covered: BTreeSet<String> = BTreeSet::new();
            let mut without_opclass: BTreeSet<String> = BTreeSet::new();
            for &oid in &stmt.tables {
                let info = &tables[&oid];
                let ndistinct = |col: i16| {
                    info.columns
                        .values()
                        .find(|c| c.0 == col)
                        .map_or(0.0, |c| c.1)
                };
                let of = |role: Role| -> Vec<i16> {
                    let mut cols: Vec<i16> = Vec::new();
                    for u in uses.iter().filter(|u| u.0 == oid && u.2 == role) {
                        if !cols.contains(&u.1) {
                            cols.push(u.1);
                        }
                    }
                    cols
                };
                let mut eq = of(Role::Eq);
                for c in of(Role::Join) {
                    if !eq.contains(&c) {
                        eq.push(c);
                    }
                }
                eq.sort_by(|a, b| {
                    let fa = frequency.get(&(oid, *a)).copied().unwrap_or(0);
                    let fb = frequency.get(&(oid, *b)).copied().unwrap_or(0);
                    fb.cmp(&fa)
                        .then(ndistinct(*b).total_cmp(&ndistinct(*a)))
                        .then(a.cmp(b))
                });
                let sort: Vec<i16> = of(Role::Sort)
                    .into_iter()
                    .filter(|c| !eq.contains(c))
                    .collect();
                let mut range: Vec<i16> = of(Role::Range)
                    .into_iter()
                    .filter(|c| !eq.contains(c))
                    .collect();
                range.sort_by(|a, b| ndistinct(*b).total_cmp(&ndistinct(*a)).then(a.cmp(b)));
                let group = of(Role::Group);

                let mut keys: Vec<Vec<i16>> = Vec::new();
                keys.extend(eq.iter().chain(&range).map(|&c| vec![c]));
                keys.extend(sort.first().map(|&c| vec![c]));
                keys.extend(group.first().map(|&c| vec![c]));
                let mut esr = eq.clone();
                esr.extend(&sort);
                esr.extend(range.first());
                keys.push(esr);
                for &r in &range {
                    let mut k = eq.clone();
                    k.push(r);
                    keys.push(k);
                }
                if eq.len() <= 3 {
                    for k in 2..=width.min(eq.len()) {
                        for perm in permutations(&eq, k) {
                            let mut with_range = perm.clone();
                            keys.push(perm);
                            if let Some(&r) = range.first() {
                                with_range.push(r);
                                keys.push(with_range);
                            }
                        }
                    }
                }
                keys.push(group.clone());

                let mut kept = 0;
                let mut seen: BTreeSet<Vec<i16>> = BTreeSet::new();
                for mut key in keys {
                    key.truncate(width);
                    if key.is_empty() || !seen.insert(key.clone()) || kept >= 30 {
                        continue;
                    }
                    let names: Vec<&String> = key
                        .iter()
                        .filter_map(|k| info.columns.iter().find(|c| c.1.0 == *k).map(|c| c.0))
                        .collect();
                    if let Some(bad) = key
                        .iter()
                        .zip(&names)
                        .find(|(k, _)| !info.columns.values().any(|c| c.0 == **k && c.2))
                    {
                        without_opclass.insert(bad.1.to_string());
                        continue;
                    }
                    if let Some((index, _)) = info
                        .btree_keys
                        .iter()
                        .find(|(_, keys)| keys.starts_with(&key))
                    {
                        covered.insert(index.clone());
                        continue;
                    }
                    kept += 1;
                    let id = self.candidate(info, key, names);
                    if !stmt.candidates.contains(&id) {
                        stmt.candidates.push(id);
                    }
                }
            }
            if stmt.candidates.is_empty() {
                stmt.no_benefit = Some(if !covered.is_empty() {
                    format!(
                        "every candidate index is already served by an existing index ({})",
                        covered.into_iter().collect::<Vec<_>>().join(", ")
                    )
                } else if !without_opclass.is_empty() {
                    format!(
                        "its columns have no default B-tree operator class ({})",
                        without_opclass.into_iter().collect::<Vec<_>>().join(", ")
                    )
                } else {
                    "it has no indexable predicate, join, ORDER BY or GROUP BY column".into()
                });
            }
        }
        self.penalties(stmts, tables);
    }

    /// The candidate for `key` on `info`, created once.
    fn candidate(&mut self, info: &TableInfo, key: Vec<i16>, names: Vec<&String>) -> usize {
        if let Some(&id) = self.by_key.get(&(info.oid, key.clone())) {
            return id;
        }
        let column_names: Vec<String> = names.into_iter().cloned().collect();
        let ddl = format!(
            "CREATE INDEX ON {}.{} USING btree ({})",
            quote_ident(&info.schema),
            quote_ident(&info.name),
            column_names
                .iter()
                .map(|c| quote_ident(c))
                .collect::<Vec<_>>()
                .join(", ")
        );
        self.cands.push(Candidate {
            table: info.oid,
            columns: key.clone(),
            column_names,
            ddl,
            size: None,
            penalty: 0.0,
            breaks_hot: false,
            writes_from: None,
        });
        let id = self.cands.len() - 1;
        self.by_key.insert((info.oid, key), id);
        id
    }

    /// Write penalty per candidate, from the workload's INSERTs and UPDATEs on its table;
    /// for a table the workload never writes, from the table's statistics when the
    /// workload's window is known (see [`WritesFrom`]).
    fn penalties(&mut self, stmts: &[Stmt], tables: &BTreeMap<u32, TableInfo>) {
        for cand in &mut self.cands {
            let info = &tables[&cand.table];
            let mut entries = 0.0;
            let mut written_by_workload = false;
            for stmt in stmts {
                let (Some(p), Some(base)) = (&stmt.parsed, &stmt.baseline) else {
                    continue;
                };
                if stmt.target != Some(cand.table) {
                    continue;
                }
                let rows = stmt.weight * base.rows_written;
                match p.kind {
                    StmtKind::Insert => {
                        written_by_workload = true;
                        entries += rows;
                    }
                    StmtKind::Update => {
                        written_by_workload = true;
                        let assigned: BTreeSet<i16> = p
                            .assigned
                            .iter()
                            .filter_map(|n| info.columns.get(n).map(|c| c.0))
                            .collect();
                        let already_non_hot =
                            assigned.iter().any(|a| info.indexed_columns.contains(a));
                        if already_non_hot {
                            entries += rows;
                        } else if cand.columns.iter().any(|c| assigned.contains(c)) {
                            cand.breaks_hot = true;
                            entries += rows * (1 + info.index_count) as f64;
                        }
                    }
                    StmtKind::Delete => written_by_workload = true,
                    _ => {}
                }
            }
            cand.writes_from = if written_by_workload {
                Some(WritesFrom::WorkloadStatements)
            } else if let (Some(window), Some((writes, age))) =
                (self.opts.workload_window_seconds, info.writes_since_analyze)
                && writes > 0.0
            {
                entries = table_writes_in_window(writes, age, window);
                Some(WritesFrom::TableStatistics)
            } else {
                None
            };
            cand.penalty = round2(self.opts.write_penalty * entries);
        }
    }

    /// Each statement's best candidate set (module docs, step 3).
    async fn per_statement(&mut self, stmts: &mut [Stmt]) -> Result<(), ToolError> {
        for q in 0..stmts.len() {
            if stmts[q].candidates.is_empty() || stmts[q].baseline.is_none() {
                continue;
            }
            match self.best_for(stmts, q).await {
                Ok(Ok(best)) => stmts[q].best = best,
                Ok(Err(why)) => stmts[q].no_benefit = Some(why),
                Err(Stop::Budget) => {
                    self.truncated = true;
                    stmts[q].no_benefit = Some("the call or time budget ran out first".into());
                }
                Err(Stop::Statement(why)) => {
                    stmts[q].no_benefit = Some(format!("planning with candidates failed: {why}"));
                }
                Err(Stop::Fatal(e)) => return Err(*e),
            }
        }
        Ok(())
    }

    async fn best_for(
        &mut self,
        stmts: &[Stmt],
        q: usize,
    ) -> Result<Result<Vec<usize>, String>, Stop> {
        let stmt = &stmts[q];
        let before = stmt.baseline.as_ref().map_or(f64::NAN, |b| b.cost);
        let all: BTreeSet<usize> = stmt.candidates.iter().copied().collect();
        let used = self.evaluate(stmts, q, &all).await?.used;
        if used.is_empty() {
            let list: Vec<&str> = all.iter().map(|&c| self.cands[c].ddl.as_str()).collect();
            return Ok(Err(format!(
                "the planner uses none of the {} candidate indexes ({}): scanning without \
                 them is estimated cheaper",
                all.len(),
                list.join("; ")
            )));
        }
        let used: Vec<usize> = used.into_iter().collect();
        let mut subsets: Vec<Vec<usize>> = used.iter().map(|&c| vec![c]).collect();
        for (i, &a) in used.iter().enumerate() {
            for &b in &used[i + 1..] {
                subsets.push(vec![a, b]);
            }
        }
        let mut best: Option<(f64, Vec<usize>)> = None;
        for subset in subsets {
            let config: BTreeSet<usize> = subset.iter().copied().collect();
            let cost = self.evaluate(stmts, q, &config).await?.cost;
            let better = match &best {
                None => true,
                Some((best_cost, best_set)) => {
                    (cost, self.size_of(&subset), self.width_of(&subset), &subset)
                        < (
                            *best_cost,
                            self.size_of(best_set),
                            self.width_of(best_set),
                            best_set,
                        )
                }
            };
            if better {
                best = Some((cost, subset));
            }
        }
        let (cost, set) = best.expect("at least one used candidate");
        let improvement = if before > 0.0 {
            1.0 - cost / before
        } else {
            0.0
        };
        if improvement < self.opts.min_improvement {
            let list: Vec<&str> = set.iter().map(|&c| self.cands[c].ddl.as_str()).collect();
            return Ok(Err(format!(
                "its best candidate set ({}) lowers the estimated cost by only {:.1} % \
                 (the threshold is {:.1} %)",
                list.join("; "),
                improvement * 100.0,
                self.opts.min_improvement * 100.0
            )));
        }
        Ok(Ok(set))
    }

    fn size_of(&self, set: &[usize]) -> i64 {
        set.iter().map(|&c| self.cands[c].size.unwrap_or(0)).sum()
    }

    fn width_of(&self, set: &[usize]) -> usize {
        set.iter().map(|&c| self.cands[c].columns.len()).sum()
    }

    /// Σ weight × cost over the analysed statements, and the write penalty, with `config`.
    async fn objective(
        &mut self,
        stmts: &[Stmt],
        config: &BTreeSet<usize>,
    ) -> Result<(f64, f64), Stop> {
        let mut reads = 0.0;
        for q in 0..stmts.len() {
            let Some(base) = &stmts[q].baseline else {
                continue;
            };
            let cost = match self.evaluate(stmts, q, config).await {
                Ok(eval) => eval.cost,
                Err(Stop::Statement(_)) => base.cost,
                Err(other) => return Err(other),
            };
            reads += stmts[q].weight * cost;
        }
        let penalty: f64 = config.iter().map(|&c| self.cands[c].penalty).sum();
        Ok((round2(reads), round2(penalty)))
    }

    /// The workload search (module docs, step 4): chosen candidates in order, each with
    /// its marginal benefit.
    async fn workload_search(
        &mut self,
        stmts: &[Stmt],
    ) -> Result<(Vec<usize>, Vec<f64>), ToolError> {
        let pool: BTreeSet<usize> = stmts.iter().flat_map(|s| s.best.iter().copied()).collect();
        let pool: Vec<usize> = pool.into_iter().collect();
        let mut chosen: Vec<usize> = Vec::new();
        let mut marginal: Vec<f64> = Vec::new();
        match self.greedy(stmts, &pool, &mut chosen, &mut marginal).await {
            Ok(()) => {}
            Err(Stop::Budget) => self.truncated = true,
            Err(Stop::Statement(why)) => return Err(ToolError::internal(why)),
            Err(Stop::Fatal(e)) => return Err(*e),
        }
        Ok((chosen, marginal))
    }

    fn threshold(&self, before: f64) -> f64 {
        (0.005 * before).max(1.0)
    }

    async fn greedy(
        &mut self,
        stmts: &[Stmt],
        pool: &[usize],
        chosen: &mut Vec<usize>,
        marginal: &mut Vec<f64>,
    ) -> Result<(), Stop> {
        let (r0, p0) = self.objective(stmts, &BTreeSet::new()).await?;
        let threshold = self.threshold(r0 + p0);
        let budget = self.opts.storage_budget_bytes.unwrap_or(i64::MAX);
        let mut current = r0 + p0;
        loop {
            if chosen.len() >= self.opts.max_indexes {
                break;
            }
            let used_size = self.size_of(chosen);
            let mut steps: Vec<Vec<usize>> = pool
                .iter()
                .filter(|c| !chosen.contains(c))
                .map(|&c| vec![c])
                .collect();
            // Greedy(m = 2): the first step may take a pair (e.g. both sides of a join).
            if chosen.is_empty() && pool.len() <= 12 && self.opts.max_indexes >= 2 {
                for (i, &a) in pool.iter().enumerate() {
                    for &b in &pool[i + 1..] {
                        steps.push(vec![a, b]);
                    }
                }
            }
            let mut best: Option<(f64, Vec<usize>)> = None;
            for step in steps {
                if used_size.saturating_add(self.size_of(&step)) > budget {
                    continue;
                }
                let config: BTreeSet<usize> = chosen.iter().chain(&step).copied().collect();
                let (r, p) = self.objective(stmts, &config).await?;
                // A pair must beat the best single by the threshold to be preferred.
                let value = r + p + if step.len() > 1 { threshold } else { 0.0 };
                let better = match &best {
                    None => true,
                    Some((v, s)) => {
                        (value, self.size_of(&step), self.width_of(&step), &step)
                            < (*v, self.size_of(s), self.width_of(s), s)
                    }
                };
                if better {
                    best = Some((value, step));
                }
            }
            let Some((value, step)) = best else { break };
            if current - value < threshold {
                break;
            }
            let config: BTreeSet<usize> = chosen.iter().chain(&step).copied().collect();
            let (r, p) = self.objective(stmts, &config).await?;
            for &c in &step {
                chosen.push(c);
                marginal.push(round2((current - r - p) / step.len() as f64));
            }
            current = r + p;
        }
        // Cleanup: drop what no longer pays for itself given the others.
        for i in (0..chosen.len()).rev() {
            let without: BTreeSet<usize> = chosen
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, &c)| c)
                .collect();
            let (r, p) = self.objective(stmts, &without).await?;
            if r + p <= current + threshold {
                chosen.remove(i);
                marginal.remove(i);
                current = r + p;
            }
        }
        Ok(())
    }

    /// Final plans, the used-index check, and the answer.
    async fn finish(
        &mut self,
        stmts: Vec<Stmt>,
        mut chosen: Vec<usize>,
        mut marginal: Vec<f64>,
        hypopg: HypopgInfo,
        tables: &BTreeMap<u32, TableInfo>,
    ) -> Result<IndexAdvice, ToolError> {
        self.unlimited = true;
        let final_evals = loop {
            let config: BTreeSet<usize> = chosen.iter().copied().collect();
            let mut evals: Vec<Option<Eval>> = Vec::new();
            for q in 0..stmts.len() {
                evals.push(
                    match (&stmts[q].baseline, self.evaluate(&stmts, q, &config).await) {
                        (None, _) => None,
                        (Some(_), Ok(e)) => Some(e),
                        (Some(b), Err(Stop::Statement(_))) => Some(b.clone()),
                        (Some(_), Err(Stop::Fatal(e))) => return Err(*e),
                        (Some(_), Err(Stop::Budget)) => unreachable!("unlimited"),
                    },
                );
            }
            let used: BTreeSet<usize> = evals
                .iter()
                .flatten()
                .flat_map(|e| e.used.iter().copied())
                .collect();
            let before = chosen.len();
            let mut i = 0;
            chosen.retain(|c| {
                let keep = used.contains(c);
                if !keep {
                    marginal.remove(i);
                } else {
                    i += 1;
                }
                keep
            });
            if chosen.len() == before {
                break evals;
            }
        };
        let config: BTreeSet<usize> = chosen.iter().copied().collect();
        let (before_reads, _) = self
            .objective(&stmts, &BTreeSet::new())
            .await
            .map_err(stop_error)?;
        let (after_reads, penalty) = self.objective(&stmts, &config).await.map_err(stop_error)?;

        // Why each statement's best set did not make it.
        let mut rejected: BTreeMap<usize, String> = BTreeMap::new();
        let budget = self.opts.storage_budget_bytes.unwrap_or(i64::MAX);
        let pool: BTreeSet<usize> = stmts.iter().flat_map(|s| s.best.iter().copied()).collect();
        for &c in pool.iter().filter(|c| !config.contains(c)) {
            let size = self.cands[c].size.unwrap_or(0);
            let why = if self.size_of(&chosen).saturating_add(size) > budget {
                format!("its estimated {size} bytes do not fit the storage budget")
            } else if chosen.len() >= self.opts.max_indexes {
                "the maximum number of indexes is reached".into()
            } else {
                let mut with = config.clone();
                with.insert(c);
                let (r, _) = self.objective(&stmts, &with).await.map_err(stop_error)?;
                let gain = round2(after_reads - r);
                let cand_penalty = self.cands[c].penalty;
                if gain <= cand_penalty {
                    format!(
                        "its write penalty ({cand_penalty} cost units{}) outweighs its read \
                         benefit ({gain})",
                        if self.cands[c].breaks_hot {
                            ", it would make UPDATEs non-HOT"
                        } else {
                            ""
                        }
                    )
                } else {
                    format!(
                        "its benefit on top of the recommended indexes ({}) is below the \
                         acceptance threshold ({})",
                        round2(gain - cand_penalty),
                        round2(self.threshold(before_reads))
                    )
                }
            };
            rejected.insert(c, why);
        }

        let recommendations = chosen
            .iter()
            .zip(&marginal)
            .map(|(&c, &gain)| {
                let cand = &self.cands[c];
                let info = &tables[&cand.table];
                IndexRecommendation {
                    create_index: cand.ddl.clone(),
                    schema: info.schema.clone(),
                    table: info.name.clone(),
                    columns: cand.column_names.clone(),
                    estimated_size_bytes: cand.size.unwrap_or(0),
                    write_penalty: cand.penalty,
                    breaks_hot_updates: cand.breaks_hot,
                    writes_from: cand.writes_from,
                    marginal_benefit: gain,
                    benefits: stmts
                        .iter()
                        .zip(&final_evals)
                        .enumerate()
                        .filter_map(|(q, (s, e))| {
                            let e = e.as_ref()?;
                            e.used.contains(&c).then(|| StatementBenefit {
                                statement: q,
                                cost_before: s.baseline.as_ref().map_or(f64::NAN, |b| b.cost),
                                cost_after: e.cost,
                            })
                        })
                        .collect(),
                }
            })
            .collect();

        let statements = stmts
            .iter()
            .zip(&final_evals)
            .enumerate()
            .map(|(q, (s, e))| {
                let kind = s.parsed.as_ref().map(|p| p.kind);
                let before = s.baseline.as_ref().map(|b| b.cost);
                let after = e.as_ref().map(|e| e.cost);
                let uses: Vec<String> = e
                    .iter()
                    .flat_map(|e| e.used.iter())
                    .filter(|c| config.contains(c))
                    .map(|&c| self.cands[c].ddl.clone())
                    .collect();
                let (outcome, reason) = if let Some(why) = &s.skipped {
                    (StatementOutcome::Skipped, Some(why.clone()))
                } else if kind == Some(StmtKind::Insert) {
                    (
                        StatementOutcome::WriteOnly,
                        Some("an INSERT has no read part an index could speed up; its rows count toward the write penalties".into()),
                    )
                } else if !uses.is_empty() && after < before {
                    (StatementOutcome::Improved, None)
                } else if let Some(why) = &s.no_benefit {
                    (StatementOutcome::NoBeneficialIndex, Some(why.clone()))
                } else {
                    let why: Vec<String> = s
                        .best
                        .iter()
                        .map(|c| {
                            format!(
                                "{} was not selected: {}",
                                self.cands[*c].ddl,
                                rejected.get(c).map_or("it is not needed", String::as_str)
                            )
                        })
                        .collect();
                    (StatementOutcome::NoBeneficialIndex, Some(why.join("; ")))
                };
                StatementAdvice {
                    statement: q,
                    sql: s.sql.clone(),
                    weight: s.weight,
                    outcome,
                    plan_mode: s.parsed.as_ref().filter(|_| before.is_some()).map(explain::plan_mode),
                    cost_before: before,
                    cost_after: after,
                    improvement_pct: before.zip(after).filter(|(b, _)| *b > 0.0).map(|(b, a)| round2((1.0 - a / b) * 100.0)),
                    uses,
                    reason,
                }
            })
            .collect();

        let mut notes = std::mem::take(&mut self.notes);
        if self.version >= 130000 {
            notes.push(
                "Estimated sizes come from hypopg_relation_size, which ignores B-tree \
                 deduplication (PostgreSQL 13+): treat them as upper bounds."
                    .into(),
            );
        }
        notes.push(
            "Costs are planner estimates; `$n` statements were planned generically (typical, \
             not specific, parameter values)."
                .into(),
        );
        Ok(IndexAdvice {
            server_version_num: self.version,
            hypopg,
            recommendations,
            statements,
            objective: Objective {
                before: before_reads,
                after: round2(after_reads + penalty),
                write_penalty: penalty,
            },
            stats: AdvisorStats {
                explain_calls: self.explain_calls,
                hypothetical_indexes_created: self.created_total,
                candidates: self.cands.len(),
                elapsed_ms: self.started.elapsed().as_millis() as u64,
                truncated: self.truncated,
            },
            notes,
        })
    }
}

fn stop_error(stop: Stop) -> ToolError {
    match stop {
        Stop::Fatal(e) => *e,
        Stop::Statement(why) => ToolError::internal(why),
        Stop::Budget => ToolError::internal("budget exhausted in the final checks"),
    }
}

/// Each column use of `stmt` as (table, attnum, role); ambiguous or unknown names dropped.
fn resolve_uses(stmt: &Stmt, tables: &BTreeMap<u32, TableInfo>) -> Vec<(u32, i16, Role)> {
    let Some(p) = &stmt.parsed else {
        return Vec::new();
    };
    let in_stmt: Vec<&TableInfo> = stmt.tables.iter().filter_map(|t| tables.get(t)).collect();
    // qualifier → table, from aliases and bare table names; None when ambiguous.
    let mut by_qualifier: HashMap<&str, Option<u32>> = HashMap::new();
    for t in p.tables.iter().chain(&p.target) {
        let Some(info) = in_stmt
            .iter()
            .find(|i| i.name == t.name && (t.schema.is_empty() || i.schema == t.schema))
        else {
            continue;
        };
        for q in [t.alias.as_deref(), Some(t.name.as_str())]
            .into_iter()
            .flatten()
        {
            let entry = by_qualifier.entry(q).or_insert(Some(info.oid));
            if *entry != Some(info.oid) {
                *entry = None;
            }
        }
    }
    p.uses
        .iter()
        .filter_map(|u| {
            let info = match &u.qualifier {
                Some(q) => tables.get(&(*by_qualifier.get(q.as_str())?)?)?,
                None => {
                    let mut having = in_stmt.iter().filter(|i| i.columns.contains_key(&u.column));
                    let only = having.next()?;
                    if having.next().is_some() {
                        return None;
                    }
                    only
                }
            };
            let col = info.columns.get(&u.column)?;
            Some((info.oid, col.0, u.role))
        })
        .collect()
}

/// Every ordered arrangement of `k` items of `items`.
fn permutations(items: &[i16], k: usize) -> Vec<Vec<i16>> {
    if k == 0 {
        return vec![Vec::new()];
    }
    let mut out = Vec::new();
    for (i, &first) in items.iter().enumerate() {
        let rest: Vec<i16> = items
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, &x)| x)
            .collect();
        for mut tail in permutations(&rest, k - 1) {
            tail.insert(0, first);
            out.push(tail);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_writes_scale_to_the_workload_window() {
        assert_eq!(table_writes_in_window(600.0, 60.0, 3600.0), 36000.0);
        assert_eq!(table_writes_in_window(600.0, 0.0, 3600.0), 0.0);
        assert_eq!(table_writes_in_window(600.0, 60.0, 0.0), 0.0);
    }
}

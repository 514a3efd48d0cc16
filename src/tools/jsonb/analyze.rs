//! Column analysis: statistics over a sample, index suggestions from the workload, and a
//! scan for secrets and personal data. Each reads a bounded sample: the first `sampleSize`
//! rows matching `where` in the table's scan order (not a random sample), and says so.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{jsonb_column, limit_of, read, read_one};
use crate::db::ident::quote_ident;
use crate::error::{ToolError, ToolResult};
use crate::tools::sql::Sql;
use crate::tools::{Ctx, READ, Spec};

const SAMPLE_DEFAULT: u32 = 1000;
const SAMPLE_MAX: u32 = 100_000;
const SAMPLE_NOTE: &str =
    "the first sampleSize rows matching `where`, in the table's scan order (not a random sample)";

/// One JSON segment of a path in SQL/JSON path syntax: `.key`, `."odd key"` or `[*]`.
const SEGMENT_SQL: &str = "CASE WHEN k.key ~ '^[A-Za-z_][A-Za-z0-9_]*$' THEN '.' || k.key ELSE '.' || to_jsonb(k.key)::text END";

/// `nodes(rid, path, key, depth, value)`: every value of every sampled document (`sample(rid, doc)`),
/// its path in SQL/JSON path syntax with `[*]` for any array element, and the key it sits
/// under (an array element inherits its array's). Stops at depth 64.
fn nodes_cte() -> String {
    format!(
        "nodes(rid, path, key, depth, value) AS ( \
           SELECT rid, '$'::text, NULL::text, 0, doc FROM sample WHERE doc IS NOT NULL \
           UNION ALL \
           SELECT n.rid, n.path || e.seg, e.key, n.depth + 1, e.value FROM nodes n CROSS JOIN LATERAL ( \
               SELECT {SEGMENT_SQL} AS seg, k.key, k.value \
                 FROM jsonb_each(CASE WHEN jsonb_typeof(n.value) = 'object' THEN n.value END) k \
               UNION ALL \
               SELECT '[*]', n.key, x.value \
                 FROM jsonb_array_elements(CASE WHEN jsonb_typeof(n.value) = 'array' THEN n.value END) x \
           ) e WHERE n.depth < 64)"
    )
}

// ---------------------------------------------------------------------------------------
// pg_jsonb_stats

pub(super) const STATS: Spec = Spec {
    name: "pg_jsonb_stats",
    title: "JSONB column statistics",
    description: "Statistics of a jsonb column over a sample (the first `sampleSize` rows matching `where`, default 1000, at most 100000; not random): SQL NULLs, top-level types, the most frequent top-level keys, the types found at each path (SQL/JSON path syntax, `[*]` for array elements) down to `depth`, and the maximum depth.",
    hints: READ,
    shortcuts: &[],
};

column_args! {
    pub struct StatsArgs {
        /// Rows to sample (default 1000, at most 100000).
        pub sample_size: Option<u32>,
        /// Top-level keys to list (default 20, at most 1000).
        pub top_keys_limit: Option<u32>,
        /// Deepest path level to report types for (default 3, at most 10).
        pub depth: Option<u32>,
        /// Paths to list (default 200, at most 1000).
        pub path_limit: Option<u32>,
    }
}

#[derive(Serialize, Deserialize, JsonSchema)]
pub struct KeyFrequency {
    /// The top-level key.
    pub key: String,
    /// Sampled rows whose document has it.
    pub count: i64,
}

#[derive(Serialize, Deserialize, JsonSchema)]
pub struct PathTypes {
    /// The path in SQL/JSON path syntax, `[*]` for any array element (e.g. `$.items[*].price`).
    pub path: String,
    /// Nesting level (1 = a top-level key or element).
    pub depth: i64,
    /// Values found at the path (an array counts each element).
    pub count: i64,
    /// Sampled rows that have the path.
    pub rows: i64,
    /// JSON type → values of that type.
    pub types: BTreeMap<String, i64>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JsonbStats {
    /// Rows sampled.
    pub sampled_rows: i64,
    /// How the sample was taken.
    pub sample: String,
    /// Sampled rows whose column is SQL NULL.
    pub sql_null_count: i64,
    /// Top-level JSON type → rows (a JSON `null` document counts as `null`).
    pub type_distribution: BTreeMap<String, i64>,
    /// The most frequent top-level keys of object documents.
    pub top_keys: Vec<KeyFrequency>,
    /// Distinct top-level keys in the sample.
    pub distinct_keys: i64,
    /// Types per path, shallowest first, then most frequent.
    pub paths: Vec<PathTypes>,
    /// Distinct paths down to `depth` (more than listed when `pathsTruncated`).
    pub path_count: i64,
    /// `true` when there were more paths than listed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paths_truncated: Option<bool>,
    /// The deepest nesting level in the sample (0 for scalars; 64 means at least 64).
    pub max_depth: i64,
    /// The `depth` paths were reported to.
    pub depth: u32,
}

#[derive(Deserialize)]
struct StatsRow {
    sampled: i64,
    sql_nulls: i64,
    types: BTreeMap<String, i64>,
    top_keys: Vec<KeyFrequency>,
    distinct_keys: i64,
    max_depth: i64,
    paths: Vec<PathTypes>,
    path_count: i64,
}

pub(super) async fn stats(ctx: Ctx, a: StatsArgs) -> ToolResult<JsonbStats> {
    let ctx = ctx.within(a.transaction_id.as_deref());
    let sample = limit_of(a.sample_size, SAMPLE_DEFAULT, SAMPLE_MAX)?;
    let top = limit_of(a.top_keys_limit, 20, 1000)?;
    let depth = limit_of(a.depth, 3, 10)?;
    let path_limit = limit_of(a.path_limit, 200, 1000)?;
    let (col, expr) = jsonb_column(&ctx, &a.table, a.schema.as_deref(), &a.column, false).await?;
    let mut sql = Sql::new(a.params.clone());
    let filter = sql.where_clause(a.condition.as_deref())?;
    let n = sql.bind(i64::from(sample));
    let top_p = sql.bind(i64::from(top));
    let depth_p = sql.bind(i64::from(depth));
    let paths_p = sql.bind(i64::from(path_limit) + 1);
    sql.push(&format!(
        "WITH RECURSIVE sample AS (SELECT row_number() OVER () AS rid, doc FROM (SELECT {expr} AS doc FROM {table}{filter} LIMIT {n}) s), \
         {nodes} \
         SELECT (SELECT count(*) FROM sample) AS sampled, \
                (SELECT count(*) FROM sample WHERE doc IS NULL) AS sql_nulls, \
                (SELECT coalesce(jsonb_object_agg(t, c), '{{}}') FROM (SELECT jsonb_typeof(doc) AS t, count(*) AS c FROM sample WHERE doc IS NOT NULL GROUP BY 1) x) AS types, \
                (SELECT coalesce(jsonb_agg(jsonb_build_object('key', key, 'count', c) ORDER BY c DESC, key), '[]') \
                   FROM (SELECT k AS key, count(*) AS c FROM sample, jsonb_object_keys(CASE WHEN jsonb_typeof(doc) = 'object' THEN doc END) k \
                         GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT {top_p}) x) AS top_keys, \
                (SELECT count(DISTINCT k) FROM sample, jsonb_object_keys(CASE WHEN jsonb_typeof(doc) = 'object' THEN doc END) k) AS distinct_keys, \
                (SELECT coalesce(max(depth), 0) FROM nodes) AS max_depth, \
                (SELECT coalesce(jsonb_agg(jsonb_build_object('path', path, 'depth', depth, 'count', total, 'rows', rows, 'types', types) \
                                 ORDER BY depth, total DESC, path), '[]') \
                   FROM (SELECT y.path, y.depth, sum(y.c)::int8 AS total, max(r.rows)::int8 AS rows, jsonb_object_agg(y.t, y.c) AS types \
                           FROM (SELECT path, depth, jsonb_typeof(value) AS t, count(*) AS c \
                                   FROM nodes WHERE depth BETWEEN 1 AND {depth_p} GROUP BY 1, 2, 3) y \
                           JOIN (SELECT path, count(DISTINCT rid) AS rows \
                                   FROM nodes WHERE depth BETWEEN 1 AND {depth_p} GROUP BY 1) r ON r.path = y.path \
                          GROUP BY y.path, y.depth ORDER BY y.depth, total DESC, y.path LIMIT {paths_p}) z) AS paths, \
                (SELECT count(DISTINCT path) FROM nodes WHERE depth BETWEEN 1 AND {depth_p}) AS path_count",
        table = col.table,
        nodes = nodes_cte(),
    ));
    let row = read_one(&ctx, &sql, a.transaction_id.as_deref()).await?;
    let r: StatsRow = serde_json::from_value(Value::Object(row))
        .map_err(|e| ToolError::internal(format!("the statistics row did not decode: {e}")))?;
    let mut paths = r.paths;
    let cut = paths.len() > path_limit as usize;
    paths.truncate(path_limit as usize);
    Ok(JsonbStats {
        sampled_rows: r.sampled,
        sample: format!("{SAMPLE_NOTE}; sampleSize {sample}"),
        sql_null_count: r.sql_nulls,
        type_distribution: r.types,
        top_keys: r.top_keys,
        distinct_keys: r.distinct_keys,
        paths,
        path_count: r.path_count,
        paths_truncated: cut.then_some(true),
        max_depth: r.max_depth,
        depth,
    })
}

// ---------------------------------------------------------------------------------------
// pg_jsonb_security_scan

pub(super) const SECURITY_SCAN: Spec = Spec {
    name: "pg_jsonb_security_scan",
    title: "Find secrets and PII in JSONB",
    description: "Scans a sample of a jsonb column (the first `sampleSize` rows matching `where`, default 1000, at most 100000; not random) for values that look like secrets or personal data: secret-named keys (password, token, api_key…), credit-card numbers (Luhn-checked), emails, JWTs, AWS access key ids, private keys, US SSNs. Reports path, kind, count and masked examples, never a raw value.",
    hints: READ,
    shortcuts: &[],
};

column_args! {
    pub struct SecurityScanArgs {
        /// Rows to sample (default 1000, at most 100000).
        pub sample_size: Option<u32>,
    }
}

/// What a finding looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum FindingKind {
    /// A non-empty value under a key named like a secret (password, secret, token, api_key, …).
    SecretKey,
    /// A private key block (`-----BEGIN … PRIVATE KEY-----`).
    PrivateKey,
    /// An AWS access key id (`AKIA…`/`ASIA…`).
    AwsAccessKeyId,
    /// A JSON Web Token (`eyJ….eyJ….…`).
    Jwt,
    /// 13–19 digits (spaces or dashes allowed) passing the Luhn check.
    CreditCard,
    /// A US social security number (`123-45-6789`).
    UsSsn,
    /// An email address.
    Email,
}

impl FindingKind {
    fn high(self) -> bool {
        !matches!(self, FindingKind::Email)
    }
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// Where (SQL/JSON path syntax, `[*]` for any array element).
    pub path: String,
    /// What it looks like.
    pub kind: FindingKind,
    /// Values found there in the sample.
    pub count: i64,
    /// Up to 3 distinct examples, masked.
    pub examples: Vec<String>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecurityScan {
    /// Rows sampled.
    pub sampled_rows: i64,
    /// How the sample was taken.
    pub sample: String,
    /// `high` (secrets, keys, cards, SSNs), `medium` (emails only) or `none`.
    pub risk_level: String,
    /// Findings, most frequent first (at most 200).
    pub findings: Vec<Finding>,
    /// `true` when there were more findings than listed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated: Option<bool>,
}

#[derive(Deserialize)]
struct FindingRow {
    path: String,
    kind: FindingKind,
    count: i64,
    examples: Vec<String>,
}

const MAX_FINDINGS: usize = 200;

/// Masks a value for display: enough to recognise, never enough to use.
pub fn mask(kind: FindingKind, value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    let n = chars.len();
    match kind {
        FindingKind::CreditCard => {
            let digits: String = value.chars().filter(char::is_ascii_digit).collect();
            format!("****{}", &digits[digits.len().saturating_sub(4)..])
        }
        FindingKind::Email => match value.split_once('@') {
            Some((user, domain)) => {
                format!("{}***@{domain}", user.chars().next().unwrap_or('*'))
            }
            None => "***".into(),
        },
        FindingKind::UsSsn => format!("***-**-{}", &value[value.len().saturating_sub(4)..]),
        FindingKind::PrivateKey => format!("-----BEGIN … PRIVATE KEY----- ({n} chars)"),
        _ if n >= 12 => format!(
            "{}…{} ({n} chars)",
            chars[..4].iter().collect::<String>(),
            chars[n - 2..].iter().collect::<String>()
        ),
        _ => format!("*** ({n} chars)"),
    }
}

pub(super) async fn security_scan(ctx: Ctx, a: SecurityScanArgs) -> ToolResult<SecurityScan> {
    let ctx = ctx.within(a.transaction_id.as_deref());
    let sample = limit_of(a.sample_size, SAMPLE_DEFAULT, SAMPLE_MAX)?;
    let (col, expr) = jsonb_column(&ctx, &a.table, a.schema.as_deref(), &a.column, false).await?;
    let mut sql = Sql::new(a.params.clone());
    let filter = sql.where_clause(a.condition.as_deref())?;
    let n = sql.bind(i64::from(sample));
    let secret_key = sql.bind(
        "(^|[^a-z])(password|passwd|passphrase|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|client[_-]?secret|credentials?|auth[_-]?token|authorization)([^a-z]|$)|password|secret",
    );
    let email = sql.bind("^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\\.[A-Za-z0-9-]+)*\\.[A-Za-z]{2,}$");
    let jwt = sql.bind("^eyJ[A-Za-z0-9_-]+\\.eyJ[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]*$");
    let aws = sql.bind("(^|[^A-Z0-9])(AKIA|ASIA)[A-Z0-9]{16}([^A-Z0-9]|$)");
    let pkey = sql.bind("-----BEGIN ([A-Z]+ )*PRIVATE KEY-----");
    let card = sql.bind("^[0-9][0-9 -]{11,22}[0-9]$");
    let ssn = sql.bind("^[0-9]{3}-[0-9]{2}-[0-9]{4}$");
    let max = sql.bind(MAX_FINDINGS as i64 + 1);
    sql.push(&format!(
        "WITH RECURSIVE sample AS (SELECT row_number() OVER () AS rid, doc FROM (SELECT {expr} AS doc FROM {table}{filter} LIMIT {n}) s), \
         {nodes}, \
         leaves AS (SELECT path, key, value #>> '{{}}' AS text FROM nodes WHERE jsonb_typeof(value) IN ('string', 'number')), \
         hits AS ( \
           SELECT path, kind, text FROM leaves \
           CROSS JOIN LATERAL (SELECT regexp_replace(text, '[^0-9]', '', 'g') AS d) dd \
           CROSS JOIN LATERAL (VALUES \
             (CASE WHEN lower(key) ~ {secret_key} AND text <> '' THEN 'secretKey' END), \
             (CASE WHEN text ~ {pkey} THEN 'privateKey' END), \
             (CASE WHEN text ~ {aws} THEN 'awsAccessKeyId' END), \
             (CASE WHEN text ~ {jwt} THEN 'jwt' END), \
             (CASE WHEN text ~ {card} AND length(dd.d) BETWEEN 13 AND 19 AND ( \
                 SELECT sum(CASE WHEN (length(dd.d) - i) % 2 = 1 THEN (CASE WHEN x * 2 > 9 THEN x * 2 - 9 ELSE x * 2 END) ELSE x END) % 10 = 0 \
                   FROM (SELECT i, substr(dd.d, i, 1)::int AS x FROM generate_series(1, length(dd.d)) i) digits) \
               THEN 'creditCard' END), \
             (CASE WHEN text ~ {ssn} THEN 'usSsn' END), \
             (CASE WHEN text ~ {email} THEN 'email' END) \
           ) v(kind) WHERE kind IS NOT NULL) \
         SELECT path, kind, count(*) AS count, (array_agg(DISTINCT text))[1:3] AS examples, \
                (SELECT count(*) FROM sample) AS sampled \
           FROM hits GROUP BY path, kind ORDER BY count(*) DESC, path, kind LIMIT {max}",
        table = col.table,
        nodes = nodes_cte(),
    ));
    let out = read(&ctx, &sql, a.transaction_id.as_deref()).await?;
    let mut sampled = None;
    let mut findings = Vec::new();
    for row in out.rows {
        sampled = sampled.or(row.get("sampled").and_then(Value::as_i64));
        let r: FindingRow = serde_json::from_value(Value::Object(row))
            .map_err(|e| ToolError::internal(format!("a finding did not decode: {e}")))?;
        findings.push(Finding {
            examples: r.examples.iter().map(|v| mask(r.kind, v)).collect(),
            path: r.path,
            kind: r.kind,
            count: r.count,
        });
    }
    let truncated = findings.len() > MAX_FINDINGS;
    findings.truncate(MAX_FINDINGS);
    let sampled = match sampled {
        Some(s) => s,
        None => {
            // No finding: count the sample on its own.
            let mut count = Sql::new(a.params.clone());
            let filter = count.where_clause(a.condition.as_deref())?;
            let n = count.bind(i64::from(sample));
            count.push(&format!(
                "SELECT count(*) AS sampled FROM (SELECT 1 FROM {}{filter} LIMIT {n}) s",
                col.table
            ));
            read_one(&ctx, &count, a.transaction_id.as_deref())
                .await?
                .get("sampled")
                .and_then(Value::as_i64)
                .unwrap_or(0)
        }
    };
    let risk = if findings.iter().any(|f| f.kind.high()) {
        "high"
    } else if findings.is_empty() {
        "none"
    } else {
        "medium"
    };
    Ok(SecurityScan {
        sampled_rows: sampled,
        sample: format!("{SAMPLE_NOTE}; sampleSize {sample}"),
        risk_level: risk.into(),
        findings,
        truncated: truncated.then_some(true),
    })
}

// ---------------------------------------------------------------------------------------
// pg_jsonb_index_suggest

pub(super) const INDEX_SUGGEST: Spec = Spec {
    name: "pg_jsonb_index_suggest",
    title: "Suggest indexes for a JSONB column",
    description: "Index suggestions for a jsonb column from its workload: statements in pg_stat_statements (this database) that use it with `@>`/`<@`, `?`/`?|`/`?&`, `@?`/`@@` or `->>`/`->` comparisons → GIN (jsonb_path_ops when only `@>`/`@?`/`@@` are used, else jsonb_ops) or btree expression indexes. Without a workload, falls back to key statistics of a sample (the first `sampleSize` rows, default 1000) and says so. Notes existing indexes; gives CREATE INDEX statements.",
    hints: READ,
    shortcuts: &[],
};

#[derive(serde::Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IndexSuggestArgs {
    /// The table (optionally `schema.table`).
    #[serde(alias = "tableName")]
    pub table: String,
    /// Schema of `table` (default: the search path).
    pub schema: Option<String>,
    /// The jsonb column.
    #[serde(alias = "col")]
    pub column: String,
    /// Rows to sample for the key statistics (default 1000, at most 100000).
    pub sample_size: Option<u32>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExistingIndex {
    /// Index name.
    pub name: String,
    /// Its definition (pg_get_indexdef).
    pub definition: String,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IndexSuggestion {
    /// `gin_jsonb_path_ops`, `gin_jsonb_ops` or `btree_expression`.
    pub kind: String,
    /// The statement to create it (run it with pg_write_query; CONCURRENTLY avoids blocking writes).
    pub create_index: String,
    /// Why.
    pub reason: String,
    /// Calls of the statements that would use it (workload basis).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calls: Option<i64>,
    /// An existing index that already serves this, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub covered_by: Option<String>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IndexSuggest {
    /// `workload` (from pg_stat_statements) or `keyStatistics` (no workload known).
    pub basis: String,
    /// Statements of this database that use the column.
    pub statements_analyzed: i64,
    /// Operator → calls of statements using it on the column (e.g. `@>`: 120).
    pub operators: BTreeMap<String, i64>,
    /// Indexes on the table that involve the column.
    pub existing_indexes: Vec<ExistingIndex>,
    /// The suggestions, most useful first.
    pub suggestions: Vec<IndexSuggestion>,
    /// What the analysis could and could not see.
    pub notes: Vec<String>,
}

/// What one statement does with the column.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Operators applied to the column (`@>`, `?`, `@?`, `->>=`, …).
    pub ops: Vec<String>,
    /// Keys compared through `->>`/`->` when the key is a literal (not a `$n`).
    pub keys: Vec<String>,
}

fn is_column(node: Option<&pg_query::protobuf::Node>, column: &str) -> bool {
    use pg_query::protobuf::node::Node as N;
    match node.and_then(|n| n.node.as_ref()) {
        Some(N::ColumnRef(c)) => matches!(
            c.fields.last().and_then(|f| f.node.as_ref()),
            Some(N::String(s)) if s.sval == column
        ),
        Some(N::TypeCast(t)) => is_column(t.arg.as_deref(), column),
        _ => false,
    }
}

fn op_name(e: &pg_query::protobuf::AExpr) -> String {
    use pg_query::protobuf::node::Node as N;
    e.name
        .iter()
        .filter_map(|n| match n.node.as_ref() {
            Some(N::String(s)) => Some(s.sval.clone()),
            _ => None,
        })
        .next_back()
        .unwrap_or_default()
}

/// `col ->> 'key'` (or `->`): the key when it is a literal, `Some(None)` when a parameter.
fn key_access(node: Option<&pg_query::protobuf::Node>, column: &str) -> Option<Option<String>> {
    use pg_query::protobuf::node::Node as N;
    let Some(N::AExpr(e)) = node.and_then(|n| n.node.as_ref()) else {
        return None;
    };
    let op = op_name(e);
    if (op != "->>" && op != "->") || !is_column(e.lexpr.as_deref(), column) {
        return None;
    }
    let key = match e.rexpr.as_deref().and_then(|n| n.node.as_ref()) {
        Some(N::AConst(c)) => match &c.val {
            Some(pg_query::protobuf::a_const::Val::Sval(s)) => Some(s.sval.clone()),
            _ => None,
        },
        _ => None,
    };
    Some(key)
}

/// How `sql` uses `column` of `table` (by name; a statement naming another table with a
/// column of that name is not told apart from it).
pub fn column_usage(sql: &str, table: &str, column: &str) -> Option<Usage> {
    use pg_query::NodeRef;
    let parsed = pg_query::parse(sql, pg_query::ParserOptions::DEFAULT).ok()?;
    let nodes = parsed.protobuf.nodes();
    let names_table = nodes
        .iter()
        .any(|(n, _, _, _)| matches!(n, NodeRef::RangeVar(r) if r.relname == table));
    if !names_table {
        return None;
    }
    let mut usage = Usage::default();
    for (node, _, _, _) in &nodes {
        let NodeRef::AExpr(e) = node else { continue };
        let op = op_name(e);
        match op.as_str() {
            "@>" | "?" | "?|" | "?&" | "@?" | "@@" if is_column(e.lexpr.as_deref(), column) => {
                usage.ops.push(op)
            }
            "<@" if is_column(e.rexpr.as_deref(), column) => usage.ops.push("@>".into()),
            "=" | "<" | ">" | "<=" | ">=" => {
                for side in [e.lexpr.as_deref(), e.rexpr.as_deref()] {
                    if let Some(key) = key_access(side, column) {
                        usage.ops.push("->>".into());
                        if let Some(k) = key {
                            usage.keys.push(k);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    (!usage.ops.is_empty()).then_some(usage)
}

fn index_name(table: &str, column: &str, suffix: &str) -> String {
    let mut name = format!("{table}_{column}_{suffix}");
    while name.len() > 63 {
        name.pop();
    }
    name
}

pub(super) async fn index_suggest(ctx: Ctx, a: IndexSuggestArgs) -> ToolResult<IndexSuggest> {
    let sample = limit_of(a.sample_size, SAMPLE_DEFAULT, SAMPLE_MAX)?;
    let (col, expr) = jsonb_column(&ctx, &a.table, a.schema.as_deref(), &a.column, false).await?;
    let q = crate::db::ident::parse_qualified(&a.table, a.schema.as_deref())?;
    let bare_table = q.name.clone();
    let mut notes = Vec::new();

    // Existing indexes that involve the column.
    let mut sql = Sql::new(Vec::new());
    let oid = sql.bind(col.table_oid);
    sql.push(&format!(
        "SELECT c.relname::text AS name, pg_get_indexdef(i.indexrelid) AS definition \
           FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
          WHERE i.indrelid = {oid}::oid ORDER BY c.relname"
    ));
    let mut existing = Vec::new();
    for r in read(&ctx, &sql, None).await?.rows {
        let name = r
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let definition = r
            .get("definition")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let involves = pg_query::parse(&definition, pg_query::ParserOptions::DEFAULT)
            .map(|p| {
                p.protobuf.nodes().iter().any(|(n, _, _, _)| match n {
                    pg_query::NodeRef::IndexElem(e) => e.name == a.column,
                    pg_query::NodeRef::ColumnRef(c) => matches!(
                        c.fields.last().and_then(|f| f.node.as_ref()),
                        Some(pg_query::protobuf::node::Node::String(s)) if s.sval == a.column
                    ),
                    _ => false,
                })
            })
            .unwrap_or(false);
        if involves {
            existing.push(ExistingIndex { name, definition });
        }
    }
    let has_gin = |opclass: Option<&str>| {
        existing.iter().find(|e| {
            let d = e.definition.to_ascii_lowercase();
            d.contains("using gin")
                && match opclass {
                    Some(o) => d.contains(o),
                    None => !d.contains("jsonb_path_ops"),
                }
        })
    };

    // The workload: pg_stat_statements of this database, when installed and readable.
    let probe = read_one(
        &ctx,
        &{
            let mut s = Sql::new(Vec::new());
            s.push(
                "SELECT (SELECT n.nspname::text FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace \
                          WHERE e.extname = 'pg_stat_statements') AS schema",
            );
            s
        },
        None,
    )
    .await?;
    let mut operators: BTreeMap<String, i64> = BTreeMap::new();
    let mut keys: BTreeMap<String, i64> = BTreeMap::new();
    let mut analyzed = 0i64;
    let mut unknown_key_calls = 0i64;
    match probe.get("schema").and_then(Value::as_str) {
        None => notes.push(
            "pg_stat_statements is not installed in this database: no workload known.".into(),
        ),
        Some(schema) => {
            let mut s = Sql::new(Vec::new());
            let name = s.bind(a.column.to_lowercase());
            let quoted = s.bind(quote_ident(&a.column));
            s.push(&format!(
                "SELECT query, calls::int8 AS calls FROM {}.pg_stat_statements \
                  WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
                    AND (strpos(lower(query), {name}) > 0 OR strpos(query, {quoted}) > 0) \
                  ORDER BY calls DESC LIMIT 2000",
                quote_ident(schema)
            ));
            match read(&ctx, &s, None).await {
                Ok(out) => {
                    for r in out.rows {
                        let text = r.get("query").and_then(Value::as_str).unwrap_or_default();
                        let calls = r.get("calls").and_then(Value::as_i64).unwrap_or(0);
                        let Some(u) = column_usage(text, &bare_table, &a.column) else {
                            continue;
                        };
                        analyzed += 1;
                        let mut seen = u.ops.clone();
                        seen.sort();
                        seen.dedup();
                        for op in seen {
                            *operators.entry(op).or_default() += calls;
                        }
                        if u.ops.iter().any(|o| o == "->>") && u.keys.is_empty() {
                            unknown_key_calls += calls;
                        }
                        for k in u.keys {
                            *keys.entry(k).or_default() += calls;
                        }
                    }
                }
                Err(e) => notes.push(format!(
                    "pg_stat_statements could not be read ({}): no workload known.",
                    e.error
                )),
            }
        }
    }

    let mut suggestions = Vec::new();
    let calls_of = |ops: &[&str]| -> i64 {
        ops.iter()
            .map(|o| operators.get(*o).copied().unwrap_or(0))
            .sum()
    };
    let gin = |opclass: Option<&str>| {
        format!(
            "CREATE INDEX CONCURRENTLY {} ON {} USING gin ({}{})",
            quote_ident(&index_name(
                &bare_table,
                &a.column,
                if opclass.is_some() { "path_ops" } else { "gin" }
            )),
            col.table,
            col.column,
            opclass.map(|o| format!(" {o}")).unwrap_or_default()
        )
    };
    let btree = |key: &str| {
        format!(
            "CREATE INDEX CONCURRENTLY {} ON {} (({} ->> {}))",
            quote_ident(&index_name(&bare_table, &a.column, key)),
            col.table,
            col.column,
            quote_literal(key)
        )
    };
    // An existing btree index on `col ->> 'key'` (first column).
    let btree_covering = |key: &str| {
        let needle = format!("->> {}", quote_literal(key));
        existing
            .iter()
            .find(|e| {
                let d = e.definition.to_ascii_lowercase();
                e.definition.contains(&needle) && d.contains("using btree")
            })
            .map(|e| e.name.clone())
    };
    let basis = if analyzed > 0 {
        "workload"
    } else {
        "keyStatistics"
    };
    if analyzed > 0 {
        let existence = calls_of(&["?", "?|", "?&"]);
        let path_ops = calls_of(&["@>", "@?", "@@"]);
        if existence > 0 {
            suggestions.push(IndexSuggestion {
                kind: "gin_jsonb_ops".into(),
                create_index: gin(None),
                reason: format!(
                    "key-existence operators (?, ?|, ?&) are used ({existence} calls), which only the default jsonb_ops GIN supports; it also serves @>, @? and @@ ({path_ops} calls)"
                ),
                calls: Some(existence + path_ops),
                covered_by: has_gin(None).map(|e| e.name.clone()),
            });
        } else if path_ops > 0 {
            suggestions.push(IndexSuggestion {
                kind: "gin_jsonb_path_ops".into(),
                create_index: gin(Some("jsonb_path_ops")),
                reason: format!(
                    "only @>, @? and @@ are used on the column ({path_ops} calls): jsonb_path_ops is smaller and faster for them than jsonb_ops"
                ),
                calls: Some(path_ops),
                covered_by: has_gin(Some("jsonb_path_ops"))
                    .or_else(|| has_gin(None))
                    .map(|e| e.name.clone()),
            });
        }
        let mut by_calls: Vec<(&String, &i64)> = keys.iter().collect();
        by_calls.sort_by(|x, y| y.1.cmp(x.1).then(x.0.cmp(y.0)));
        for (k, calls) in by_calls.into_iter().take(5) {
            suggestions.push(IndexSuggestion {
                kind: "btree_expression".into(),
                create_index: btree(k),
                reason: format!(
                    "`{} ->> '{k}'` is compared with =, <, > ({calls} calls): a btree expression index serves it (GIN does not)",
                    a.column
                ),
                calls: Some(*calls),
                covered_by: btree_covering(k),
            });
        }
        if unknown_key_calls > 0 {
            notes.push(format!(
                "`->>`/`->` comparisons whose key pg_stat_statements shows only as a parameter ({unknown_key_calls} calls): index the keys your application compares with a btree expression index, e.g. {}",
                btree("key")
            ));
        }
    }
    if analyzed == 0 {
        if probe.get("schema").is_some_and(|s| !s.is_null()) {
            notes.push(
                "pg_stat_statements shows no statement of this database using the column: no workload known."
                    .into(),
            );
        }
        notes.push(format!(
            "Suggestions below are based on key statistics of a sample ({SAMPLE_NOTE}; sampleSize {sample}), not on queries."
        ));
        let mut s = Sql::new(Vec::new());
        let n = s.bind(i64::from(sample));
        s.push(&format!(
            "SELECT count(*) AS rows, count(*) FILTER (WHERE jsonb_typeof(doc) = 'object') AS objects, \
                    (SELECT coalesce(jsonb_agg(jsonb_build_object('key', key, 'count', c) ORDER BY c DESC, key), '[]') \
                       FROM (SELECT k AS key, count(*) AS c FROM (SELECT {expr} AS doc FROM {} LIMIT {n}) t2, \
                                    jsonb_object_keys(CASE WHEN jsonb_typeof(doc) = 'object' THEN doc END) k \
                             GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 3) x) AS top_keys \
               FROM (SELECT {expr} AS doc FROM {} LIMIT {n}) t",
            col.table, col.table
        ));
        let row = read_one(&ctx, &s, None).await?;
        let rows = row.get("rows").and_then(Value::as_i64).unwrap_or(0);
        let objects = row.get("objects").and_then(Value::as_i64).unwrap_or(0);
        if rows == 0 || objects == 0 {
            notes.push("The sample holds no object documents: nothing to suggest.".into());
        } else {
            suggestions.push(IndexSuggestion {
                kind: "gin_jsonb_path_ops".into(),
                create_index: gin(Some("jsonb_path_ops")),
                reason: "a general-purpose index for containment (`@>`) and jsonpath (`@?`, `@@`) queries; use the default jsonb_ops instead if you query key existence (`?`)".into(),
                calls: None,
                covered_by: has_gin(Some("jsonb_path_ops"))
                    .or_else(|| has_gin(None))
                    .map(|e| e.name.clone()),
            });
            let top: Vec<KeyFrequency> =
                serde_json::from_value(row.get("top_keys").cloned().unwrap_or(json!([])))
                    .unwrap_or_default();
            for k in top.iter().filter(|k| k.count * 2 >= objects) {
                suggestions.push(IndexSuggestion {
                    kind: "btree_expression".into(),
                    create_index: btree(&k.key),
                    reason: format!(
                        "key `{}` is in {} of {objects} sampled objects: if queries compare `{} ->> '{}'` with =, <, >, a btree expression index serves them",
                        k.key, k.count, a.column, k.key
                    ),
                    calls: None,
                    covered_by: btree_covering(&k.key),
                });
            }
        }
    }
    if !existing.is_empty() {
        notes.push(format!(
            "{} existing index(es) involve the column; suggestions they already serve name them in coveredBy.",
            existing.len()
        ));
    }
    Ok(IndexSuggest {
        basis: basis.into(),
        statements_analyzed: analyzed,
        operators,
        existing_indexes: existing,
        suggestions,
        notes,
    })
}

/// A SQL string literal for DDL text shown to the caller (`'it''s'`).
fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_is_read_from_the_parse_tree() {
        let u = column_usage(
            "SELECT * FROM docs WHERE data @> $1 AND data ->> 'status' = $2",
            "docs",
            "data",
        )
        .unwrap();
        assert_eq!(u.ops, ["@>", "->>"]);
        assert_eq!(u.keys, ["status"]);
        let u = column_usage("SELECT 1 FROM docs d WHERE d.data ? $1", "docs", "data").unwrap();
        assert_eq!(u.ops, ["?"]);
        let u = column_usage("SELECT 1 FROM docs WHERE (data->>$1) = $2", "docs", "data").unwrap();
        assert!(u.keys.is_empty());
        assert!(column_usage("SELECT * FROM other WHERE data @> $1", "docs", "data").is_none());
        assert!(column_usage("SELECT data FROM docs", "docs", "data").is_none());
    }

    #[test]
    fn masks_never_show_the_value() {
        assert_eq!(
            mask(FindingKind::CreditCard, "4111 1111 1111 1111"),
            "****1111"
        );
        assert_eq!(
            mask(FindingKind::Email, "ann@example.com"),
            "a***@example.com"
        );
        assert_eq!(mask(FindingKind::SecretKey, "hunter2"), "*** (7 chars)");
        assert_eq!(
            mask(FindingKind::SecretKey, "sk_live_abcdefghijkl"),
            "sk_l…kl (20 chars)"
        );
        assert_eq!(mask(FindingKind::UsSsn, "123-45-6789"), "***-**-6789");
    }
}

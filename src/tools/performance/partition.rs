//! `pg_partition_strategy_suggest` (issue 10, DBA toolkit item 1): partition key candidates
//! for one table from its column types and planner statistics (pg_stats), whether
//! partitioning is worth it, and a DDL sketch with every identifier quoted and every value
//! a quoted literal.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::GROUP;
use super::health::{round, rows, sql_literal};
use crate::db::ident::{parse_qualified, quote_ident};
use crate::error::{ToolError, ToolResult};
use crate::tools::core::resolve_relation;
use crate::tools::relsize;
use crate::tools::{Ctx, READ, Spec, Tool};

pub fn tools() -> Vec<Tool> {
    vec![PARTITION_STRATEGY.tool(GROUP, partition_strategy_suggest)]
}

const PARTITION_STRATEGY: Spec = Spec {
    name: "pg_partition_strategy_suggest",
    title: "Partitioning strategy for a table",
    description: "For one ordinary table: its size and rows, whether partitioning is worth it (total size at least `minSizeBytes`, default 10 GiB; below that, indexes usually serve better), and partition key candidates (RANGE, LIST, HASH) from the column types and pg_stats, best first, each with evidence and a DDL sketch.\nNeeds the table analyzed.\n- RANGE on a date/timestamp/timestamptz column whose |correlation| with the physical order is at least `minCorrelation` (default 0.9), with the finest interval (day, week, month, year) that cuts the value span into at most `maxPartitions` (default 60) partitions;\n- LIST on a column with 2 to `maxListValues` (default 20) distinct values, all among the most common values;\n- HASH on the primary key's first column (else a column with a unique index of its own), modulus the power of two ≥ size / `hashPartitionBytes` (default 4 GiB), 4–64.\nEach candidate has its evidence, the unique constraints that would have to include the key, and a DDL sketch (a new partitioned table; the data copy and swap are left to you). Span and values come from the statistics sample, not a scan.",
    hints: READ,
    shortcuts: &[],
};

fn default_min_size() -> u64 {
    10 << 30
}
fn default_min_correlation() -> f64 {
    0.9
}
fn default_max_partitions() -> u32 {
    60
}
fn default_max_list() -> u32 {
    20
}
fn default_hash_bytes() -> u64 {
    4 << 30
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PartitionArgs {
    /// The table (`schema.table` allowed).
    #[serde(alias = "tableName", alias = "name")]
    pub table: String,
    pub schema: Option<String>,
    /// Total size (bytes, with indexes and TOAST) from which partitioning is worth it
    /// (default 10 GiB).
    #[serde(default = "default_min_size")]
    pub min_size_bytes: u64,
    /// RANGE candidates need at least this |correlation| (default 0.9).
    #[serde(default = "default_min_correlation")]
    pub min_correlation: f64,
    /// RANGE: most partitions the chosen interval may give over the value span, 2–1000
    /// (default 60).
    #[serde(default = "default_max_partitions")]
    pub max_partitions: u32,
    /// LIST: most distinct values, 2–100 (default 20).
    #[serde(default = "default_max_list")]
    pub max_list_values: u32,
    /// HASH: target bytes per partition (default 4 GiB).
    #[serde(default = "default_hash_bytes")]
    pub hash_partition_bytes: u64,
}

/// How the table would be partitioned.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum Strategy {
    Range,
    List,
    Hash,
}

/// The statistics a candidate rests on.
#[derive(Serialize, JsonSchema, Clone, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct KeyEvidence {
    /// pg_stats.n_distinct as an estimated count of distinct values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distinct_values: Option<f64>,
    /// pg_stats.correlation: physical order against value order, −1 to 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation: Option<f64>,
    /// Share of NULLs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub null_fraction: Option<f64>,
    /// Smallest value seen by ANALYZE (RANGE).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_value: Option<String>,
    /// Largest value seen by ANALYZE (RANGE).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_value: Option<String>,
    /// maxValue − minValue in days (RANGE).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub span_days: Option<f64>,
    /// The values (LIST), as text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
    /// The column is (the first column of) the primary key (HASH).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_key: Option<bool>,
}

/// One candidate partition key.
#[derive(Serialize, JsonSchema, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    pub strategy: Strategy,
    pub column: String,
    /// The column's type.
    #[serde(rename = "type")]
    pub data_type: String,
    /// RANGE: day, week, month or year.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// Partitions the sketch creates (a DEFAULT partition not counted).
    pub partitions: i64,
    /// Table bytes per partition if the data spread evenly.
    pub estimated_bytes_per_partition: i64,
    pub evidence: KeyEvidence,
    pub reason: String,
    /// Primary key and unique constraints that do not contain the column: on a partitioned
    /// table they must, so each has to change (or be dropped) first.
    pub conflicting_constraints: Vec<String>,
    /// CREATE TABLE … PARTITION BY and its partitions, identifiers quoted.
    pub ddl: String,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PartitionStrategy {
    /// `schema.table`.
    pub table: String,
    /// Size with indexes and TOAST, bytes.
    pub total_bytes: i64,
    /// The table alone (heap), bytes.
    pub table_bytes: i64,
    /// Estimated rows (pg_class.reltuples; absent when never analyzed or vacuumed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_rows: Option<i64>,
    /// totalBytes ≥ minSizeBytes.
    pub worth_partitioning: bool,
    /// Why (with the threshold).
    pub assessment: String,
    /// Candidates, best first (RANGE, LIST, HASH; within one, the strongest evidence first).
    pub candidates: Vec<Candidate>,
    /// Caveats (no statistics, …).
    pub notes: Vec<String>,
}

#[derive(Deserialize)]
struct TableRow {
    schema: String,
    table: String,
    relkind: String,
    #[serde(skip)]
    total_bytes: i64,
    #[serde(skip)]
    table_bytes: i64,
    reltuples: f64,
    analyzed: bool,
}

#[derive(Deserialize, Clone)]
struct ColumnRow {
    column: String,
    data_type: String,
    temporal: bool,
    n_distinct: Option<f64>,
    correlation: Option<f64>,
    null_frac: Option<f64>,
    mcv: Option<Vec<String>>,
    mcv_freq_sum: Option<f64>,
    has_histogram: bool,
    lo: Option<String>,
    hi: Option<String>,
    span_seconds: Option<f64>,
    pk_first: bool,
    unique_alone: bool,
    /// Unique/PK constraints not containing the column.
    conflicts: Vec<String>,
}

const DAY: f64 = 86_400.0;

/// The interval for a span: the finest of day, week, month, year giving at most
/// `max_partitions` partitions (year when even that gives more).
fn interval_for(span_seconds: f64, max_partitions: i64) -> (&'static str, i64) {
    let units = [
        ("day", DAY),
        ("week", 7.0 * DAY),
        ("month", 30.436875 * DAY),
        ("year", 365.2425 * DAY),
    ];
    for (name, len) in units {
        let n = (span_seconds / len).floor() as i64 + 1;
        if n <= max_partitions || name == "year" {
            return (name, n.max(1));
        }
    }
    unreachable!()
}

/// The hash modulus: the power of two ≥ bytes / target, within 4–64.
fn hash_modulus(bytes: i64, target: i64) -> i64 {
    let want = (bytes as f64 / target.max(1) as f64).ceil() as i64;
    let mut m = 4;
    while m < want && m < 64 {
        m *= 2;
    }
    m
}

/// `name_suffix`, the name cut (at a character boundary) so the whole fits in 63 bytes.
fn child_name(table: &str, suffix: &str) -> String {
    let room = 63usize.saturating_sub(suffix.len() + 1);
    let mut cut = table.len().min(room);
    while !table.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}_{suffix}", &table[..cut])
}

fn head(schema: &str, table: &str, strategy: Strategy, column: &str) -> (String, String) {
    let parent = child_name(table, "partitioned");
    let q = |n: &str| format!("{}.{}", quote_ident(schema), quote_ident(n));
    (
        parent.clone(),
        format!(
            "-- a new partitioned table shaped like {old} (indexes and unique constraints are created afterwards and must include the key):\nCREATE TABLE {new} (LIKE {old} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED INCLUDING IDENTITY INCLUDING STORAGE INCLUDING COMMENTS) PARTITION BY {} ({});\n",
            match strategy {
                Strategy::Range => "RANGE",
                Strategy::List => "LIST",
                Strategy::Hash => "HASH",
            },
            quote_ident(column),
            old = q(table),
            new = q(&parent),
        ),
    )
}

fn tail(schema: &str, table: &str, parent: &str) -> String {
    let q = |n: &str| format!("{}.{}", quote_ident(schema), quote_ident(n));
    format!(
        "-- then, in a maintenance window: copy the rows, and swap the names in one transaction:\n-- INSERT INTO {new} SELECT * FROM {old};\n-- BEGIN; ALTER TABLE {old} RENAME TO {old_renamed}; ALTER TABLE {new} RENAME TO {table_ident}; COMMIT;",
        new = q(parent),
        old = q(table),
        old_renamed = quote_ident(&child_name(table, "old")),
        table_ident = quote_ident(table),
    )
}

async fn partition_strategy_suggest(ctx: Ctx, a: PartitionArgs) -> ToolResult<PartitionStrategy> {
    if !(a.min_correlation.is_finite() && (0.0..=1.0).contains(&a.min_correlation)) {
        return Err(ToolError::invalid(format!(
            "minCorrelation must be between 0 and 1, got {}",
            a.min_correlation
        )));
    }
    if !(2..=1000).contains(&a.max_partitions) {
        return Err(ToolError::invalid(
            "maxPartitions must be between 2 and 1000",
        ));
    }
    if !(2..=100).contains(&a.max_list_values) {
        return Err(ToolError::invalid(
            "maxListValues must be between 2 and 100",
        ));
    }
    if a.hash_partition_bytes == 0 || a.hash_partition_bytes > i64::MAX as u64 {
        return Err(ToolError::invalid("hashPartitionBytes must be positive"));
    }
    let min_size = i64::try_from(a.min_size_bytes)
        .map_err(|_| ToolError::invalid("minSizeBytes is too large"))?;
    let q = parse_qualified(&a.table, a.schema.as_deref())?;
    let oid = resolve_relation(&ctx, &q, "table").await?;
    let sql = format!(
        "SELECT n.nspname::text AS schema, c.relname::text AS table, c.relkind::text AS relkind, \
           {}::int8 AS total_bytes, {}::int8 AS table_bytes, \
           c.reltuples::float8 AS reltuples, \
           EXISTS (SELECT 1 FROM pg_stats s WHERE s.schemaname = n.nspname AND s.tablename = c.relname) AS analyzed \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1::oid",
        relsize::size("pg_total_relation_size", "c.oid"),
        relsize::size("pg_relation_size", "c.oid"),
    );
    // The sizes are NULL while the table is locked (`relsize`).
    #[derive(Deserialize)]
    struct Row {
        #[serde(flatten)]
        row: TableRow,
        total_bytes: Option<i64>,
        table_bytes: Option<i64>,
    }
    let r: Vec<Row> = rows(&ctx, &sql, &[json!(oid)]).await?;
    let r = r
        .into_iter()
        .next()
        .ok_or_else(|| ToolError::internal("the table vanished"))?;
    let (Some(total_bytes), Some(table_bytes)) = (r.total_bytes, r.table_bytes) else {
        return Err(relsize::locked_error(&format!(
            "{}.{}",
            r.row.schema, r.row.table
        )));
    };
    let t = TableRow {
        total_bytes,
        table_bytes,
        ..r.row
    };
    match t.relkind.as_str() {
        "r" => {}
        "p" => {
            return Err(ToolError::invalid(format!(
                "'{}.{}' is already partitioned",
                t.schema, t.table
            ))
            .suggest("pg_list_partitions shows its partitions."));
        }
        _ => {
            return Err(ToolError::invalid(format!(
                "'{}.{}' is not an ordinary table",
                t.schema, t.table
            )));
        }
    }
    let cols: Vec<ColumnRow> = rows(
        &ctx,
        "WITH u AS ( \
           SELECT con.conname::text AS name, con.conkey FROM pg_constraint con \
            WHERE con.conrelid = $1::oid AND con.contype IN ('p', 'u')) \
         SELECT a.attname::text AS column, format_type(a.atttypid, a.atttypmod) AS data_type, \
           a.atttypid IN ('date'::regtype, 'timestamp'::regtype, 'timestamptz'::regtype) AS temporal, \
           s.attname IS NOT NULL AS has_stats, s.n_distinct::float8 AS n_distinct, \
           s.correlation::float8 AS correlation, s.null_frac::float8 AS null_frac, \
           s.most_common_vals::text::text[] AS mcv, \
           (SELECT sum(f)::float8 FROM unnest(s.most_common_freqs) f) AS mcv_freq_sum, \
           s.histogram_bounds IS NOT NULL AS has_histogram, \
           r.lo::text AS lo, r.hi::text AS hi, extract(epoch FROM r.hi - r.lo)::float8 AS span_seconds, \
           EXISTS (SELECT 1 FROM pg_constraint p WHERE p.conrelid = $1::oid AND p.contype = 'p' AND a.attnum = ANY (p.conkey)) AS in_pk, \
           EXISTS (SELECT 1 FROM pg_constraint p WHERE p.conrelid = $1::oid AND p.contype = 'p' AND p.conkey[1] = a.attnum) AS pk_first, \
           EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = $1::oid AND i.indisunique AND i.indnkeyatts = 1 AND i.indkey[0] = a.attnum AND i.indpred IS NULL) AS unique_alone, \
           coalesce((SELECT array_agg(u.name ORDER BY u.name) FROM u WHERE NOT a.attnum = ANY (u.conkey)), '{}') AS conflicts \
         FROM pg_attribute a \
         JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
         LEFT JOIN pg_stats s ON s.schemaname = n.nspname AND s.tablename = c.relname AND s.attname = a.attname AND NOT s.inherited \
         LEFT JOIN LATERAL ( \
           SELECT min(v) AS lo, max(v) AS hi FROM ( \
             SELECT unnest(s.histogram_bounds::text::timestamptz[]) AS v \
              WHERE a.atttypid IN ('date'::regtype, 'timestamp'::regtype, 'timestamptz'::regtype) \
             UNION ALL SELECT unnest(s.most_common_vals::text::timestamptz[]) \
              WHERE a.atttypid IN ('date'::regtype, 'timestamp'::regtype, 'timestamptz'::regtype)) x) r ON true \
         WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped \
         ORDER BY a.attnum",
        &[json!(oid)],
    )
    .await?;
    let rows_est = (t.reltuples >= 0.0).then_some(t.reltuples);
    let distinct = |c: &ColumnRow| {
        c.n_distinct.map(|d| {
            if d >= 0.0 {
                d
            } else {
                (-d * rows_est.unwrap_or(0.0)).round()
            }
        })
    };
    let mut notes = Vec::new();
    if !t.analyzed {
        notes.push(format!(
            "The table has no planner statistics: run ANALYZE {}.{} first; only a HASH key on the primary key can be suggested without them.",
            quote_ident(&t.schema),
            quote_ident(&t.table)
        ));
    }
    let mut range = Vec::new();
    let mut list = Vec::new();
    let mut hash = Vec::new();
    for c in &cols {
        let evidence = KeyEvidence {
            distinct_values: distinct(c),
            correlation: c.correlation.map(|v| round(v, 4)),
            null_fraction: c.null_frac.map(|v| round(v, 4)),
            ..KeyEvidence::default()
        };
        // RANGE
        if c.temporal
            && let (Some(corr), Some(span), Some(lo), Some(hi)) =
                (c.correlation, c.span_seconds, &c.lo, &c.hi)
            && corr.abs() >= a.min_correlation
        {
            let (unit, n) = interval_for(span, a.max_partitions.into());
            range.push((
                corr.abs(),
                c.clone(),
                unit,
                n,
                lo.clone(),
                hi.clone(),
                evidence.clone(),
            ));
            continue;
        }
        // LIST
        if let (Some(d), Some(mcv)) = (distinct(c), &c.mcv)
            && d >= 2.0
            && d <= f64::from(a.max_list_values)
            && mcv.len() as f64 >= d
            && c.mcv_freq_sum.unwrap_or(0.0) + c.null_frac.unwrap_or(0.0) >= 0.99
            && !c.has_histogram
        {
            list.push((d, c.clone(), mcv.clone(), evidence.clone()));
            continue;
        }
        // HASH
        if (c.pk_first || c.unique_alone) && !c.temporal {
            hash.push((c.pk_first, c.clone(), evidence));
        }
    }
    range.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.column.cmp(&y.1.column)));
    list.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.column.cmp(&y.1.column)));
    hash.sort_by(|x, y| y.0.cmp(&x.0).then(x.1.column.cmp(&y.1.column)));
    let (schema, table) = (t.schema.as_str(), t.table.as_str());
    let per = |n: i64| t.table_bytes / n.max(1);
    let mut candidates = Vec::new();
    for (_, c, unit, _, lo, hi, mut evidence) in range {
        // The bounds, computed by the server (date_trunc in its time zone), as the column's
        // own type's text.
        #[derive(Deserialize)]
        struct B {
            b: String,
        }
        let bounds: Vec<B> = rows(
            &ctx,
            "SELECT (CASE $4::text WHEN 'date' THEN g::date::text WHEN 'timestamp without time zone' THEN g::timestamp::text ELSE g::text END) AS b \
             FROM generate_series(date_trunc($3, $1::timestamptz), date_trunc($3, $2::timestamptz) + ('1 ' || $3)::interval, ('1 ' || $3)::interval) g \
             ORDER BY g",
            &[json!(lo), json!(hi), json!(unit), json!(c.data_type)],
        )
        .await?;
        let n = bounds.len().saturating_sub(1) as i64;
        let (parent, mut ddl) = head(schema, table, Strategy::Range, &c.column);
        for w in bounds.windows(2) {
            let suffix = format!(
                "p{}",
                w[0].b
                    .chars()
                    .take(10)
                    .filter(|ch| ch.is_ascii_digit())
                    .collect::<String>()
            );
            ddl.push_str(&format!(
                "CREATE TABLE {}.{} PARTITION OF {}.{} FOR VALUES FROM ({}) TO ({});\n",
                quote_ident(schema),
                quote_ident(&child_name(table, &suffix)),
                quote_ident(schema),
                quote_ident(&parent),
                sql_literal(&w[0].b),
                sql_literal(&w[1].b)
            ));
        }
        ddl.push_str(&format!(
            "-- rows outside the ranges (and NULLs) go here; add future partitions ahead of time:\nCREATE TABLE {}.{} PARTITION OF {}.{} DEFAULT;\n",
            quote_ident(schema),
            quote_ident(&child_name(table, "default")),
            quote_ident(schema),
            quote_ident(&parent)
        ));
        ddl.push_str(&tail(schema, table, &parent));
        evidence.min_value = Some(lo.clone());
        evidence.max_value = Some(hi.clone());
        evidence.span_days = c.span_seconds.map(|s| round(s / DAY, 2));
        candidates.push(Candidate {
            strategy: Strategy::Range,
            reason: format!(
                "{} values follow the physical row order (correlation {:.3}) and span {:.1} days: one partition per {unit} gives {n} partitions, old ones can be detached or dropped whole, and time-bounded queries scan only their partitions",
                c.data_type,
                c.correlation.unwrap_or(0.0),
                c.span_seconds.unwrap_or(0.0) / DAY
            ),
            column: c.column.clone(),
            data_type: c.data_type.clone(),
            interval: Some(unit.to_string()),
            partitions: n,
            estimated_bytes_per_partition: per(n),
            evidence,
            conflicting_constraints: c.conflicts.clone(),
            ddl,
        });
    }
    for (d, c, values, mut evidence) in list {
        let (parent, mut ddl) = head(schema, table, Strategy::List, &c.column);
        let mut sorted = values.clone();
        sorted.sort();
        for (i, v) in sorted.iter().enumerate() {
            ddl.push_str(&format!(
                "CREATE TABLE {}.{} PARTITION OF {}.{} FOR VALUES IN ({});\n",
                quote_ident(schema),
                quote_ident(&child_name(table, &format!("p{}", i + 1))),
                quote_ident(schema),
                quote_ident(&parent),
                sql_literal(v)
            ));
        }
        ddl.push_str(&format!(
            "-- new values{} go here:\nCREATE TABLE {}.{} PARTITION OF {}.{} DEFAULT;\n",
            if c.null_frac.unwrap_or(0.0) > 0.0 {
                " and NULLs"
            } else {
                ""
            },
            quote_ident(schema),
            quote_ident(&child_name(table, "default")),
            quote_ident(schema),
            quote_ident(&parent)
        ));
        ddl.push_str(&tail(schema, table, &parent));
        let n = sorted.len() as i64;
        evidence.values = Some(sorted);
        candidates.push(Candidate {
            strategy: Strategy::List,
            reason: format!(
                "only {d} distinct values, all among the most common ones: one partition per value lets queries filtering on it read one partition"
            ),
            column: c.column.clone(),
            data_type: c.data_type.clone(),
            interval: None,
            partitions: n,
            estimated_bytes_per_partition: per(n),
            evidence,
            conflicting_constraints: c.conflicts.clone(),
            ddl,
        });
    }
    let hash_bytes = i64::try_from(a.hash_partition_bytes).unwrap_or(i64::MAX);
    for (pk, c, mut evidence) in hash {
        let m = hash_modulus(t.total_bytes, hash_bytes);
        let (parent, mut ddl) = head(schema, table, Strategy::Hash, &c.column);
        for r in 0..m {
            ddl.push_str(&format!(
                "CREATE TABLE {}.{} PARTITION OF {}.{} FOR VALUES WITH (MODULUS {m}, REMAINDER {r});\n",
                quote_ident(schema),
                quote_ident(&child_name(table, &format!("p{r}"))),
                quote_ident(schema),
                quote_ident(&parent)
            ));
        }
        ddl.push_str(&tail(schema, table, &parent));
        evidence.primary_key = Some(pk);
        candidates.push(Candidate {
            strategy: Strategy::Hash,
            reason: format!(
                "{} spreads rows evenly over {m} partitions (a power of two, so the count can later double); it helps maintenance (smaller vacuums and indexes per partition) and lookups by this key, not range queries",
                if pk {
                    "the primary key's first column"
                } else {
                    "a column with a unique index"
                }
            ),
            column: c.column.clone(),
            data_type: c.data_type.clone(),
            interval: None,
            partitions: m,
            estimated_bytes_per_partition: per(m),
            evidence,
            conflicting_constraints: c.conflicts.clone(),
            ddl,
        });
    }
    let worth = t.total_bytes >= min_size;
    let assessment = if worth {
        format!(
            "{} bytes, at least the {} bytes from which partitioning pays off: partition pruning, per-partition vacuum and dropping old data whole outweigh the planning overhead",
            t.total_bytes, min_size
        )
    } else {
        format!(
            "{} bytes, below the {} bytes from which partitioning usually pays off: good indexes serve a table this size better, and partitioning adds planning overhead and constraint limits; the candidates show what would fit if it grows",
            t.total_bytes, min_size
        )
    };
    if candidates.is_empty() {
        notes.push("No column qualifies: no date/timestamp column correlated with the row order, no low-cardinality column, and no primary key or unique column for HASH.".into());
    }
    Ok(PartitionStrategy {
        table: format!("{schema}.{table}"),
        total_bytes: t.total_bytes,
        table_bytes: t.table_bytes,
        estimated_rows: rows_est.map(|r| r as i64),
        worth_partitioning: worth,
        assessment,
        candidates,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_and_moduli() {
        assert_eq!(interval_for(9.0 * DAY, 60), ("day", 10));
        assert_eq!(interval_for(365.0 * DAY, 60), ("week", 53));
        assert_eq!(interval_for(4.0 * 365.0 * DAY, 60), ("month", 48));
        assert_eq!(interval_for(30.0 * 365.0 * DAY, 60), ("year", 30));
        assert_eq!(interval_for(300.0 * 365.0 * DAY, 60).0, "year");
        assert_eq!(hash_modulus(1, 4 << 30), 4);
        assert_eq!(hash_modulus(20 << 30, 4 << 30), 8);
        assert_eq!(hash_modulus(1 << 40, 4 << 30), 64);
        assert_eq!(child_name(&"x".repeat(70), "default").len(), 63);
        assert_eq!(child_name("é".repeat(40).as_str(), "p12").len(), 62);
    }
}

//! `pg_detect_query_anomalies`: statements of pg_stat_statements whose latency is anomalous,
//! by three stated rules, each with its evidence (issue 10, DBA toolkit item 1).
//!
//! The reference server's detector keeps statements with `mean > threshold × stddev`, which
//! selects the most *stable* statements (research/dba-toolkit.md §3.1, B24). The rules here
//! measure deviation: the slowest call against the statement's own distribution, the spread
//! of the distribution, and the statement's mean against the rest of the workload.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::GROUP;
use super::health::round;
use super::workload::{StatementsWindow, check_range, decode_camel, pss_error, pss_view};
use crate::db::ident::quote_ident;
use crate::error::{ToolError, ToolResult};
use crate::tools::catalog::Int8;
use crate::tools::exec::read_rows;
use crate::tools::{Ctx, READ, Spec, Tool};

pub fn tools() -> Vec<Tool> {
    vec![DETECT_QUERY_ANOMALIES.tool(GROUP, detect_query_anomalies)]
}

const DETECT_QUERY_ANOMALIES: Spec = Spec {
    name: "pg_detect_query_anomalies",
    title: "Statements with anomalous latency",
    description: "Statements of the current database (pg_stat_statements, top-level, called at least `minCalls` times, default 10) whose execution time is anomalous by any of three rules (maxOutlier, highVariance, slowerThanWorkload), each reported with its numbers and reason.\n- maxOutlier: z = (max − mean) / stddev ≥ `zThreshold` (default 3; z cannot exceed √(calls − 1)) and max − mean ≥ `minDeviationMs`;\n- highVariance: coefficient of variation stddev / mean ≥ `cvThreshold` (default 1) and stddev ≥ `minDeviationMs`;\n- slowerThanWorkload: mean ≥ `medianMultiple` (default 10) × the median mean of the statements analyzed (needs at least 3) and mean − median ≥ `minDeviationMs`.\n`minDeviationMs` (default 5) keeps sub-millisecond jitter out. Statistics are cumulative since the window's start (`window`). Most total time first, at most `limit` (default 20). Needs the extension: the error says how to install it.",
    hints: READ,
    shortcuts: &[],
};

fn default_min_calls() -> u32 {
    10
}
fn default_z() -> f64 {
    3.0
}
fn default_cv() -> f64 {
    1.0
}
fn default_median_multiple() -> f64 {
    10.0
}
fn default_min_deviation() -> f64 {
    5.0
}
fn default_limit() -> u32 {
    20
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AnomalyArgs {
    /// Only statements called at least this often, 2–1000000 (default 10).
    #[serde(default = "default_min_calls")]
    pub min_calls: u32,
    /// maxOutlier rule: (max − mean) / stddev at least this (default 3).
    #[serde(default = "default_z", alias = "threshold")]
    pub z_threshold: f64,
    /// highVariance rule: stddev / mean at least this (default 1).
    #[serde(default = "default_cv")]
    pub cv_threshold: f64,
    /// slowerThanWorkload rule: mean at least this many times the workload's median mean
    /// (default 10).
    #[serde(default = "default_median_multiple")]
    pub median_multiple: f64,
    /// The absolute deviation (ms) every rule also needs (default 5).
    #[serde(default = "default_min_deviation")]
    pub min_deviation_ms: f64,
    /// Anomalous statements returned, 1–100 (default 20).
    #[serde(default = "default_limit")]
    pub limit: u32,
    /// Characters of query text kept, 20–10000 (default 300).
    pub query_max_chars: Option<u32>,
}

/// Which rule found the anomaly.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum AnomalyKind {
    /// The slowest call is far above the statement's own mean.
    MaxOutlier,
    /// The statement's execution times spread widely around its mean.
    HighVariance,
    /// The statement's mean is far above the workload's median mean.
    SlowerThanWorkload,
}

/// One rule that fired: the measured value, the threshold it met, and why it matters.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct AnomalyReason {
    pub kind: AnomalyKind,
    /// The measure: z of the slowest call (maxOutlier), stddev / mean (highVariance), mean /
    /// median (slowerThanWorkload).
    pub value: f64,
    /// The threshold the value met.
    pub threshold: f64,
    /// The reason in words, with the numbers.
    pub detail: String,
}

/// A statement with anomalous latency.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Anomaly {
    /// pg_stat_statements' query identifier.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queryid: Option<Int8>,
    /// The role that ran it.
    pub user: String,
    /// Normalized text (constants as $n), cut to queryMaxChars.
    pub query: String,
    pub calls: i64,
    /// Execution time over all calls, ms.
    pub total_time_ms: f64,
    pub mean_time_ms: f64,
    /// Population standard deviation of the execution time, ms.
    pub stddev_time_ms: f64,
    pub min_time_ms: f64,
    pub max_time_ms: f64,
    /// (max − mean) / stddev; absent when stddev is 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub z_score: Option<f64>,
    /// stddev / mean; absent when mean is 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coefficient_of_variation: Option<f64>,
    /// mean / the workload's median mean; absent with fewer than 3 statements or a 0 median.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean_to_median: Option<f64>,
    /// The rules that fired (at least one).
    pub reasons: Vec<AnomalyReason>,
}

/// The thresholds applied.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnomalyThresholds {
    pub min_calls: u32,
    pub z_threshold: f64,
    pub cv_threshold: f64,
    pub median_multiple: f64,
    pub min_deviation_ms: f64,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueryAnomalies {
    /// The database the statistics are for (the current one).
    pub database: String,
    /// Statements analyzed (called at least minCalls times).
    pub analyzed_statements: i64,
    /// The median of their mean execution times, ms; absent when none was analyzed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload_median_mean_ms: Option<f64>,
    pub thresholds: AnomalyThresholds,
    /// Anomalous statements, most total time first.
    pub anomalies: Vec<Anomaly>,
    /// Anomalous statements found, before `limit`.
    pub total_count: i64,
    pub truncated: bool,
    pub window: StatementsWindow,
}

fn finite_non_negative(v: f64, what: &str) -> ToolResult<f64> {
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(ToolError::invalid(format!(
            "{what} must be a non-negative number, got {v}"
        )))
    }
}

#[derive(Deserialize)]
struct Row {
    queryid: Option<Int8>,
    user: String,
    query: String,
    calls: i64,
    total_time_ms: f64,
    mean_time_ms: f64,
    stddev_time_ms: f64,
    min_time_ms: f64,
    max_time_ms: f64,
    median: Option<f64>,
    analyzed: i64,
}

/// The rules of the description, applied to one statement.
fn reasons(
    r: &Row,
    t: &AnomalyThresholds,
) -> (Option<f64>, Option<f64>, Option<f64>, Vec<AnomalyReason>) {
    let mut out = Vec::new();
    let dev = t.min_deviation_ms;
    let z = (r.stddev_time_ms > 0.0).then(|| (r.max_time_ms - r.mean_time_ms) / r.stddev_time_ms);
    let cv = (r.mean_time_ms > 0.0).then(|| r.stddev_time_ms / r.mean_time_ms);
    let median = r.median.filter(|m| *m > 0.0 && r.analyzed >= 3);
    let ratio = median.map(|m| r.mean_time_ms / m);
    if let Some(z) = z
        && z >= t.z_threshold
        && r.max_time_ms - r.mean_time_ms >= dev
    {
        out.push(AnomalyReason {
            kind: AnomalyKind::MaxOutlier,
            value: round(z, 2),
            threshold: t.z_threshold,
            detail: format!(
                "the slowest call took {:.3} ms, {:.2} standard deviations ({:.3} ms) above the mean of {:.3} ms",
                r.max_time_ms, z, r.stddev_time_ms, r.mean_time_ms
            ),
        });
    }
    if let Some(cv) = cv
        && cv >= t.cv_threshold
        && r.stddev_time_ms >= dev
    {
        out.push(AnomalyReason {
            kind: AnomalyKind::HighVariance,
            value: round(cv, 3),
            threshold: t.cv_threshold,
            detail: format!(
                "execution times vary widely: stddev {:.3} ms is {:.2} × the mean of {:.3} ms (min {:.3} ms, max {:.3} ms)",
                r.stddev_time_ms, cv, r.mean_time_ms, r.min_time_ms, r.max_time_ms
            ),
        });
    }
    if let (Some(m), Some(ratio)) = (median, ratio)
        && ratio >= t.median_multiple
        && r.mean_time_ms - m >= dev
    {
        out.push(AnomalyReason {
            kind: AnomalyKind::SlowerThanWorkload,
            value: round(ratio, 2),
            threshold: t.median_multiple,
            detail: format!(
                "its mean of {:.3} ms is {:.1} × the median mean ({:.3} ms) of the {} statements analyzed",
                r.mean_time_ms, ratio, m, r.analyzed
            ),
        });
    }
    (
        z.map(|z| round(z, 2)),
        cv.map(|c| round(c, 3)),
        ratio.map(|r| round(r, 2)),
        out,
    )
}

async fn detect_query_anomalies(ctx: Ctx, a: AnomalyArgs) -> ToolResult<QueryAnomalies> {
    check_range("minCalls", a.min_calls, 2, 1_000_000)?;
    check_range("limit", a.limit, 1, 100)?;
    let max_chars = a.query_max_chars.unwrap_or(300);
    check_range("queryMaxChars", max_chars, 20, 10_000)?;
    let t = AnomalyThresholds {
        min_calls: a.min_calls,
        z_threshold: finite_non_negative(a.z_threshold, "zThreshold")?,
        cv_threshold: finite_non_negative(a.cv_threshold, "cvThreshold")?,
        median_multiple: finite_non_negative(a.median_multiple, "medianMultiple")?,
        min_deviation_ms: finite_non_negative(a.min_deviation_ms, "minDeviationMs")?,
    };
    let setup = pss_view(&ctx).await?;
    let pick = |new: &'static str, old: &'static str| if setup.has(new) { new } else { old };
    let (total, mean, stddev, min, max) = (
        setup.total_time,
        pick("mean_exec_time", "mean_time"),
        pick("stddev_exec_time", "stddev_time"),
        pick("min_exec_time", "min_time"),
        pick("max_exec_time", "max_time"),
    );
    let toplevel = if setup.has_toplevel {
        "AND s.toplevel"
    } else {
        ""
    };
    // Every statement analyzed is returned (bounded by pg_stat_statements.max); the rules
    // are applied in Rust, where they are unit-tested, and the text is cut in SQL.
    let sql = format!(
        "/* pgmcp:pg_detect_query_anomalies */ WITH s AS ( \
           SELECT s.queryid, s.userid::regrole::text AS \"user\", left(s.query, $2) AS query, \
                  s.calls, s.{total}::float8 AS total_time_ms, s.{mean}::float8 AS mean_time_ms, \
                  s.{stddev}::float8 AS stddev_time_ms, s.{min}::float8 AS min_time_ms, \
                  s.{max}::float8 AS max_time_ms \
             FROM {view} s \
            WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
              AND s.calls >= $1 {toplevel} \
              AND strpos(s.query, '/* pgmcp:') = 0) \
         SELECT s.*, \
                (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY mean_time_ms) FROM s)::float8 AS median, \
                (SELECT count(*) FROM s)::int8 AS analyzed \
           FROM s ORDER BY total_time_ms DESC, queryid",
        view = setup.view
    );
    let found = read_rows(&ctx, &sql, &[json!(a.min_calls), json!(max_chars)])
        .await
        .map_err(pss_error)?;
    let found: Vec<Row> = crate::tools::catalog::decode(found)?;
    let analyzed = found.first().map(|r| r.analyzed).unwrap_or(0);
    let median = found.first().and_then(|r| r.median);
    let mut anomalies = Vec::new();
    for r in found {
        let (z, cv, ratio, why) = reasons(&r, &t);
        if why.is_empty() {
            continue;
        }
        anomalies.push(Anomaly {
            queryid: r.queryid,
            user: r.user,
            query: r.query,
            calls: r.calls,
            total_time_ms: round(r.total_time_ms, 3),
            mean_time_ms: round(r.mean_time_ms, 3),
            stddev_time_ms: round(r.stddev_time_ms, 3),
            min_time_ms: round(r.min_time_ms, 3),
            max_time_ms: round(r.max_time_ms, 3),
            z_score: z,
            coefficient_of_variation: cv,
            mean_to_median: ratio,
            reasons: why,
        });
    }
    let total_count = anomalies.len() as i64;
    anomalies.truncate(a.limit as usize);
    let window = statements_window(&ctx, &setup).await?;
    Ok(QueryAnomalies {
        database: setup.database,
        analyzed_statements: analyzed,
        workload_median_mean_ms: median.map(|m| round(m, 3)),
        thresholds: t,
        truncated: total_count > anomalies.len() as i64,
        total_count,
        anomalies,
        window,
    })
}

/// The observation window (PG14+ `pg_stat_statements_info`; empty before).
pub(super) async fn statements_window(
    ctx: &Ctx,
    setup: &super::workload::PssView,
) -> ToolResult<StatementsWindow> {
    if !setup.has_info {
        return Ok(StatementsWindow {
            stats_reset: None,
            dealloc: None,
        });
    }
    let info = read_rows(
        ctx,
        &format!(
            "SELECT stats_reset::text AS stats_reset, dealloc FROM {}.pg_stat_statements_info",
            quote_ident(&setup.schema)
        ),
        &[],
    )
    .await?;
    Ok(decode_camel::<StatementsWindow>(info)?
        .into_iter()
        .next()
        .unwrap_or(StatementsWindow {
            stats_reset: None,
            dealloc: None,
        }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(calls: i64, mean: f64, stddev: f64, max: f64, median: f64, analyzed: i64) -> Row {
        Row {
            queryid: None,
            user: "u".into(),
            query: "q".into(),
            calls,
            total_time_ms: mean * calls as f64,
            mean_time_ms: mean,
            stddev_time_ms: stddev,
            min_time_ms: 0.0,
            max_time_ms: max,
            median: Some(median),
            analyzed,
        }
    }

    fn t() -> AnomalyThresholds {
        AnomalyThresholds {
            min_calls: 10,
            z_threshold: 3.0,
            cv_threshold: 1.0,
            median_multiple: 10.0,
            min_deviation_ms: 5.0,
        }
    }

    fn kinds(r: &Row) -> Vec<AnomalyKind> {
        reasons(r, &t()).3.into_iter().map(|r| r.kind).collect()
    }

    #[test]
    fn rules_measure_deviation_not_stability() {
        // 19 calls of 0 ms and one of 300 ms: mean 15, stddev 65.38, z = √19 = 4.36.
        let stddev = (300.0f64 * 300.0 / 20.0 - 15.0 * 15.0).sqrt();
        let r = row(20, 15.0, stddev, 300.0, 1.0, 5);
        let (z, cv, ratio, _) = reasons(&r, &t());
        assert_eq!(z, Some(4.36));
        assert_eq!(cv, Some(4.359));
        assert_eq!(ratio, Some(15.0));
        assert_eq!(
            kinds(&r),
            [
                AnomalyKind::MaxOutlier,
                AnomalyKind::HighVariance,
                AnomalyKind::SlowerThanWorkload
            ]
        );
        // A stable statement (the reference's "z-score" would pick it): nothing.
        assert!(kinds(&row(1000, 50.0, 0.5, 51.0, 50.0, 5)).is_empty());
        // Sub-millisecond jitter is never an anomaly, whatever its z.
        assert!(kinds(&row(1000, 0.01, 0.001, 1.0, 0.01, 5)).is_empty());
        // Slow but stable: only slowerThanWorkload; with fewer than 3 statements, nothing.
        assert_eq!(
            kinds(&row(5, 50.0, 0.1, 50.2, 0.02, 5)),
            [AnomalyKind::SlowerThanWorkload]
        );
        assert!(kinds(&row(5, 50.0, 0.1, 50.2, 0.02, 2)).is_empty());
    }
}

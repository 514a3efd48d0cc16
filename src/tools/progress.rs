//! Progress of long maintenance statements (VACUUM, ANALYZE, CLUSTER, VACUUM FULL,
//! REINDEX), for a caller that asked for it. The transport (MCP's
//! `notifications/progress`, when the request carried a `progressToken`) installs a
//! [`ProgressSink`] in the call's [`Ctx`]; this module does not know about MCP.
//!
//! While the statement runs on its pooled connection, another read polls PostgreSQL's
//! `pg_stat_progress_*` views for pgmcp's own backends in this database (and the target
//! relation, when there is one) every [`POLL`], and reports the phase and the share of
//! blocks done. A statement that ends before the first poll still reports its start
//! (0 %) and its end (100 %); progress values only ever increase, as MCP requires.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use super::Ctx;
use super::catalog::decode;
use super::exec::read_rows;

/// One progress report: `progress` out of `total` (percent: total 100).
#[derive(Debug, Clone, PartialEq)]
pub struct ProgressUpdate {
    pub progress: f64,
    pub total: Option<f64>,
    pub message: Option<String>,
}

/// Where a call's progress reports go (installed by the transport).
pub type ProgressSink = Arc<dyn Fn(ProgressUpdate) + Send + Sync>;

/// How often the progress views are read while a statement runs.
pub const POLL: Duration = Duration::from_millis(250);

/// What a statement reports progress as (which `pg_stat_progress_*` view).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Maintenance {
    /// `pg_stat_progress_vacuum` (plain VACUUM), then `…_analyze` with ANALYZE.
    Vacuum,
    /// `pg_stat_progress_analyze`.
    Analyze,
    /// `pg_stat_progress_cluster` (CLUSTER and VACUUM FULL).
    Cluster,
    /// `pg_stat_progress_create_index` (REINDEX).
    Reindex,
}

/// Every view that can report a maintenance statement, as (kind, phase, done, total) rows
/// of pgmcp's own backends (`$1`) in the current database, on the relation `$2` when it is
/// not null.
const PROGRESS_SQL: &str = "\
WITH d AS (SELECT oid FROM pg_database WHERE datname = current_database())
SELECT 'vacuum' AS kind, phase, heap_blks_scanned::int8 AS done, heap_blks_total::int8 AS total
  FROM pg_stat_progress_vacuum, d WHERE datid = d.oid AND pid = ANY($1::int4[])
   AND ($2::oid IS NULL OR relid = $2::oid)
UNION ALL
SELECT 'analyze', phase, sample_blks_scanned::int8, sample_blks_total::int8
  FROM pg_stat_progress_analyze, d WHERE datid = d.oid AND pid = ANY($1::int4[])
   AND ($2::oid IS NULL OR relid = $2::oid)
UNION ALL
SELECT 'cluster', phase, heap_blks_scanned::int8, heap_blks_total::int8
  FROM pg_stat_progress_cluster, d WHERE datid = d.oid AND pid = ANY($1::int4[])
   AND ($2::oid IS NULL OR relid = $2::oid)
UNION ALL
SELECT 'reindex', phase, blocks_done::int8, blocks_total::int8
  FROM pg_stat_progress_create_index, d WHERE datid = d.oid AND pid = ANY($1::int4[])
   AND ($2::oid IS NULL OR relid = $2::oid)";

#[derive(Deserialize)]
struct Row {
    kind: String,
    phase: Option<String>,
    done: Option<i64>,
    total: Option<i64>,
}

/// Runs `work` (the statement), reporting its progress to the call's sink when there is
/// one; without a sink it is just `work.await`. `relid` narrows the report to the target
/// relation (REINDEX reports its table's oid there).
pub async fn reporting<T>(
    ctx: &Ctx,
    what: Maintenance,
    label: &str,
    relid: Option<i64>,
    work: impl std::future::Future<Output = T>,
) -> T {
    let Some(sink) = ctx.progress.clone() else {
        return work.await;
    };
    let mut last = 0.0_f64;
    sink(ProgressUpdate {
        progress: 0.0,
        total: Some(100.0),
        message: Some(format!("{label}: started")),
    });
    let mut last_message = String::new();
    tokio::pin!(work);
    let mut tick = tokio::time::interval(POLL);
    tick.tick().await;
    let out = loop {
        tokio::select! {
            out = &mut work => break out,
            _ = tick.tick() => {
                // A failed poll only costs this report.
                let Ok(rows) = read_rows(
                    ctx,
                    PROGRESS_SQL,
                    &[json!(ctx.db().own_backends.pids()), json!(relid)],
                )
                .await else { continue };
                let Ok(rows) = decode::<Row>(rows) else { continue };
                let Some(row) = pick(&rows, what) else { continue };
                let message = describe(label, row);
                // Below 100: the end is reported when the statement returns. MCP wants
                // strictly increasing progress, so a new phase at the same share is
                // reported a hundredth higher, and nothing new is not reported at all.
                let pct = round2((share(row) * 99.0).min(99.0));
                let next = if pct > last {
                    pct
                } else if message != last_message {
                    round2((last + 0.01).min(99.0))
                } else {
                    continue;
                };
                if next <= last {
                    continue;
                }
                last = next;
                last_message = message.clone();
                sink(ProgressUpdate {
                    progress: next,
                    total: Some(100.0),
                    message: Some(message),
                });
            }
        }
    };
    sink(ProgressUpdate {
        progress: 100.0,
        total: Some(100.0),
        message: Some(format!("{label}: done")),
    });
    out
}

/// The row that describes `what` (a VACUUM with ANALYZE reports the analyze phase last).
fn pick(rows: &[Row], what: Maintenance) -> Option<&Row> {
    let kinds: &[&str] = match what {
        Maintenance::Vacuum => &["vacuum", "analyze", "cluster"],
        Maintenance::Analyze => &["analyze"],
        Maintenance::Cluster => &["cluster"],
        Maintenance::Reindex => &["reindex"],
    };
    rows.iter().find(|r| kinds.contains(&r.kind.as_str()))
}

fn share(row: &Row) -> f64 {
    match (row.done, row.total) {
        (Some(d), Some(t)) if t > 0 => (d as f64 / t as f64).clamp(0.0, 1.0),
        _ => 0.0,
    }
}

fn describe(label: &str, row: &Row) -> String {
    let phase = row.phase.as_deref().unwrap_or("running");
    match (row.done, row.total) {
        (Some(d), Some(t)) if t > 0 => format!("{label}: {phase} ({d} of {t} blocks)"),
        _ => format!("{label}: {phase}"),
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(kind: &str, phase: &str, done: i64, total: i64) -> Row {
        Row {
            kind: kind.into(),
            phase: Some(phase.into()),
            done: Some(done),
            total: Some(total),
        }
    }

    #[test]
    fn the_right_view_and_an_honest_share() {
        let rows = vec![
            row("reindex", "building index", 5, 10),
            row("vacuum", "scanning heap", 3, 4),
        ];
        let r = pick(&rows, Maintenance::Vacuum).unwrap();
        assert_eq!(r.kind, "vacuum");
        assert_eq!(share(r), 0.75);
        assert_eq!(
            describe("VACUUM t", r),
            "VACUUM t: scanning heap (3 of 4 blocks)"
        );
        assert!(pick(&rows, Maintenance::Cluster).is_none());
        assert_eq!(share(&row("analyze", "x", 1, 0)), 0.0);
    }
}

//! Alert thresholds (issue 10, DBA toolkit item 1): the warning and critical levels the
//! health checks judge severity by, held per server process ([`crate::tools::Env`]) in
//! memory, never persisted, and `pg_alert_threshold_set` to read and change them.
//!
//! The checks take them as their defaults: an explicit tool argument (say `warnBelow` of
//! pg_cache_hit_ratio) still wins for that call. The reference server's tool of this name
//! only returns fixed suggestions; here the values are the ones the checks apply.

use std::sync::RwLock;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{ToolError, ToolResult};
use crate::tools::{Ctx, Hints, Spec, Tool};

const GROUP: &str = "monitoring";

/// The metrics with thresholds.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AlertMetric {
    /// Buffer cache hit ratio (0–1); lower is worse.
    CacheHitRatio,
    /// Client connections as a percentage of the usable connections.
    ConnectionUsage,
    /// Dead tuples as a share (0–1) of a table's rows, for bloat risk.
    DeadTuples,
    /// Seconds a session has been idle inside a transaction.
    IdleInTransaction,
    /// Seconds a query has been running.
    LongRunningQueries,
}

const METRICS: [AlertMetric; 5] = [
    AlertMetric::CacheHitRatio,
    AlertMetric::ConnectionUsage,
    AlertMetric::DeadTuples,
    AlertMetric::IdleInTransaction,
    AlertMetric::LongRunningQueries,
];

/// A warning and a critical level.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq)]
pub struct Level {
    pub warning: f64,
    pub critical: f64,
}

/// Every metric's levels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Thresholds {
    pub cache_hit_ratio: Level,
    pub connection_usage: Level,
    pub dead_tuples: Level,
    pub idle_in_transaction: Level,
    pub long_running_queries: Level,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            cache_hit_ratio: Level {
                warning: 0.99,
                critical: 0.95,
            },
            connection_usage: Level {
                warning: 80.0,
                critical: 95.0,
            },
            dead_tuples: Level {
                warning: 0.1,
                critical: 0.5,
            },
            idle_in_transaction: Level {
                warning: 300.0,
                critical: 1800.0,
            },
            long_running_queries: Level {
                warning: 300.0,
                critical: 1800.0,
            },
        }
    }
}

impl Thresholds {
    pub fn get(&self, m: AlertMetric) -> Level {
        match m {
            AlertMetric::CacheHitRatio => self.cache_hit_ratio,
            AlertMetric::ConnectionUsage => self.connection_usage,
            AlertMetric::DeadTuples => self.dead_tuples,
            AlertMetric::IdleInTransaction => self.idle_in_transaction,
            AlertMetric::LongRunningQueries => self.long_running_queries,
        }
    }

    fn slot(&mut self, m: AlertMetric) -> &mut Level {
        match m {
            AlertMetric::CacheHitRatio => &mut self.cache_hit_ratio,
            AlertMetric::ConnectionUsage => &mut self.connection_usage,
            AlertMetric::DeadTuples => &mut self.dead_tuples,
            AlertMetric::IdleInTransaction => &mut self.idle_in_transaction,
            AlertMetric::LongRunningQueries => &mut self.long_running_queries,
        }
    }
}

/// The thresholds of one server process (an [`crate::tools::Env`]): in memory only.
#[derive(Debug, Default)]
pub struct AlertThresholds(RwLock<Thresholds>);

impl AlertThresholds {
    pub fn current(&self) -> Thresholds {
        *self.0.read().unwrap_or_else(|p| p.into_inner())
    }

    fn update(&self, f: impl FnOnce(&mut Thresholds)) {
        f(&mut self.0.write().unwrap_or_else(|p| p.into_inner()));
    }
}

/// The current thresholds of the call's server.
pub(super) fn thresholds(ctx: &Ctx) -> Thresholds {
    ctx.env.alert_thresholds.current()
}

/// How a metric's value is judged.
#[derive(Serialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// A value at or above the level fires.
    Above,
    /// A value below the level fires.
    Below,
}

struct About {
    unit: &'static str,
    direction: Direction,
    min: f64,
    max: f64,
    used_by: &'static [&'static str],
    meaning: &'static str,
}

fn about(m: AlertMetric) -> About {
    match m {
        AlertMetric::CacheHitRatio => About {
            unit: "ratio",
            direction: Direction::Below,
            min: 0.0,
            max: 1.0,
            used_by: &[
                "pg_cache_hit_ratio (warnBelow, criticalBelow)",
                "pg_analyze_db_health (buffer)",
                "pg_diagnose_database_performance (cache)",
                "pg_system_health (cacheHitRatio, as a percentage)",
            ],
            meaning: "heap or index blocks hit / (hit + read) below warning is a warning, below critical critical",
        },
        AlertMetric::ConnectionUsage => About {
            unit: "percent",
            direction: Direction::Above,
            min: 0.0,
            max: 100.0,
            used_by: &[
                "pg_detect_connection_spike (usageWarningPercent, usageCriticalPercent)",
                "pg_analyze_db_health (connection)",
                "pg_diagnose_database_performance (connections)",
                "pg_connection_pool_optimize (raiseCapacity)",
                "pg_system_health (connectionsUsed)",
            ],
            meaning: "client connections / usable connections at or above the level",
        },
        AlertMetric::DeadTuples => About {
            unit: "ratio",
            direction: Direction::Above,
            min: 0.0,
            max: 1.0,
            used_by: &[
                "pg_detect_bloat_risk (minDeadRatio)",
                "pg_analyze_db_health (vacuum)",
                "pg_diagnose_database_performance (deadTuples)",
            ],
            meaning: "dead / (live + dead) from warning makes a table a bloat-risk candidate; where autovacuum is off, critical from critical",
        },
        AlertMetric::IdleInTransaction => About {
            unit: "seconds",
            direction: Direction::Above,
            min: 0.0,
            max: 1e9,
            used_by: &[
                "pg_detect_connection_spike (idleInTransactionSeconds, idleInTransactionCriticalSeconds)",
                "pg_analyze_db_health (connection)",
                "pg_diagnose_database_performance (connections)",
            ],
            meaning: "seconds idle inside an open transaction at or above the level",
        },
        AlertMetric::LongRunningQueries => About {
            unit: "seconds",
            direction: Direction::Above,
            min: 0.0,
            max: 1e9,
            used_by: &["pg_diagnose_database_performance (longQueries)"],
            meaning: "seconds a query has been active at or above the level",
        },
    }
}

/// One metric's thresholds and what applies them.
#[derive(Serialize, JsonSchema, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct ThresholdInfo {
    pub metric: AlertMetric,
    pub warning: f64,
    pub critical: f64,
    /// ratio, percent or seconds.
    pub unit: String,
    /// Whether a value above or below a level fires.
    pub direction: Direction,
    pub default_warning: f64,
    pub default_critical: f64,
    /// The tools (and their arguments that override the level for one call) that apply it.
    pub used_by: Vec<String>,
    pub meaning: String,
}

fn info(t: &Thresholds, m: AlertMetric) -> ThresholdInfo {
    let a = about(m);
    let (cur, def) = (t.get(m), Thresholds::default().get(m));
    ThresholdInfo {
        metric: m,
        warning: cur.warning,
        critical: cur.critical,
        unit: a.unit.into(),
        direction: a.direction,
        default_warning: def.warning,
        default_critical: def.critical,
        used_by: a.used_by.iter().map(|s| s.to_string()).collect(),
        meaning: a.meaning.into(),
    }
}

const ALERT_THRESHOLD_SET: Spec = Spec {
    name: "pg_alert_threshold_set",
    title: "Alert thresholds of the health checks",
    description: "Reads or changes the warning and critical levels the health checks judge severity by: cache_hit_ratio (ratio, below fires; 0.99/0.95), connection_usage (percent; 80/95), dead_tuples (ratio; 0.1/0.5), idle_in_transaction (seconds; 300/1800), long_running_queries (seconds; 300/1800). Without values it lists them (or `metric`'s); with `warningThreshold` and/or `criticalThreshold` it sets `metric`'s and returns the old and new levels; `reset` restores the defaults (of `metric`, or all).\nHeld in this pgmcp process's memory for every client of it: not persisted, back to the defaults on restart. Each threshold names the tools that apply it; a tool's own argument still wins for one call. Changes nothing in the database.",
    // Changes pgmcp's state (not the database): not read-only; nothing is lost (the old
    // levels are returned, `reset` restores the defaults); setting the same levels twice
    // is the same as once.
    hints: Hints {
        read_only: false,
        destructive: false,
        idempotent: true,
        open_world: false,
    },
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AlertArgs {
    /// The metric to read, set or reset.
    pub metric: Option<AlertMetric>,
    /// The new warning level, in the metric's unit.
    #[serde(alias = "warning_threshold")]
    pub warning_threshold: Option<f64>,
    /// The new critical level, in the metric's unit.
    #[serde(alias = "critical_threshold")]
    pub critical_threshold: Option<f64>,
    /// Restore the defaults (of `metric`, or of every metric).
    #[serde(default)]
    pub reset: bool,
}

/// A change: the levels before and after.
#[derive(Serialize, JsonSchema)]
pub struct Change {
    pub metric: AlertMetric,
    pub previous: Level,
    pub current: Level,
}

#[derive(Serialize, JsonSchema)]
pub struct AlertThresholdsOut {
    /// What changed (empty when only reading).
    pub changed: Vec<Change>,
    /// The thresholds now (of `metric`, or all).
    pub thresholds: Vec<ThresholdInfo>,
    /// Where they live.
    pub scope: String,
}

/// The levels after setting `warning` and/or `critical` of `m` in `cur`, checked.
fn validated(
    m: AlertMetric,
    cur: Level,
    warning: Option<f64>,
    critical: Option<f64>,
) -> ToolResult<Level> {
    let a = about(m);
    let name = serde_json::to_value(m)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    for (what, v) in [
        ("warningThreshold", warning),
        ("criticalThreshold", critical),
    ] {
        if let Some(v) = v
            && !(v.is_finite() && v >= a.min && v <= a.max)
        {
            return Err(ToolError::invalid(format!(
                "{what} for {name} must be between {} and {} ({}), got {v}",
                a.min, a.max, a.unit
            )));
        }
    }
    let new = Level {
        warning: warning.unwrap_or(cur.warning),
        critical: critical.unwrap_or(cur.critical),
    };
    let ordered = match a.direction {
        Direction::Above => new.critical >= new.warning,
        Direction::Below => new.critical <= new.warning,
    };
    if !ordered {
        return Err(ToolError::invalid(format!(
            "for {name} the critical level must be {} the warning level (warning {}, critical {})",
            if a.direction == Direction::Above {
                "at or above"
            } else {
                "at or below"
            },
            new.warning,
            new.critical
        ))
        .suggest("Set both levels in one call when moving them past each other."));
    }
    Ok(new)
}

async fn alert_threshold_set(ctx: Ctx, a: AlertArgs) -> ToolResult<AlertThresholdsOut> {
    let setting = a.warning_threshold.is_some() || a.critical_threshold.is_some();
    if setting && a.reset {
        return Err(ToolError::invalid(
            "pass either reset or new levels, not both",
        ));
    }
    if setting && a.metric.is_none() {
        return Err(ToolError::invalid("setting a threshold needs `metric`")
            .suggest("Call without arguments to list the metrics."));
    }
    let store = &ctx.env.alert_thresholds;
    let mut changed = Vec::new();
    if setting {
        let m = a.metric.unwrap_or(AlertMetric::CacheHitRatio);
        let before = store.current().get(m);
        let after = validated(m, before, a.warning_threshold, a.critical_threshold)?;
        store.update(|t| *t.slot(m) = after);
        changed.push(Change {
            metric: m,
            previous: before,
            current: after,
        });
    } else if a.reset {
        let before = store.current();
        let defaults = Thresholds::default();
        for m in METRICS {
            if a.metric.is_none_or(|x| x == m) && before.get(m) != defaults.get(m) {
                changed.push(Change {
                    metric: m,
                    previous: before.get(m),
                    current: defaults.get(m),
                });
            }
        }
        store.update(|t| {
            for m in METRICS {
                if a.metric.is_none_or(|x| x == m) {
                    *t.slot(m) = defaults.get(m);
                }
            }
        });
    }
    let now = store.current();
    Ok(AlertThresholdsOut {
        changed,
        thresholds: METRICS
            .into_iter()
            .filter(|m| a.metric.is_none_or(|x| x == *m))
            .map(|m| info(&now, m))
            .collect(),
        scope: "this pgmcp process, for every client of it; in memory, not persisted: back to the defaults on restart".into(),
    })
}

pub fn tools() -> Vec<Tool> {
    vec![ALERT_THRESHOLD_SET.tool(GROUP, alert_threshold_set)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_checked_in_their_direction() {
        let cur = Thresholds::default();
        let m = AlertMetric::CacheHitRatio;
        assert_eq!(
            validated(m, cur.get(m), Some(0.9), Some(0.8)).unwrap(),
            Level {
                warning: 0.9,
                critical: 0.8
            }
        );
        // Warning 0.9 above the critical 0.95 is wrong for a "below" metric.
        assert!(validated(m, cur.get(m), Some(0.9), None).is_err());
        assert!(validated(m, cur.get(m), Some(1.5), None).is_err());
        let m = AlertMetric::ConnectionUsage;
        assert!(validated(m, cur.get(m), Some(96.0), None).is_err());
        assert_eq!(
            validated(m, cur.get(m), None, Some(90.0)).unwrap(),
            Level {
                warning: 80.0,
                critical: 90.0
            }
        );
    }
}

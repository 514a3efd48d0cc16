//! The shared injection fixture of the data-tool modules (jsonb, text, stats, docstore): a
//! canary a hostile SQL fragment would have to touch, the check that it was not, and the
//! hostile `where` fragments every tool taking a condition is tried with.

use std::sync::Arc;

use pgmcp::app::App;
use serde_json::{Value, json};

use super::{expect, ok};

/// The first value of the first row of `query` (a read), or null.
pub async fn scalar(app: &Arc<App>, query: &str) -> Value {
    let v = ok(app, "pg_read_query", json!({ "sql": query })).await;
    v["rows"][0]
        .as_object()
        .and_then(|m| m.values().next().cloned())
        .unwrap_or(Value::Null)
}

/// Creates the canary: table `canary` (ids 1, 2, 3) and sequence `canary_seq`, never used.
pub async fn canary(app: &Arc<App>) {
    for sql in [
        "CREATE TABLE canary (id int PRIMARY KEY)",
        "INSERT INTO canary VALUES (1), (2), (3)",
        "CREATE SEQUENCE canary_seq",
    ] {
        ok(app, "pg_write_query", json!({ "sql": sql })).await;
    }
}

/// The canary is as [`canary`] made it: its rows all there, its sequence never advanced, and
/// the setting the hostile `set_config` fragment would set not set.
pub async fn canary_intact(app: &Arc<App>) {
    assert_eq!(
        scalar(app, "SELECT count(*) FROM canary").await,
        3,
        "canary was touched"
    );
    assert_eq!(
        scalar(app, "SELECT last_value FROM canary_seq").await,
        1,
        "canary_seq advanced"
    );
    assert_eq!(
        scalar(app, "SELECT is_called FROM canary_seq").await,
        false,
        "canary_seq advanced"
    );
    assert_eq!(
        scalar(app, "SELECT coalesce(current_setting('pgmcp.x', true), '')").await,
        "",
        "a set_config escaped its read"
    );
}

/// `where` fragments that are no condition: they try to leave it (a UNION, a second
/// statement, a closed parenthesis). A tool must refuse each with INVALID_ARGUMENT.
pub const HOSTILE_ESCAPES: &[&str] = &[
    "true) UNION SELECT 1 WHERE (true",
    "true) UNION SELECT 1, '{}'::jsonb --",
    "1=1; DROP TABLE canary",
    "true) ; DELETE FROM canary; SELECT (1",
];

/// `where` fragments that are one valid condition trying to write (a setting, the canary's
/// sequence, the canary's rows): refused by the read policy, or run harmlessly in a read
/// that is rolled back ([`canary_intact`] tells).
pub const HOSTILE_WRITES: &[&str] = &[
    "(SELECT count(*) FROM (SELECT set_config('pgmcp.x', 'y', false)) s) > 0",
    "nextval('canary_seq') > 0",
    "(SELECT count(*) FROM (DELETE FROM canary RETURNING 1) d) > 0",
];

/// Calls `tool` with `args` and each hostile `where`: every escape is refused as
/// INVALID_ARGUMENT; a write is refused, or (unless `writes_refused`) runs harmlessly; the
/// canary is intact after each.
pub async fn hostile_where(app: &Arc<App>, tool: &str, args: Value, writes_refused: bool) {
    for (fragments, escape) in [(HOSTILE_ESCAPES, true), (HOSTILE_WRITES, false)] {
        for h in fragments {
            let mut a = args.clone();
            a["where"] = json!(h);
            match app.call(tool, a).await {
                Ok(v) => assert!(
                    !escape && !writes_refused,
                    "{tool}: {h:?} was accepted: {v}"
                ),
                Err(e) if escape => expect(&e.to_json(), "INVALID_ARGUMENT", "validation"),
                Err(_) => {}
            }
            canary_intact(app).await;
        }
    }
}

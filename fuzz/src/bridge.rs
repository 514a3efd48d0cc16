//! The in-memory fake tool registry behind `pg.*`, and the canary.
//!
//! The bridge never panics (a panic inside [`Bridge`] would be caught by the sandbox and
//! hidden as `ENGINE_ERROR`): it records every broken invariant in
//! [`FakeBridge::violations`], and the harness panics on the fuzzing thread afterwards.

use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::sync::LazyLock;

use pgmcp::codemode::sandbox::{Alias, Bridge, Manifest, ManifestEntry};
use serde_json::{Value, json};

/// The secret only `pg.admin.readSecret()` returns. Random per process, so no fuzz input can
/// contain or build it: if it shows up in an outcome that did not ask for it, it leaked
/// (a real leak reproduces with any canary).
pub static CANARY: LazyLock<String> = LazyLock::new(|| {
    let a = RandomState::new().hash_one(std::process::id());
    let b = RandomState::new().hash_one(std::time::SystemTime::now());
    format!("pgmcp-canary-{a:016x}{b:016x}")
});

/// Name of the environment variable that holds the canary too (an environment leak would
/// show it).
pub const CANARY_ENV: &str = "PGMCP_FUZZ_CANARY";

/// Plants the canary where a sandbox escape could read it. Call once, in the target's init.
pub fn plant_canary() {
    // SAFETY: called from the fuzz target's init, before the harness starts any thread.
    unsafe { std::env::set_var(CANARY_ENV, CANARY.as_str()) };
}

/// The `pg` the fuzzed programs see: a few groups, aliases, and the secret.
pub fn manifest() -> Manifest {
    let entry = |tool: &str, group: &str, method: &str, primary: Option<&str>| ManifestEntry {
        tool: tool.into(),
        group: group.into(),
        method: method.into(),
        primary: primary.map(Into::into),
    };
    Manifest {
        entries: vec![
            entry("pg_read_query", "core", "readQuery", Some("sql")),
            entry("pg_write_query", "core", "writeQuery", Some("sql")),
            entry("pg_list_tables", "core", "listTables", None),
            entry(
                "pg_describe_table",
                "schema",
                "describeTable",
                Some("table"),
            ),
            entry("pg_secret", "admin", "readSecret", None),
        ],
        aliases: vec![
            Alias {
                name: "query".into(),
                tool: "pg_read_query".into(),
                positional: vec!["sql".into(), "params".into()],
                shape: None,
            },
            Alias {
                name: "listTables".into(),
                tool: "pg_list_tables".into(),
                positional: vec![],
                shape: None,
            },
        ],
        ..Manifest::default()
    }
}

/// How the fake host behaves, from one byte of the input (0 = plain, in-order answers).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BridgeConfig {
    /// Complete calls newest first.
    pub reverse: bool,
    /// Every third completion is a tool error.
    pub errors: bool,
    /// Every fourth `submit` fails (the host refused the call).
    pub submit_failures: bool,
    /// After two completions, `wait` says the bridge closed.
    pub close_early: bool,
    /// One call in flight at a time (`max_in_flight = 1`).
    pub serial: bool,
}

impl BridgeConfig {
    pub fn from_byte(b: u8) -> Self {
        Self {
            reverse: b & 1 != 0,
            errors: b & 2 != 0,
            submit_failures: b & 4 != 0,
            close_early: b & 8 != 0,
            serial: b & 16 != 0,
        }
    }
}

/// Answers from an in-memory "database"; checks the engine's side of the bridge protocol.
pub struct FakeBridge {
    config: BridgeConfig,
    max_in_flight: u32,
    max_tool_calls: u32,
    queue: VecDeque<(u64, String, Value)>,
    seen_ids: HashSet<u64>,
    in_flight: u32,
    answered: u32,
    closed: bool,
    next_tx: u32,
    open_tx: HashSet<String>,
    /// Calls the engine submitted (refused ones included).
    pub submitted: u32,
    /// Largest number of calls outstanding at once.
    pub max_in_flight_seen: u32,
    /// The program asked for the secret and got it.
    pub secret_served: bool,
    /// Broken invariants, in order.
    pub violations: Vec<String>,
}

impl FakeBridge {
    pub fn new(config: BridgeConfig, max_in_flight: u32, max_tool_calls: u32) -> Self {
        Self {
            config,
            max_in_flight,
            max_tool_calls,
            queue: VecDeque::new(),
            seen_ids: HashSet::new(),
            in_flight: 0,
            answered: 0,
            closed: false,
            next_tx: 1,
            open_tx: HashSet::new(),
            submitted: 0,
            max_in_flight_seen: 0,
            secret_served: false,
            violations: Vec::new(),
        }
    }

    fn violation(&mut self, what: String) {
        if self.violations.len() < 16 {
            self.violations.push(what);
        }
    }

    /// The fake registry.
    fn answer(&mut self, tool: &str, args: &Value) -> Result<Value, Value> {
        let tool_error = |code: &str, message: String| {
            json!({
                "success": false,
                "error": message,
                "code": code,
                "category": "sql",
                "recoverable": true,
                "suggestion": "check the input",
            })
        };
        if args
            .get("__pgmcp_tx")
            .is_some_and(|id| !id.as_str().is_some_and(|id| self.open_tx.contains(id)))
        {
            return Err(tool_error(
                "NO_TRANSACTION",
                "no such transaction".to_string(),
            ));
        }
        match tool {
            "pg_read_query" | "pg_write_query" => {
                let sql = args.get("sql").and_then(Value::as_str).unwrap_or("");
                if sql.contains("fail") {
                    return Err(json!({
                        "success": false,
                        "error": "relation \"nope\" does not exist",
                        "code": "QUERY_ERROR",
                        "category": "sql",
                        "recoverable": true,
                        "sqlstate": "42P01",
                    }));
                }
                let n = sql
                    .split(|c: char| !c.is_ascii_digit())
                    .find_map(|d| d.parse::<usize>().ok())
                    .unwrap_or(1)
                    .min(64);
                let rows: Vec<Value> = (0..n)
                    .map(|i| json!({ "n": i, "name": format!("row {i}"), "flag": i % 2 == 0 }))
                    .collect();
                Ok(json!({ "rows": rows, "rowCount": n, "fields": ["n", "name", "flag"] }))
            }
            "pg_list_tables" => Ok(json!({
                "tables": [
                    { "schema": "public", "name": "users", "rows": 3 },
                    { "schema": "public", "name": "orders", "rows": 7 },
                ]
            })),
            "pg_describe_table" => match args.get("table").and_then(Value::as_str) {
                Some(t @ ("users" | "orders" | "public.users" | "public.orders")) => Ok(json!({
                    "table": t,
                    "columns": [
                        { "name": "id", "type": "integer", "nullable": false },
                        { "name": "name", "type": "text", "nullable": true },
                    ],
                })),
                other => Err(tool_error(
                    "NOT_FOUND",
                    format!("table {} not found", other.unwrap_or("(none)")),
                )),
            },
            "pg_secret" => {
                self.secret_served = true;
                Ok(json!({ "secret": CANARY.as_str() }))
            }
            "__transaction" => match args.get("op").and_then(Value::as_str) {
                Some("begin") => {
                    let id = format!("tx_{}", self.next_tx);
                    self.next_tx += 1;
                    self.open_tx.insert(id.clone());
                    Ok(json!({ "transactionId": id }))
                }
                Some("commit" | "rollback") => {
                    let id = args.get("id").and_then(Value::as_str).unwrap_or("");
                    if self.open_tx.remove(id) {
                        Ok(json!({ "ok": true }))
                    } else {
                        Err(tool_error("NO_TRANSACTION", "no such transaction".into()))
                    }
                }
                _ => Err(tool_error("INVALID_INPUT", "bad transaction op".into())),
            },
            other => Err(tool_error("UNKNOWN_TOOL", format!("unknown tool {other}"))),
        }
    }
}

impl Bridge for FakeBridge {
    fn submit(&mut self, call_id: u64, tool: &str, args: Value) -> Result<(), String> {
        self.submitted += 1;
        if self.closed {
            self.violation(format!(
                "call {call_id} ({tool}) submitted after the bridge reported it closed"
            ));
        }
        if !self.seen_ids.insert(call_id) {
            self.violation(format!("call id {call_id} submitted twice"));
        }
        if self.submitted > self.max_tool_calls {
            self.violation(format!(
                "{} calls submitted; the cap is {}",
                self.submitted, self.max_tool_calls
            ));
        }
        if self.config.submit_failures && self.submitted.is_multiple_of(4) {
            return Err("the fake host refused this call".into());
        }
        self.in_flight += 1;
        self.max_in_flight_seen = self.max_in_flight_seen.max(self.in_flight);
        if self.in_flight > self.max_in_flight {
            self.violation(format!(
                "{} calls in flight; the window is {}",
                self.in_flight, self.max_in_flight
            ));
        }
        self.queue.push_back((call_id, tool.to_string(), args));
        Ok(())
    }

    fn wait(&mut self) -> Option<(u64, Result<Value, Value>)> {
        if self.config.close_early && self.answered >= 2 {
            self.closed = true;
            return None;
        }
        let next = if self.config.reverse {
            self.queue.pop_back()
        } else {
            self.queue.pop_front()
        };
        let Some((id, tool, args)) = next else {
            // In production this wait would block forever: the engine waited for a
            // completion with nothing in flight.
            self.violation("wait() with no call in flight".into());
            self.closed = true;
            return None;
        };
        self.in_flight -= 1;
        self.answered += 1;
        let mut result = self.answer(&tool, &args);
        if self.config.errors && self.answered.is_multiple_of(3) && result.is_ok() {
            result = Err(json!({
                "success": false,
                "error": "canceling statement due to statement timeout",
                "code": "QUERY_TIMEOUT",
                "category": "timeout",
                "recoverable": true,
                "sqlstate": "57014",
            }));
        }
        Some((id, result))
    }
}

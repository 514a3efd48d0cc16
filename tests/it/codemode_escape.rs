//! The Code Mode escape and abuse corpus: every program in `tests/corpus/escape/` runs through
//! the real server path (`pg_execute_code` → transpiler → sandbox worker → `pg.*` → a real
//! PostgreSQL), and must end the way its header says (see `tests/corpus/escape/README.md`).
//!
//! Each program gets its own database (with a `canary` table) and its own App built with the
//! program's flags. After the program, on the same App:
//! * the response (result or error) must not mention host paths, Rust type names or addresses,
//!   and must stay bounded in size;
//! * a follow-up execution must succeed and see exactly what a fresh server sees (globals,
//!   intrinsic prototypes, `pg`, session state of the database connection, other sessions);
//! * no transaction may be left open, and the canary must be unchanged.
//!
//! Failures are collected per file and reported together at the end. A program marked
//! `known-issue` is reported but does not fail the test.
//!
//! `ESCAPE_FILTER=substring` runs only the matching files; `ESCAPE_VERBOSE=1` prints every
//! response.

use crate::support;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use pgmcp::app::App;
use serde_json::{Value, json};

/// How many programs run at once.
const CONCURRENCY: usize = 4;
/// Timeout of a program that does not name one.
const DEFAULT_TIMEOUT_MS: u64 = 15_000;
/// Largest serialized response a program may produce unless its header says otherwise.
const DEFAULT_MAX_RESPONSE_BYTES: usize = 2_000_000;
/// Longest any one step of a program (setup, the execution, the follow-up checks, teardown)
/// may take before the program is reported as hung and abandoned.
const STEP_LIMIT: Duration = Duration::from_secs(120);
/// After this long the watchdog prints what every running program is doing and what the
/// database sessions are waiting on; after twice this long it aborts the test process, so a
/// hang becomes a failure with a diagnosis instead of a silent CI timeout.
const WATCHDOG_REPORT_AFTER: Duration = Duration::from_secs(300);

/// Flags every App gets; a program's `flags:` header overrides them by name. Small budgets,
/// so engine limits fire long before a wall-clock timeout on a slow, shared machine.
const BASE_FLAGS: &[&str] = &[
    "--code-rate-limit",
    "0",
    "--code-worker-pool",
    "0",
    "--code-max-instructions",
    "5000000",
    "--code-max-loop-iterations",
    "200000",
    "--code-max-tool-calls",
    "200",
    "--code-max-timeout",
    "30000",
];

/// Substrings no response may contain: host paths, Rust internals.
const FORBIDDEN: &[&str] = &[
    "/work/",
    "/home/",
    "/root/",
    "/usr/",
    "/tmp/",
    "/proc/",
    ".rs:",
    ".rs\"",
    ".rs)",
    "src/",
    "JsValue",
    "JsObject",
    "JsString",
    "JsError",
    "JsNative",
    "boa_",
    "tokio",
    "core::",
    "alloc::",
    "std::",
    "serde",
    "panicked",
    "RUST_BACKTRACE",
    "RefCell",
];

/// Runs after every program on the same App; its result must equal what a fresh App
/// returns. It fingerprints the realm (globals, intrinsic prototypes, `pg`, `console`) and
/// the database session and neighbourhood (settings, temp tables, prepared statements,
/// LISTEN, advisory locks, busy sessions, tables).
const CHECK_PROGRAM: &str = r#"
const names = (o) => { try { return Reflect.ownKeys(o).map(String).sort().join(","); } catch (e) { return "THREW " + e; } };
const iter = Object.getPrototypeOf(Object.getPrototypeOf([][Symbol.iterator]()));
const shapes = {
  global: names(globalThis), Object: names(Object), ObjectP: names(Object.prototype),
  Array: names(Array), ArrayP: names(Array.prototype), FunctionP: names(Function.prototype),
  Promise: names(Promise), PromiseP: names(Promise.prototype), Error: names(Error),
  ErrorP: names(Error.prototype), StringP: names(String.prototype), SymbolP: names(Symbol.prototype),
  IteratorP: names(iter), AsyncFunctionP: names(Object.getPrototypeOf(async function () {})),
  JSON: names(JSON), Math: names(Math), Reflect: names(Reflect), pg: names(pg),
  pgCore: names(pg.core), pgQuery: names(pg.query), pgHelp: names(pg.help),
  console: names(console), consoleLog: names(console.log),
};
const probes = {
  polluted: typeof ({}).polluted, then: typeof ({}).then, toJSON: typeof ({}).toJSON,
  map: [1, 2].map((x) => x * 2).join(), json: JSON.stringify({ a: [1, "x"] }),
  error: String(new TypeError("e")), random: Math.random() < 1, frozen: Object.isFrozen(pg),
  leak: typeof globalThis.__leak, symbolLeak: typeof globalThis[Symbol.for("leak")],
  compile: (() => { try { Function("return 1"); return "compiled"; } catch (e) { return e.name; } })(),
};
const db = (await pg.query(`select 41 + 1 as n,
  coalesce(current_setting('app.leak', true), '') as guc,
  current_setting('search_path') as search_path,
  current_user::text as role,
  current_setting('transaction_read_only') as read_only,
  (select count(*)::int from pg_class where relpersistence = 't') as temp_tables,
  (select count(*)::int from pg_listening_channels()) as listening,
  (select count(*)::int from pg_locks l where l.locktype = 'advisory'
     and l.database = (select oid from pg_database where datname = current_database())) as advisory,
  (select count(*)::int from pg_stat_activity a where a.datname = current_database()
     and a.pid <> pg_backend_pid() and a.state is distinct from 'idle') as busy_sessions,
  (select string_agg(relname::text, ',' order by relname) from pg_class
     where relnamespace = 'public'::regnamespace) as public_relations`)).rows[0];
// Reads may not look at pg_prepared_statements (it shows other callers' SQL); a write may,
// where the server has write tools.
db.prepared = typeof pg.core.writeQuery === "function"
  ? (await pg.core.writeQuery(`select coalesce(string_agg(name, ',' order by name), '') as p
       from pg_prepared_statements where from_sql`)).rows[0].p
  : "no write tools";
return { shapes, probes, db };
"#;

/// What each running program is doing now, and since when (for the watchdog).
static STEPS: Mutex<BTreeMap<String, (&'static str, Instant)>> = Mutex::new(BTreeMap::new());

fn steps() -> std::sync::MutexGuard<'static, BTreeMap<String, (&'static str, Instant)>> {
    STEPS.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs one step of program `file`, bounded by [`STEP_LIMIT`].
async fn step<T>(
    file: &str,
    name: &'static str,
    fut: impl Future<Output = T>,
) -> Result<T, String> {
    steps().insert(file.to_string(), (name, Instant::now()));
    tokio::time::timeout(STEP_LIMIT, fut)
        .await
        .map_err(|_| format!("hung: step `{name}` did not finish within {STEP_LIMIT:?}"))
}

/// Writes straight to the process's stderr: the test harness captures `eprintln!`, and a
/// hung test never gets to print what it captured.
fn report_raw(text: &str) {
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// A thread outside the test's runtime (which a hang may have blocked) that reports long
/// steps with the database's view of them, and aborts the process when the corpus hangs.
fn start_watchdog(started: Instant) {
    std::thread::spawn(move || {
        let mut reported = false;
        loop {
            std::thread::sleep(Duration::from_secs(5));
            let elapsed = started.elapsed();
            if elapsed < WATCHDOG_REPORT_AFTER || (reported && elapsed < 2 * WATCHDOG_REPORT_AFTER)
            {
                continue;
            }
            let mut text = format!(
                "\nescape corpus watchdog: running for {:.0}s; programs still running:\n",
                elapsed.as_secs_f64()
            );
            for (file, (name, since)) in steps().iter() {
                text.push_str(&format!(
                    "  {file}: {name} for {:.1}s\n",
                    since.elapsed().as_secs_f64()
                ));
            }
            text.push_str(&database_activity());
            report_raw(&text);
            if reported {
                report_raw("escape corpus watchdog: aborting the hung test process\n");
                std::process::abort();
            }
            reported = true;
        }
    });
}

/// Every session on the test server, what it runs and waits for, and ungranted locks.
fn database_activity() -> String {
    let url = support::admin_url();
    let run = async move {
        let client = connect(&url).await;
        let rows = client
            .query(
                "select format('  pid %s db %s %s/%s wait %s:%s xact %s: %s', pid, datname,
                        backend_type, state, wait_event_type, wait_event,
                        now() - xact_start, left(query, 160))
                   from pg_stat_activity where pid <> pg_backend_pid()
                 union all
                 select format('  waiting lock: pid %s %s %s on %s', pid, locktype, mode,
                        coalesce(relation::regclass::text, database::text, ''))
                   from pg_locks where not granted",
                &[],
            )
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(
            rows.iter()
                .map(|r| r.get::<_, String>(0) + "\n")
                .collect::<String>(),
        )
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    match runtime
        .map(|rt| rt.block_on(async { tokio::time::timeout(Duration::from_secs(10), run).await }))
    {
        Ok(Ok(Ok(text))) => format!("database sessions:\n{text}"),
        Ok(Ok(Err(e))) => format!("database sessions: query failed: {e}\n"),
        Ok(Err(_)) => "database sessions: the server did not answer within 10 s\n".into(),
        Err(e) => format!("database sessions: no runtime: {e}\n"),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Expect {
    /// Succeeds; with `result`, the result must equal it.
    Ok(Option<Value>),
    /// Succeeds with any result.
    OkAny,
    /// Fails with one of these codes.
    Error(Vec<String>),
}

#[derive(Debug, Clone)]
struct Program {
    file: String,
    source: String,
    category: String,
    expect: Expect,
    error_name: Option<String>,
    error_contains: Option<String>,
    result_truncated: bool,
    logs_truncated: bool,
    readonly: bool,
    timeout_ms: u64,
    flags: Vec<String>,
    max_response_bytes: usize,
    foreign_transaction: bool,
    known_issue: Option<String>,
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/escape")
}

/// `// key: value` lines at the top of the file, up to the first line that is not one.
fn parse_program(file: &str, source: &str) -> Result<Program, String> {
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for line in source.lines() {
        let Some(rest) = line.strip_prefix("// ") else {
            break;
        };
        let Some((key, value)) = rest.split_once(": ") else {
            break;
        };
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
            break;
        }
        if headers
            .insert(key.to_string(), value.trim().to_string())
            .is_some()
        {
            return Err(format!("header `{key}` given twice"));
        }
    }
    const KNOWN: &[&str] = &[
        "category",
        "expect",
        "result",
        "error-name",
        "error-contains",
        "result-truncated",
        "logs-truncated",
        "readonly",
        "timeout",
        "flags",
        "max-response-bytes",
        "foreign-transaction",
        "known-issue",
    ];
    if let Some(unknown) = headers.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(format!("unknown header `{unknown}`"));
    }
    let take = |key: &str| headers.get(key).cloned();
    let flag = |key: &str| -> Result<bool, String> {
        match take(key).as_deref() {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(other) => Err(format!("`{key}` must be true or false, not `{other}`")),
        }
    };
    let category = take("category").ok_or("missing `category` header")?;
    let expect_text = take("expect").ok_or("missing `expect` header")?;
    let result = take("result")
        .map(|r| {
            serde_json::from_str::<Value>(&r).map_err(|e| format!("`result` is not JSON: {e}"))
        })
        .transpose()?;
    let expect = match expect_text.split_once(' ') {
        None if expect_text == "ok" => Expect::Ok(result.clone()),
        None if expect_text == "ok-any" => Expect::OkAny,
        Some(("error", codes)) => {
            Expect::Error(codes.split('|').map(|c| c.trim().to_string()).collect())
        }
        _ => return Err(format!("bad `expect: {expect_text}`")),
    };
    if result.is_some() && !matches!(expect, Expect::Ok(_)) {
        return Err("`result` needs `expect: ok`".into());
    }
    let is_error = matches!(expect, Expect::Error(_));
    let error_name = take("error-name");
    let error_contains = take("error-contains");
    if (error_name.is_some() || error_contains.is_some()) && !is_error {
        return Err("`error-name` / `error-contains` need `expect: error ...`".into());
    }
    let result_truncated = flag("result-truncated")?;
    let logs_truncated = flag("logs-truncated")?;
    if (result_truncated || logs_truncated) && is_error {
        return Err("`result-truncated` / `logs-truncated` need a successful outcome".into());
    }
    let number = |key: &str, default: u64| -> Result<u64, String> {
        take(key).map_or(Ok(default), |v| {
            v.parse().map_err(|_| format!("`{key}` is not a number"))
        })
    };
    Ok(Program {
        file: file.to_string(),
        source: source.to_string(),
        category,
        expect,
        error_name,
        error_contains,
        result_truncated,
        logs_truncated,
        readonly: flag("readonly")?,
        timeout_ms: number("timeout", DEFAULT_TIMEOUT_MS)?,
        flags: take("flags")
            .map(|f| f.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default(),
        max_response_bytes: number("max-response-bytes", DEFAULT_MAX_RESPONSE_BYTES as u64)?
            as usize,
        foreign_transaction: flag("foreign-transaction")?,
        known_issue: take("known-issue"),
    })
}

fn load_corpus() -> (Vec<Program>, Vec<String>) {
    let filter = std::env::var("ESCAPE_FILTER").unwrap_or_default();
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("tests/corpus/escape exists")
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "js" || x == "ts"))
        .collect();
    files.sort();
    let mut programs = Vec::new();
    let mut errors = Vec::new();
    for path in files {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        if !file.contains(filter.as_str()) {
            continue;
        }
        let source = std::fs::read_to_string(&path).expect("readable corpus file");
        match parse_program(&file, &source) {
            Ok(p) => programs.push(p),
            Err(e) => errors.push(format!("{file}: bad header: {e}")),
        }
    }
    (programs, errors)
}

/// Base flags with `extra` overriding them by name (`--flag value` or a bare `--switch`).
fn merged_flags(extra: &[String]) -> Vec<String> {
    fn pairs(args: &[String]) -> Vec<(String, Option<String>)> {
        let mut out: Vec<(String, Option<String>)> = Vec::new();
        let mut i = 0;
        while i < args.len() {
            let name = args[i].clone();
            let value = args.get(i + 1).filter(|v| !v.starts_with("--")).cloned();
            i += if value.is_some() { 2 } else { 1 };
            out.push((name, value));
        }
        out
    }
    let base: Vec<String> = BASE_FLAGS.iter().map(|s| s.to_string()).collect();
    let mut merged = pairs(&base);
    for (name, value) in pairs(extra) {
        match merged.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => merged.push((name, value)),
        }
    }
    merged
        .into_iter()
        .flat_map(|(n, v)| std::iter::once(n).chain(v))
        .collect()
}

/// A fresh database with the canary, and an App on it.
async fn environment(flags: &[String]) -> (support::TestDb, Arc<App>) {
    let db = support::test_db().await;
    let client = connect(&db.url).await;
    client
        .batch_execute(
            "CREATE TABLE canary (id int PRIMARY KEY, v text NOT NULL);
             INSERT INTO canary VALUES (1, 'a'), (2, 'b'), (3, 'c');
             CREATE TABLE scratch (id int);",
        )
        .await
        .expect("canary created");
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let app = support::app(&db.url, &flags);
    (db, app)
}

/// A transaction opened by the MCP client itself (not by the program), with an uncommitted
/// insert into `scratch`.
async fn foreign_transaction(app: &Arc<App>) -> String {
    let v = app
        .call("pg_transaction_begin", json!({}))
        .await
        .expect("foreign transaction begins");
    let id = v["transactionId"]
        .as_str()
        .expect("transactionId")
        .to_string();
    app.call(
        "pg_write_query",
        json!({ "sql": "insert into scratch values (999)", "transactionId": id }),
    )
    .await
    .expect("foreign insert");
    id
}

/// Threads of this process running the sandbox engine (thread isolation).
fn sandbox_threads() -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == "pgmcp-js")
        })
        .count()
}

/// Like `support::connect`, without reporting the connection's end: the database is dropped
/// with `FORCE` while the connection task may still be winding down.
async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|err| panic!("could not connect to {url}: {err:?}"));
    tokio::spawn(connection);
    client
}

async fn canary(url: &str) -> String {
    let client = connect(url).await;
    let row = client
        .query_one(
            "select count(*)::text || ':' || coalesce(string_agg(id::text || '=' || v, ',' order by id), '') from canary",
            &[],
        )
        .await
        .expect("canary readable");
    row.get(0)
}

async fn execute(app: &Arc<App>, code: &str, timeout: u64, readonly: bool) -> Result<Value, Value> {
    app.call(
        "pg_execute_code",
        json!({ "code": code, "timeout": timeout, "readonly": readonly }),
    )
    .await
    .map_err(|e| e.to_json())
}

async fn check(app: &Arc<App>) -> Result<Value, String> {
    match execute(app, CHECK_PROGRAM, 20_000, false).await {
        Ok(v) if v["success"] == true => Ok(v["result"].clone()),
        Ok(v) => Err(format!("follow-up returned {v}")),
        Err(e) => Err(format!("follow-up execution failed: {e}")),
    }
}

/// Host paths, Rust internals and raw addresses in a response.
fn leaks(text: &str) -> Vec<String> {
    let mut found: Vec<String> = FORBIDDEN
        .iter()
        .filter(|f| text.contains(*f))
        .map(|f| format!("`{f}`"))
        .collect();
    // 0x followed by 8+ hex digits: a pointer.
    let bytes = text.as_bytes();
    for (i, w) in bytes.windows(2).enumerate() {
        if w == b"0x" {
            let digits = bytes[i + 2..]
                .iter()
                .take_while(|b| b.is_ascii_hexdigit())
                .count();
            if digits >= 8 {
                found.push(format!("address-like `{}`", &text[i..i + 2 + digits]));
                break;
            }
        }
    }
    found
}

/// Differences between two JSON objects, key by key (for readable reports).
fn diff(expected: &Value, got: &Value, path: &str, out: &mut Vec<String>) {
    match (expected, got) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, va) in a {
                let p = format!("{path}.{k}");
                match b.get(k) {
                    Some(vb) => diff(va, vb, &p, out),
                    None => out.push(format!("{p}: missing")),
                }
            }
            for k in b.keys().filter(|k| !a.contains_key(*k)) {
                out.push(format!("{path}.{k}: unexpected"));
            }
        }
        _ if expected != got => out.push(format!("{path}: expected {expected}, got {got}")),
        _ => {}
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 600 {
        let mut end = 600;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}… ({} bytes)", &s[..end], s.len())
    } else {
        s
    }
}

/// Checks one outcome against the program's header; returns the problems found.
fn judge(p: &Program, outcome: &Result<Value, Value>) -> Vec<String> {
    let mut problems = Vec::new();
    let body = match outcome {
        Ok(v) | Err(v) => v,
    };
    let text = body.to_string();
    if text.len() > p.max_response_bytes {
        problems.push(format!(
            "response is {} bytes (limit {})",
            text.len(),
            p.max_response_bytes
        ));
    }
    let leaked = leaks(&text);
    if !leaked.is_empty() {
        problems.push(format!("response leaks {}", leaked.join(", ")));
    }
    match (&p.expect, outcome) {
        (Expect::Ok(_) | Expect::OkAny, Err(e)) => {
            problems.push(format!("expected success, got error {}", short(e)));
        }
        (Expect::Error(codes), Ok(v)) => {
            problems.push(format!(
                "expected error {codes:?}, got success {}",
                short(v)
            ));
        }
        (Expect::Ok(expected), Ok(v)) => {
            if v["success"] != true {
                problems.push(format!("success is not true: {}", short(v)));
            }
            if let Some(expected) = expected
                && &v["result"] != expected
            {
                problems.push(format!(
                    "result: expected {expected}, got {}",
                    short(&v["result"])
                ));
            }
        }
        (Expect::OkAny, Ok(v)) => {
            if v["success"] != true {
                problems.push(format!("success is not true: {}", short(v)));
            }
        }
        (Expect::Error(codes), Err(e)) => {
            let code = e["code"].as_str().unwrap_or("");
            if !codes.iter().any(|c| c == code) {
                problems.push(format!(
                    "expected error {codes:?}, got {code}: {}",
                    short(e)
                ));
            }
            if let Some(name) = &p.error_name
                && e["details"]["name"].as_str() != Some(name.as_str())
            {
                problems.push(format!("expected error name {name}, got {}", short(e)));
            }
            if let Some(needle) = &p.error_contains
                && !e["error"].as_str().unwrap_or("").contains(needle.as_str())
            {
                problems.push(format!(
                    "expected the error to contain `{needle}`, got {}",
                    short(&e["error"])
                ));
            }
        }
    }
    if let Ok(v) = outcome {
        if p.result_truncated && !v["resultTruncated"].is_object() {
            problems.push("expected resultTruncated".into());
        }
        if p.logs_truncated {
            let last = v["logs"]
                .as_array()
                .and_then(|l| l.last())
                .map(|l| l["message"].clone());
            if last != Some(json!("[logs truncated]")) {
                problems.push(format!("expected truncated logs, last entry {last:?}"));
            }
        }
    }
    problems
}

struct Report {
    file: String,
    category: String,
    code: String,
    elapsed: Duration,
    problems: Vec<String>,
    known_issue: Option<String>,
}

async fn run_program(p: Program, baseline: Arc<Value>) -> Report {
    let started = Instant::now();
    let mut problems = Vec::new();
    let code = match program_steps(&p, &baseline, &mut problems).await {
        Ok(code) => code,
        Err(hung) => {
            problems.push(hung);
            "hung".into()
        }
    };
    steps().remove(&p.file);
    Report {
        file: p.file,
        category: p.category,
        code,
        elapsed: started.elapsed(),
        problems,
        known_issue: p.known_issue,
    }
}

/// Runs `p` and its follow-up checks, adding what is wrong to `problems`; returns the
/// outcome's code, or which step hung.
async fn program_steps(
    p: &Program,
    baseline: &Value,
    problems: &mut Vec<String>,
) -> Result<String, String> {
    let file = p.file.as_str();
    let flags = merged_flags(&p.flags);
    let (db, app) = step(file, "setup", environment(&flags)).await?;
    let canary_before = step(file, "canary before", canary(&db.url)).await?;
    let foreign = if p.foreign_transaction {
        Some(step(file, "foreign transaction", foreign_transaction(&app)).await?)
    } else {
        None
    };
    let outcome = step(
        file,
        "execution",
        execute(&app, &p.source, p.timeout_ms, p.readonly),
    )
    .await?;
    if std::env::var_os("ESCAPE_VERBOSE").is_some() {
        eprintln!(
            "--- {}\n{}",
            p.file,
            match &outcome {
                Ok(v) | Err(v) => short(v),
            }
        );
    }
    let code = match &outcome {
        Ok(_) => "ok".to_string(),
        Err(e) => e["code"].as_str().unwrap_or("?").to_string(),
    };
    problems.extend(judge(p, &outcome));
    if let Some(id) = foreign {
        // Still open, still holding its uncommitted insert; then ended by its owner.
        let inside = step(
            file,
            "foreign transaction check",
            app.call(
                "pg_read_query",
                json!({ "sql": "select count(*)::int as n from scratch where id = 999", "transactionId": id }),
            ),
        )
        .await?;
        match inside {
            Ok(v) if v["rows"][0]["n"] == 1 => {}
            other => problems.push(format!(
                "the foreign transaction was disturbed: {:?}",
                other.map_err(|e| e.to_json())
            )),
        }
        let _ = step(
            file,
            "foreign rollback",
            app.call("pg_transaction_rollback", json!({ "transactionId": id })),
        )
        .await?;
    }

    // The next execution on the same server succeeds and sees a pristine world. State that
    // is cleaned up asynchronously (a cancelled statement) gets a few seconds.
    let last = step(file, "follow-up", async {
        let settle = Instant::now() + Duration::from_secs(5);
        loop {
            let last = check(&app).await;
            if matches!(&last, Ok(v) if v == baseline) || Instant::now() > settle {
                break last;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    })
    .await?;
    match last {
        Ok(v) if &v == baseline => {}
        Ok(v) => {
            let mut d = Vec::new();
            diff(baseline, &v, "", &mut d);
            problems.push(format!(
                "follow-up execution differs from a fresh server: {}",
                d.join("; ")
            ));
        }
        Err(e) => problems.push(e),
    }
    let open = app.db.transactions.ids();
    if !open.is_empty() {
        problems.push(format!(
            "{} transaction(s) left open after the execution",
            open.len()
        ));
    }
    let canary_after = step(file, "canary after", canary(&db.url)).await?;
    if canary_after != canary_before {
        problems.push(format!("canary changed: {canary_before} -> {canary_after}"));
    }
    drop(app);
    // Dropping the database waits for the server; not on a runtime worker.
    step(
        file,
        "teardown",
        tokio::task::spawn_blocking(move || drop(db)),
    )
    .await?
    .map_err(|e| format!("dropping the database panicked: {e}"))?;
    Ok(code)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escape_corpus() {
    let started = Instant::now();
    start_watchdog(started);
    let (programs, mut failures) = load_corpus();
    let filtered = std::env::var_os("ESCAPE_FILTER").is_some();
    if !filtered {
        assert!(
            programs.len() >= 60,
            "the corpus has {} programs",
            programs.len()
        );
        let mut per_category: BTreeMap<&str, usize> = BTreeMap::new();
        for p in &programs {
            *per_category.entry(p.category.as_str()).or_default() += 1;
        }
        for required in [
            "string-compilation",
            "code-loading",
            "host-surface",
            "prototype-pollution",
            "hostile-arguments",
            "thenables",
            "error-leaks",
            "state-persistence",
            "exhaustion",
            "readonly-writes",
        ] {
            let n = per_category.get(required).copied().unwrap_or(0);
            if n < 3 {
                failures.push(format!("category {required} has only {n} programs"));
            }
        }
        eprintln!(
            "escape corpus: {} programs {per_category:?}",
            programs.len()
        );
    }

    // What a fresh server's follow-up execution sees.
    let base = merged_flags(&[]);
    let (db, app) = environment(&base).await;
    let baseline = check(&app)
        .await
        .expect("the follow-up check runs on a fresh server");
    assert_eq!(baseline["db"]["n"], 42, "{baseline}");
    assert_eq!(baseline["probes"]["compile"], "EvalError", "{baseline}");
    assert_eq!(baseline["db"]["busy_sessions"], 0, "{baseline}");
    drop(app);
    drop(db);
    let baseline = Arc::new(baseline);

    // The slowest programs (limits, big data) start first, so they overlap with the many
    // quick ones instead of forming a tail.
    let mut programs = programs;
    programs.sort_by_key(|p| p.category != "exhaustion");
    let reports: Vec<Report> = futures::stream::iter(programs)
        .map(|p| {
            let baseline = baseline.clone();
            async move {
                // Own task: a panic inside one program is reported, not fatal to the others.
                let file = p.file.clone();
                let category = p.category.clone();
                let known_issue = p.known_issue.clone();
                match tokio::spawn(run_program(p, baseline)).await {
                    Ok(r) => r,
                    Err(e) => Report {
                        file,
                        category,
                        code: "panic".into(),
                        elapsed: Duration::ZERO,
                        problems: vec![format!("the runner panicked: {e}")],
                        known_issue,
                    },
                }
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;

    let mut reports = reports;
    reports.sort_by(|a, b| a.file.cmp(&b.file));
    let mut known = Vec::new();
    for r in &reports {
        let status = match (&r.known_issue, r.problems.is_empty()) {
            (_, true) if r.known_issue.is_some() => "KNOWN-ISSUE-GONE",
            (_, true) => "ok",
            (Some(_), false) => "KNOWN-ISSUE",
            (None, false) => "FAIL",
        };
        eprintln!(
            "{status:<16} {:<55} {:<20} {:<18} {:>6.1}s",
            r.file,
            r.category,
            r.code,
            r.elapsed.as_secs_f64()
        );
        match (&r.known_issue, r.problems.is_empty()) {
            (Some(issue), false) => known.push(format!(
                "{}: {issue}\n    {}",
                r.file,
                r.problems.join("\n    ")
            )),
            (Some(issue), true) => eprintln!(
                "  note: {} is marked `known-issue: {issue}` but passed; remove the marker if it is fixed",
                r.file
            ),
            (None, false) => {
                failures.push(format!("{}:\n    {}", r.file, r.problems.join("\n    ")))
            }
            (None, true) => {}
        }
    }
    // Thread isolation cannot kill a run: every sandbox thread must have ended on its own.
    // The count is of the whole test process: other modules' thread-isolation tests wait.
    let _threads_lock = support::sandbox_threads_lock().await;
    let mut threads = sandbox_threads();
    for _ in 0..50 {
        if threads == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        threads = sandbox_threads();
    }
    if threads > 0 {
        failures.push(format!(
            "{threads} sandbox thread(s) (thread isolation) still running after the corpus"
        ));
    }
    for k in &known {
        eprintln!("known issue (not failing): {k}");
    }
    eprintln!(
        "escape corpus: {} programs in {:.1}s",
        reports.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} corpus program(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn header_grammar() {
    let p = parse_program(
        "x.js",
        "// category: c\n// expect: error A|B\n// error-name: EvalError\n// timeout: 10\n// flags: --x 1 --y\nbody",
    )
    .unwrap();
    assert_eq!(p.expect, Expect::Error(vec!["A".into(), "B".into()]));
    assert_eq!(p.timeout_ms, 10);
    assert_eq!(p.flags, vec!["--x", "1", "--y"]);
    let p = parse_program("x.js", "// category: c\n// expect: ok\n// result: [1]\n1").unwrap();
    assert_eq!(p.expect, Expect::Ok(Some(json!([1]))));
    assert!(parse_program("x.js", "// category: c\n// expect: ok\n// typo: 1\n").is_err());
    assert!(parse_program("x.js", "// category: c\n// expect: error X\n// result: 1\n").is_err());
    assert!(parse_program("x.js", "// expect: ok\n").is_err());
    // The header ends at the first line that is not `// key: value`.
    let p = parse_program(
        "x.js",
        "// category: c\n// expect: ok-any\n// free text: here\n",
    )
    .unwrap();
    assert_eq!(p.expect, Expect::OkAny);
    let flags = merged_flags(&["--code-max-tool-calls".into(), "5".into(), "--z".into()]);
    let at = flags
        .iter()
        .position(|f| f == "--code-max-tool-calls")
        .unwrap();
    assert_eq!(flags[at + 1], "5");
    assert_eq!(flags.last().unwrap(), "--z");
    assert!(leaks("at /work/x/src/main.rs:1").len() >= 2);
    assert_eq!(
        leaks("ptr 0x7ffd1234abcd"),
        vec!["address-like `0x7ffd1234abcd`"]
    );
    assert!(leaks("select 0x10, script.js:3:7").is_empty());
}

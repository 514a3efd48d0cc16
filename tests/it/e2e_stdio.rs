//! End-to-end: the built `pgmcp` binary driven over stdio with raw JSON-RPC lines, exactly
//! as an MCP client does.

use crate::support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    next_id: i64,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        // Against the test server, reads run as its read-only role, as a deployment's should.
        let mut args = args.to_vec();
        if args.contains(&"--postgres") && !args.contains(&"--read-only-role") {
            args.extend(["--read-only-role", support::READER_ROLE]);
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_pgmcp"))
            .args(args)
            .env_remove("POSTGRES_URL")
            .env_remove("DATABASE_URL")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn pgmcp");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Server {
            stdin: child.stdin.take(),
            child,
            lines: rx,
            next_id: 1,
        }
    }

    fn send_raw(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(line.as_bytes()).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
    }

    fn recv(&self) -> Value {
        let line = self
            .lines
            .recv_timeout(Duration::from_secs(30))
            .expect("no response from pgmcp within 30 s");
        serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("stdout carried a non-JSON line {line:?}: {e}"))
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send_raw(
            &json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string(),
        );
        loop {
            let msg = self.recv();
            if msg.get("id") == Some(&json!(id)) {
                return msg;
            }
            // Notifications (logging, progress) may arrive in between.
            assert!(msg.get("method").is_some(), "unexpected frame {msg}");
        }
    }

    fn notify(&mut self, method: &str) {
        self.send_raw(&json!({"jsonrpc": "2.0", "method": method}).to_string());
    }

    fn initialize(&mut self) -> Value {
        let r = self.request(
            "initialize",
            json!({
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "e2e", "version": "0"}
            }),
        );
        self.notify("notifications/initialized");
        r
    }

    fn call(&mut self, name: &str, args: Value) -> Value {
        let r = self.request("tools/call", json!({"name": name, "arguments": args}));
        r.get("result")
            .cloned()
            .unwrap_or_else(|| panic!("tools/call answered with a protocol error: {r}"))
    }

    /// Closes stdin and waits for a clean exit.
    fn finish(mut self) -> std::process::ExitStatus {
        drop(self.stdin.take());
        wait_with_timeout(&mut self.child, Duration::from_secs(15))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_with_timeout(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            start.elapsed() < limit,
            "pgmcp did not exit within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn list_all_tools(server: &mut Server) -> Vec<Value> {
    let mut tools = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let params = match &cursor {
            Some(c) => json!({"cursor": c}),
            None => json!({}),
        };
        let r = server.request("tools/list", params);
        let result = &r["result"];
        tools.extend(result["tools"].as_array().unwrap().iter().cloned());
        match result.get("nextCursor").and_then(Value::as_str) {
            Some(c) => cursor = Some(c.to_string()),
            None => return tools,
        }
    }
}

#[tokio::test]
async fn full_session_over_stdio() {
    let db = support::test_db().await;
    let mut s = Server::start(&["--postgres", &db.url]);

    let init = s.initialize();
    assert_eq!(init["result"]["serverInfo"]["name"], "pgmcp", "{init}");
    assert!(init["result"]["capabilities"]["tools"].is_object());

    assert_eq!(s.request("ping", json!({}))["result"], json!({}));

    let tools = list_all_tools(&mut s);
    let read = tools
        .iter()
        .find(|t| t["name"] == "pg_read_query")
        .expect("pg_read_query listed");
    assert_eq!(read["annotations"]["readOnlyHint"], true);
    assert_eq!(read["inputSchema"]["type"], "object");
    assert!(read["inputSchema"]["properties"]["sql"].is_object());
    let upsert = tools.iter().find(|t| t["name"] == "pg_upsert").unwrap();
    assert_eq!(upsert["annotations"]["destructiveHint"], true);

    // A successful call: structured content, mirrored as text.
    let ok = s.call(
        "pg_read_query",
        json!({"sql": "select $1::int + 1 as n", "params": [41]}),
    );
    assert_eq!(ok["isError"], false, "{ok}");
    assert_eq!(ok["structuredContent"]["rows"], json!([{"n": 42}]));
    let text: Value = serde_json::from_str(ok["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(text, ok["structuredContent"]);

    // A failing call is a tool error in the DESIGN.md shape, not a protocol error.
    let err = s.call(
        "pg_read_query",
        json!({"sql": "select * from no_such_table"}),
    );
    assert_eq!(err["isError"], true);
    let body = &err["structuredContent"];
    assert_eq!(body["success"], false);
    assert_eq!(body["code"], "UNDEFINED_TABLE");
    assert_eq!(body["sqlstate"], "42P01");
    assert_eq!(body["category"], "database");
    assert!(body["error"].as_str().unwrap().contains("no_such_table"));

    // Wrong argument types name the problem and the expected arguments.
    let bad = s.call("pg_read_query", json!({"sql": 5}));
    assert_eq!(
        bad["structuredContent"]["code"], "INVALID_ARGUMENT",
        "{bad}"
    );
    assert!(
        bad["structuredContent"]["suggestion"]
            .as_str()
            .unwrap()
            .contains("sql (string, required)")
    );

    // Unknown tools are tool errors with a did-you-mean.
    let unknown = s.call("pg_read_qery", json!({}));
    assert_eq!(unknown["structuredContent"]["code"], "UNKNOWN_TOOL");
    assert!(
        unknown["structuredContent"]["suggestion"]
            .as_str()
            .unwrap()
            .contains("pg_read_query")
    );

    // A malformed frame gets a JSON-RPC parse error and the server keeps serving.
    s.send_raw("{\"jsonrpc\": \"2.0\", \"id\": 99, \"method\": ");
    let parse_err = s.recv();
    assert_eq!(parse_err["error"]["code"], -32700, "{parse_err}");
    assert_eq!(parse_err["id"], Value::Null);
    // Valid JSON that is not a JSON-RPC message is an invalid request, also answered.
    s.send_raw("[1, 2, 3]");
    let invalid = s.recv();
    assert!(invalid["error"]["code"].is_i64(), "{invalid}");
    // An unknown method is a protocol error.
    let nm = s.request("no/such/method", json!({}));
    assert_eq!(nm["error"]["code"], -32601, "{nm}");

    let again = s.call("pg_read_query", json!({"sql": "select 'still here' as s"}));
    assert_eq!(again["structuredContent"]["rows"][0]["s"], "still here");

    let status = s.finish();
    assert!(status.success(), "exit status {status:?}");
}

#[tokio::test]
async fn tools_list_pages_with_cursors() {
    let db = support::test_db().await;
    let mut s = Server::start(&[
        "--postgres",
        &db.url,
        "--tools-page-size",
        "5",
        "--tool-filter",
        "all",
    ]);
    s.initialize();
    let first = s.request("tools/list", json!({}));
    assert_eq!(first["result"]["tools"].as_array().unwrap().len(), 5);
    assert!(first["result"]["nextCursor"].is_string());
    let all = list_all_tools(&mut s);
    let registry = pgmcp::app::registry();
    assert_eq!(all.len(), registry.all().len());
    let bad = s.request("tools/list", json!({"cursor": "nonsense"}));
    assert_eq!(bad["error"]["code"], -32602, "{bad}");
}

#[test]
fn serves_while_the_database_is_down_and_names_the_problem() {
    // Port 1 on loopback: nothing listens there.
    let mut s = Server::start(&[
        "--postgres",
        "postgres://someone:hunter2secret@127.0.0.1:1/nodb",
    ]);
    let init = s.initialize();
    assert_eq!(init["result"]["serverInfo"]["name"], "pgmcp");
    assert!(!list_all_tools(&mut s).is_empty());
    let r = s.call("pg_list_tables", json!({}));
    assert_eq!(r["isError"], true);
    let body = &r["structuredContent"];
    assert_eq!(body["code"], "CONNECTION_REFUSED", "{body}");
    assert_eq!(body["category"], "connection");
    assert!(body["suggestion"].is_string());
    assert!(
        !r.to_string().contains("hunter2secret"),
        "password leaked: {r}"
    );
    assert!(s.finish().success());
}

#[test]
fn restricted_mode_lists_only_read_only_tools() {
    let mut s = Server::start(&[
        "--postgres",
        "postgres://x@127.0.0.1:1/x",
        "--access-mode",
        "restricted",
    ]);
    s.initialize();
    let tools = list_all_tools(&mut s);
    assert!(!tools.is_empty());
    for t in &tools {
        assert_eq!(
            t["annotations"]["readOnlyHint"], true,
            "{} is listed in restricted mode",
            t["name"]
        );
    }
    let r = s.call("pg_write_query", json!({"sql": "select 1"}));
    assert_eq!(r["isError"], true);
}

#[test]
fn tool_filter_limits_the_list() {
    let mut s = Server::start(&[
        "--postgres",
        "postgres://x@127.0.0.1:1/x",
        "--tool-filter",
        "core,-pg_drop_table",
    ]);
    s.initialize();
    let names: Vec<String> = list_all_tools(&mut s)
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    assert!(names.contains(&"pg_read_query".to_string()));
    assert!(!names.contains(&"pg_drop_table".to_string()));
    assert!(!names.iter().any(|n| n.starts_with("pg_transaction")));
}

#[cfg(unix)]
#[tokio::test]
async fn sigterm_rolls_back_and_exits_cleanly() {
    let db = support::test_db().await;
    let mut s = Server::start(&["--postgres", &db.url]);
    s.initialize();
    s.call("pg_write_query", json!({"sql": "create table t (x int)"}));
    let begin = s.call("pg_transaction_begin", json!({}));
    assert_eq!(begin["isError"], false, "{begin}");
    let id = begin["structuredContent"]["transactionId"]
        .as_str()
        .unwrap()
        .to_string();
    let w = s.call(
        "pg_write_query",
        json!({"sql": "insert into t values (1)", "transactionId": id}),
    );
    assert_eq!(w["isError"], false, "{w}");
    let pid = s.child.id() as i32;
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let status = wait_with_timeout(&mut s.child, Duration::from_secs(15));
    assert!(status.success(), "{status:?}");
    let client = support::connect(&db.url).await;
    let n: i64 = client
        .query_one("select count(*) from t", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0, "the open transaction was not rolled back");
    let idle: i64 = client
        .query_one(
            "select count(*) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(idle, 0, "connections left open after shutdown");
}

#[test]
fn list_tools_command_honours_the_filter() {
    let out = Command::new(env!("CARGO_BIN_EXE_pgmcp"))
        .args([
            "list-tools",
            "--tool-filter",
            "core,-pg_drop_table,+pg_list_schemas",
        ])
        .env_remove("POSTGRES_URL")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(names.contains(&"pg_read_query"), "{text}");
    assert!(names.contains(&"pg_list_schemas"), "{text}");
    assert!(!names.contains(&"pg_drop_table"), "{text}");
    assert!(
        !names.iter().any(|n| n.starts_with("pg_transaction")),
        "{text}"
    );
    let bad = Command::new(env!("CARGO_BIN_EXE_pgmcp"))
        .args(["list-tools", "--tool-filter", "core;drop"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid --tool-filter entry"));
}

#[tokio::test]
async fn code_mode_over_stdio() {
    let db = support::test_db().await;
    let mut s = Server::start(&["--postgres", &db.url]);
    let init = s.initialize();
    assert!(
        init["result"]["capabilities"]["resources"].is_object(),
        "{init}"
    );
    let r = s.call(
        "pg_execute_code",
        json!({"code": "const a: number = (await pg.query('select 20 as n')).rows[0].n; console.log('n is', a); a + 22"}),
    );
    assert_eq!(r["isError"], false, "{r}");
    assert_eq!(
        r["structuredContent"],
        json!({"success": true, "result": 42, "logs": [{"level": "log", "message": "n is 20"}]})
    );
    let metrics = &r["_meta"]["metrics"];
    assert_eq!(metrics["toolCalls"], 1, "{r}");
    assert!(
        metrics["wallTimeMs"].is_u64()
            && metrics["cpuTimeMs"].is_u64()
            && metrics["memoryUsedMb"].is_number(),
        "{r}"
    );
    let failed = s.call(
        "pg_execute_code",
        json!({"code": "while (true) {}", "timeout": 1500}),
    );
    assert_eq!(failed["isError"], true);
    assert!(
        ["TIMEOUT", "INSTRUCTION_LIMIT", "LOOP_LIMIT"]
            .contains(&failed["structuredContent"]["code"].as_str().unwrap()),
        "{failed}"
    );

    // The API is MCP resources: the whole declarations, the index pg.help() returns and
    // one resource per group with the text pg.help(group) returns.
    let list = s.request("resources/list", json!({}));
    let uris: Vec<&str> = list["result"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["uri"].as_str().unwrap())
        .collect();
    for uri in [
        "pgmcp://code-mode/index",
        "pgmcp://code-mode/api.d.ts",
        "pgmcp://code-mode/group/core",
        "pgmcp://code-mode/group/performance",
    ] {
        assert!(uris.contains(&uri), "{uri} missing: {list}");
    }
    let mut read = |uri: &str| {
        let r = s.request("resources/read", json!({ "uri": uri }));
        r["result"]["contents"][0]["text"]
            .as_str()
            .unwrap_or_else(|| panic!("{r}"))
            .to_string()
    };
    let dts = read("pgmcp://code-mode/api.d.ts");
    assert!(
        dts.contains("declare const pg") && dts.contains("readQuery("),
        "{dts}"
    );
    let index = read("pgmcp://code-mode/index");
    let core = read("pgmcp://code-mode/group/core");
    let help = s.call(
        "pg_execute_code",
        json!({"code": "({ index: pg.help(), core: pg.help('core') })"}),
    );
    assert_eq!(help["structuredContent"]["result"]["index"], index.as_str());
    assert_eq!(help["structuredContent"]["result"]["core"], core.as_str());
    let missing = s.request("resources/read", json!({"uri": "pgmcp://nope"}));
    assert!(missing["error"]["code"].is_i64(), "{missing}");
    assert!(s.finish().success());
}

/// `tools/list` as a client receives it: every page's tools, and the bytes of the pages'
/// `result` objects.
fn listing(s: &mut Server) -> (Vec<String>, usize) {
    let mut names = Vec::new();
    let mut bytes = 0;
    let mut cursor: Option<String> = None;
    loop {
        let params = match &cursor {
            Some(c) => json!({"cursor": c}),
            None => json!({}),
        };
        let r = s.request("tools/list", params);
        bytes += r["result"].to_string().len();
        for t in r["result"]["tools"].as_array().unwrap() {
            names.push(t["name"].as_str().unwrap().to_string());
        }
        match r["result"].get("nextCursor").and_then(Value::as_str) {
            Some(c) => cursor = Some(c.to_string()),
            None => return (names, bytes),
        }
    }
}

/// Every `group.method` a script's `pg` has.
const PG_METHODS: &str = "const out = []; for (const g of Object.keys(pg)) { if (pg[g] && typeof pg[g] === 'object') for (const m of Object.keys(pg[g])) out.push(g + '.' + m); } out";

#[tokio::test]
async fn the_default_listing_fits_clients_limits() {
    let db = support::test_db().await;
    let mut s = Server::start(&["--postgres", &db.url]);
    s.initialize();
    let (names, bytes) = listing(&mut s);
    println!("default listing: {} tools, {bytes} bytes", names.len());
    assert!(names.len() <= 40, "{} tools", names.len());
    assert!(bytes <= 40 * 1024, "{bytes} bytes");
    for core in [
        "pg_execute_code",
        "pg_read_query",
        "pg_list_tables",
        "pg_explain",
    ] {
        assert!(names.contains(&core.to_string()), "{core} not listed");
    }
    // Rarely used tools are not listed, yet Code Mode reaches them.
    assert!(!names.contains(&"pg_drop_schema".to_string()));
    let r = s.call(
        "pg_execute_code",
        json!({"code": "typeof pg.schema.dropSchema"}),
    );
    assert_eq!(r["structuredContent"]["result"], "function", "{r}");
    let (all, all_bytes) = {
        let mut full = Server::start(&["--postgres", &db.url, "--tool-filter", "all"]);
        full.initialize();
        listing(&mut full)
    };
    println!("--tool-filter all: {} tools, {all_bytes} bytes", all.len());
    assert_eq!(all.len(), pgmcp::app::registry().all().len());
}

#[tokio::test]
async fn codemode_preset_lists_one_tool_and_reaches_the_whole_api() {
    let db = support::test_db().await;
    let mut s = Server::start(&["--postgres", &db.url, "--tool-filter", "codemode"]);
    let init = s.initialize();
    let instructions = init["result"]["instructions"].as_str().unwrap();
    assert!(
        instructions.contains("pg_execute_code") && !instructions.contains("pg_list_tables"),
        "{instructions}"
    );
    let (names, bytes) = listing(&mut s);
    assert_eq!(names, ["pg_execute_code"]);
    println!("codemode listing: {bytes} bytes");
    let tools = s.request("tools/list", json!({}));
    let description = tools["result"]["tools"][0]["description"]
        .as_str()
        .unwrap()
        .to_string();
    println!("pg_execute_code description: {} bytes", description.len());
    assert!(description.len() < 2048, "{}", description.len());
    for entry in ["pg.help()", "pg.describe(", "pg.search(", "pg.query("] {
        assert!(description.contains(entry), "{entry}: {description}");
    }
    let r = s.call("pg_execute_code", json!({ "code": PG_METHODS }));
    let methods = r["structuredContent"]["result"].as_array().unwrap().clone();
    println!(
        "methods reachable under --tool-filter codemode: {}",
        methods.len()
    );
    assert!(methods.len() >= 40, "{r}");
    assert!(methods.contains(&json!("core.dropTable")), "{r}");
    let r = s.call(
        "pg_execute_code",
        json!({"code": "(await pg.query('select 20 + 22 as n')).rows[0].n"}),
    );
    assert_eq!(r["structuredContent"]["result"], 42, "{r}");
    // Unlisted is not disabled: a client that knows the name may call it directly.
    let direct = s.call("pg_read_query", json!({"sql": "select 1 as n"}));
    assert_eq!(direct["structuredContent"]["rows"][0]["n"], 1, "{direct}");

    // Discovery: a compact index, one group's declarations, one method, ranked search.
    let r = s.call(
        "pg_execute_code",
        json!({"code": "({ index: pg.help(), core: pg.help('core'), one: pg.describe('core.readQuery'), found: pg.search('query plan').map(m => m.method) })"}),
    );
    let v = &r["structuredContent"]["result"];
    let index = v["index"].as_str().unwrap();
    println!("pg.help(): {} bytes", index.len());
    assert!(index.len() <= 6 * 1024, "{}", index.len());
    assert!(index.contains("core: readQuery(sql, …)"), "{index}");
    assert!(index.contains("schema: listSchemas("), "{index}");
    assert!(
        v["core"].as_str().unwrap().contains("dropTable(args:"),
        "{v}"
    );
    let one = v["one"].as_str().unwrap();
    assert!(
        one.contains("readQuery(args:") && one.contains("pg_read_query"),
        "{one}"
    );
    let found: Vec<&str> = v["found"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    // "query plan" also names queryPlanStats and queryPlanCompare; the phrase in explain's
    // title ranks it first.
    assert_eq!(found.first(), Some(&"performance.explain"), "{v}");
    assert!(s.finish().success());

    // An explicit removal takes the tool out of reach, and out of the description.
    let mut s = Server::start(&[
        "--postgres",
        &db.url,
        "--tool-filter",
        "codemode,-pg_drop_table,-pg_write_query",
    ]);
    s.initialize();
    let r = s.call(
        "pg_execute_code",
        json!({"code": "({ drop: typeof pg.core.dropTable, create: typeof pg.core.createTable, execute: typeof pg.execute })"}),
    );
    assert_eq!(
        r["structuredContent"]["result"],
        json!({"drop": "undefined", "create": "function", "execute": "undefined"}),
        "{r}"
    );
    let tools = s.request("tools/list", json!({}));
    let description = tools["result"]["tools"][0]["description"].as_str().unwrap();
    assert!(!description.contains("pg.execute("), "{description}");
    // A removed tool is refused when called directly too.
    let direct = s.call("pg_drop_table", json!({"table": "x"}));
    assert_eq!(
        direct["structuredContent"]["code"], "UNKNOWN_TOOL",
        "{direct}"
    );
    let r = s.call(
        "pg_execute_code",
        json!({"code": "pg.help().includes('dropTable') || pg.search('drop table').some(m => m.method === 'core.dropTable')"}),
    );
    assert_eq!(r["structuredContent"]["result"], false, "{r}");
}

#[test]
fn demo_serves_the_sample_database_and_runs_scripts() {
    // `pgmcp demo --exec`: the zero-setup path with a script, as the README shows it.
    let mut child = Command::new(env!("CARGO_BIN_EXE_pgmcp"))
        .args(["demo", "--exec", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"const tables = await pg.listTables(); const o = await pg.count('orders'); const who = await pg.query('select current_user as u'); ({ tables: tables.map(t => t.name), orders: o.count, reader: who.rows[0].u })")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["result"]["tables"],
        json!(["customers", "order_items", "orders", "products"]),
        "{v}"
    );
    assert_eq!(v["result"]["orders"], 5000);
    // The demo's reads run as the read-only role it created.
    assert_eq!(v["result"]["reader"], "pgmcp_reader", "{v}");

    // And `pgmcp demo` serves MCP on stdio against it until stdin closes.
    let mut s = Server::start(&["demo"]);
    s.initialize();
    let r = s.call("pg_describe_table", json!({"table": "orders"}));
    assert_eq!(
        r["structuredContent"]["foreignKeys"][0]["referencesColumns"],
        json!(["id"]),
        "{r}"
    );
    assert!(s.finish().success());
}

#[tokio::test]
async fn exec_prints_the_result_and_sets_the_exit_status() {
    let db = support::test_db().await;
    let run = |code: &'static str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pgmcp"))
            .args(["exec", "-", "--postgres", &db.url])
            .env_remove("POSTGRES_URL")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(code.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status,
            serde_json::from_slice::<Value>(&out.stdout).unwrap(),
        )
    };
    let (status, v) = run("return (await pg.query('select 6 * 7 as n')).rows[0].n");
    assert!(status.success());
    assert_eq!(v["result"], 42);
    assert_eq!(v["metrics"]["toolCalls"], 1);
    let (status, v) = run("const x: number = 1;\nthrow new RangeError('bad ' + x)");
    assert_eq!(status.code(), Some(1));
    assert_eq!(v["code"], "JS_ERROR");
    assert_eq!(v["details"]["line"], 2);
}

#[tokio::test]
async fn a_cancelled_call_stops_and_gets_no_answer() {
    let db = support::test_db().await;
    let mut s = Server::start(&["--postgres", &db.url]);
    s.initialize();
    for (id, name, args) in [
        (500, "pg_read_query", json!({"sql": "select pg_sleep(30)"})),
        (
            501,
            "pg_execute_code",
            json!({"code": "await pg.query('select pg_sleep(31)')"}),
        ),
    ] {
        s.send_raw(&json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": name, "arguments": args}}).to_string());
    }
    let client = support::connect(&db.url).await;
    let sleeping = || async {
        client
            .query_one(
                "select count(*) from pg_stat_activity where datname = current_database() and query like '%pg_sleep(3%' and state = 'active' and pid <> pg_backend_pid()",
                &[],
            )
            .await
            .unwrap()
            .get::<_, i64>(0)
    };
    let mut started = 0;
    for _ in 0..100 {
        started = sleeping().await;
        if started == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(started, 2, "both statements should be running");
    for id in [500, 501] {
        s.send_raw(&json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": id, "reason": "user"}}).to_string());
    }
    let mut remaining = 2;
    for _ in 0..100 {
        remaining = sleeping().await;
        if remaining == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        remaining, 0,
        "cancelled statements are still running on the server"
    );
    // No answer for the cancelled ids; the next request is answered normally.
    let pong = s.request("ping", json!({}));
    assert_eq!(pong["result"], json!({}), "{pong}");
    while let Ok(line) = s.lines.try_recv() {
        let msg: Value = serde_json::from_str(&line).unwrap();
        assert!(
            msg["id"] != 500 && msg["id"] != 501,
            "answered a cancelled request: {msg}"
        );
    }
    assert!(s.finish().success());
}

// ------------------------------------------------------------------------------------------
// Fair sharing (ISSUE 8, item 4): one client cannot starve the others. Each test first does
// what the red team did, scaled down (small pools, short timeouts), and asserts a generous
// bound that the unpatched server broke.
// ------------------------------------------------------------------------------------------

impl Server {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a tools/call without waiting for its answer.
    fn send_call(&mut self, id: i64, name: &str, args: Value) {
        self.send_raw(
            &json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": name, "arguments": args}})
                .to_string(),
        );
    }

    /// Waits for the answers to `ids` (in any order), calling `tick` between lines; returns
    /// each answer's `result` with the time it took from `since`.
    fn collect(
        &self,
        ids: &[i64],
        since: std::time::Instant,
        limit: Duration,
        mut tick: impl FnMut(),
    ) -> std::collections::HashMap<i64, (Value, Duration)> {
        let mut out = std::collections::HashMap::new();
        while out.len() < ids.len() {
            assert!(
                since.elapsed() < limit,
                "only {} of {} answers within {limit:?}: {:?}",
                out.len(),
                ids.len(),
                out.keys().collect::<Vec<_>>()
            );
            tick();
            let Ok(line) = self.lines.recv_timeout(Duration::from_millis(20)) else {
                continue;
            };
            let msg: Value = serde_json::from_str(&line).unwrap();
            if let Some(id) = msg["id"].as_i64()
                && ids.contains(&id)
            {
                out.insert(id, (msg["result"].clone(), since.elapsed()));
            }
        }
        out
    }
}

/// Worker processes under the server `pid`: its children, except that a zygote (a child with
/// children of its own) counts as the workers it forked. `(live, all)`: `all` counts zombies
/// too (exited, not reaped yet by their zygote), `live` does not.
fn workers_of(pid: u32) -> (usize, usize) {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return (0, 0);
    };
    let procs: Vec<(u32, u32, bool)> = dir
        .filter_map(Result::ok)
        .filter_map(|e| {
            let p = e.file_name().to_str()?.parse::<u32>().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
            let zombie = fields.next()? == "Z";
            let ppid = fields.next()?.parse().ok()?;
            Some((p, ppid, zombie))
        })
        .collect();
    let children = |of: u32| procs.iter().filter(move |(_, pp, _)| *pp == of);
    let (mut live, mut all) = (0, 0);
    for &(c, _, zombie) in children(pid) {
        let forked: Vec<_> = children(c).collect();
        if forked.is_empty() {
            all += 1;
            live += usize::from(!zombie);
        } else {
            all += forked.len();
            live += forked.iter().filter(|(_, _, z)| !z).count();
        }
    }
    (live, all)
}

/// A field of /proc/<pid>/status in kB (`VmRSS`, `VmHWM`).
fn status_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[track_caller]
fn structured_error(r: &Value, code: &str) -> Value {
    assert_eq!(r["isError"], true, "{r}");
    let body = r["structuredContent"].clone();
    assert_eq!(body["success"], false, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["category"], "limit", "{body}");
    assert_eq!(body["recoverable"], true, "{body}");
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{body}"
    );
    assert!(body["suggestion"].is_string(), "{body}");
    assert!(body["details"].is_object(), "{body}");
    body
}

async fn active_sleeps(client: &tokio_postgres::Client, marker: &str) -> i64 {
    client
        .query_one(
            "select count(*) from pg_stat_activity where datname = current_database() and state = 'active' and query like '%' || $1 || '%' and pid <> pg_backend_pid()",
            &[&marker],
        )
        .await
        .unwrap()
        .get(0)
}

/// The red team's flood: one readonly execution runs many concurrent `pg_sleep`s. With
/// the per-execution quota it holds at most `--code-max-connections` (half the pool), and
/// an unrelated `select 1` answers at once instead of after the sleeps.
#[tokio::test]
async fn one_execution_cannot_hold_the_whole_pool() {
    let db = support::test_db().await;
    let mut s = Server::start(&["--postgres", &db.url, "--pool-max", "4"]);
    s.initialize();
    s.send_call(
        10,
        "pg_execute_code",
        json!({"readonly": true, "timeout": 20000, "code":
            "await Promise.all(Array.from({length: 8}, () => pg.query('select pg_sleep(1.5) as flood_marker'))); return 'done'"}),
    );
    let side = support::connect(&db.url).await;
    let mut started = 0;
    for _ in 0..200 {
        started = active_sleeps(&side, "flood_marker").await;
        if started > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(started > 0, "the flood never started");
    let t = std::time::Instant::now();
    let r = s.call("pg_read_query", json!({"sql": "select 1 as one"}));
    let latency = t.elapsed();
    eprintln!("select 1 under the pg_sleep flood: {latency:?}");
    assert_eq!(r["structuredContent"]["rows"][0]["one"], 1, "{r}");
    // Without the quota the flood takes all 4 connections for 1.5 s at a time.
    assert!(
        latency < Duration::from_millis(1000),
        "select 1 waited {latency:?}"
    );
    let answers = s.collect(&[10], t, Duration::from_secs(20), || {});
    let (done, _) = &answers[&10];
    assert_eq!(done["structuredContent"]["result"], "done", "{done}");
    assert!(s.finish().success());
}

/// Four sleeping executions per connection: at most the quota of them run at once.
#[tokio::test]
async fn an_execution_runs_at_most_its_quota_of_statements_at_once() {
    let db = support::test_db().await;
    let mut s = Server::start(&[
        "--postgres",
        &db.url,
        "--pool-max",
        "6",
        "--code-max-connections",
        "2",
    ]);
    s.initialize();
    s.send_call(
        11,
        "pg_execute_code",
        json!({"timeout": 20000, "code":
            "await Promise.all(Array.from({length: 6}, () => pg.query('select pg_sleep(0.4) as quota_marker'))); return 'done'"}),
    );
    let side = support::connect(&db.url).await;
    let t = std::time::Instant::now();
    let mut most = 0;
    while t.elapsed() < Duration::from_secs(3) {
        most = most.max(active_sleeps(&side, "quota_marker").await);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let answers = s.collect(&[11], t, Duration::from_secs(20), || {});
    assert_eq!(answers[&11].0["structuredContent"]["result"], "done");
    assert!(most >= 1, "never saw the statements run");
    assert!(
        most <= 2,
        "{most} statements of one execution ran at once (--code-max-connections 2)"
    );
}

/// When the pool really is exhausted (here by two executions, each within its quota), a
/// direct call waits `--pool-timeout` and gets POOL_EXHAUSTED naming the flag.
#[tokio::test]
async fn a_direct_call_gets_pool_exhausted_after_the_pool_timeout() {
    let db = support::test_db().await;
    let mut s = Server::start(&[
        "--postgres",
        &db.url,
        "--pool-max",
        "2",
        "--pool-timeout",
        "1",
    ]);
    s.initialize();
    for id in [20, 21] {
        s.send_call(
            id,
            "pg_execute_code",
            json!({"timeout": 20000, "code": "await pg.query('select pg_sleep(4) as hog_marker'); return 'done'"}),
        );
    }
    let side = support::connect(&db.url).await;
    for _ in 0..200 {
        if active_sleeps(&side, "hog_marker").await == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(active_sleeps(&side, "hog_marker").await, 2);
    let t = std::time::Instant::now();
    let r = s.call("pg_read_query", json!({"sql": "select 1"}));
    let waited = t.elapsed();
    let body = structured_error(&r, "POOL_EXHAUSTED");
    assert_eq!(body["details"]["limit"], "--pool-timeout", "{body}");
    assert!(body["error"].as_str().unwrap().contains("--pool-timeout"));
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(3),
        "waited {waited:?} for a 1 s pool timeout"
    );
    let answers = s.collect(&[20, 21], t, Duration::from_secs(20), || {});
    for (r, _) in answers.values() {
        assert_eq!(r["structuredContent"]["result"], "done", "{r}");
    }
    // Connections are back: the next call is served.
    let r = s.call("pg_read_query", json!({"sql": "select 2 as two"}));
    assert_eq!(r["structuredContent"]["rows"][0]["two"], 2, "{r}");
}

/// The red team's 40 spinning executions: the live worker processes (idle ones included)
/// never exceed `--code-max-workers`, and the executions that find no worker wait in a
/// bounded queue, then get BUSY with `retryAfterMs`.
#[tokio::test]
async fn spinning_executions_cannot_spawn_more_than_the_worker_cap() {
    let db = support::test_db().await;
    let mut s = Server::start(&[
        "--postgres",
        &db.url,
        "--code-max-workers",
        "4",
        "--code-max-queued",
        "8",
        "--code-queue-timeout",
        "1000",
        "--code-rate-limit",
        "0",
        "--code-max-instructions",
        "0",
    ]);
    s.initialize();
    // Let the idle pool fill: it counts toward the cap too.
    std::thread::sleep(Duration::from_millis(300));
    let ids: Vec<i64> = (100..140).collect();
    let t = std::time::Instant::now();
    for &id in &ids {
        s.send_call(
            id,
            "pg_execute_code",
            json!({"timeout": 2000, "code": "for (;;) { for (let i = 0; i < 1000000; i++) {} }"}),
        );
    }
    let pid = s.pid();
    let (mut most, mut most_all) = (0, 0);
    let answers = s.collect(&ids, t, Duration::from_secs(30), || {
        let (live, all) = workers_of(pid);
        most = most.max(live);
        most_all = most_all.max(all);
    });
    eprintln!(
        "live workers under 40 spinning executions: at most {most} ({most_all} with zombies)"
    );
    assert!(
        most <= 4,
        "{most} worker processes for --code-max-workers 4"
    );
    // A forked worker's slot is free once it has exited; until its zygote reaps it, it is
    // a zombie (no memory, no CPU): at most one per slot.
    assert!(most_all <= 8, "{most_all} processes with zombies");
    let mut busy = 0;
    for (r, took) in answers.values() {
        let code = r["structuredContent"]["code"].as_str().unwrap_or("");
        assert!(
            ["TIMEOUT", "CPU_LIMIT", "BUSY"].contains(&code),
            "unexpected answer {r}"
        );
        if code == "BUSY" {
            busy += 1;
            let body = structured_error(r, "BUSY");
            assert!(
                body["details"]["retryAfterMs"].as_u64().unwrap() > 0,
                "{body}"
            );
            assert_eq!(body["details"]["limit"], "--code-max-workers");
        }
        assert!(*took < Duration::from_secs(10), "an answer took {took:?}");
    }
    assert!(busy >= 28, "only {busy} of 40 executions were turned away");
    // Slots come back: a normal execution runs afterwards, and the idle pool stays capped.
    let r = s.call("pg_execute_code", json!({"code": "1 + 1"}));
    assert_eq!(r["structuredContent"]["result"], 2, "{r}");
    std::thread::sleep(Duration::from_millis(300));
    assert!(workers_of(pid).0 <= 4);
}

/// The red team's stalled DDL: a forgotten READ ONLY transaction is rolled back after the
/// read-only idle timeout, so queued DDL (and every reader behind it) goes on; and a
/// statement inside such a transaction gives up waiting for a lock after the lock timeout.
#[tokio::test]
async fn read_only_transactions_release_their_locks() {
    let db = support::test_db().await;
    let side = support::connect(&db.url).await;
    side.batch_execute("create table t (x int); insert into t values (1)")
        .await
        .unwrap();
    let mut s = Server::start(&[
        "--postgres",
        &db.url,
        "--access-mode",
        "restricted",
        "--read-only-transaction-idle-timeout",
        "2",
        "--read-only-lock-timeout",
        "300",
    ]);
    s.initialize();

    // A forgotten READ ONLY transaction that read t holds its lock ...
    let begin = s.call("pg_transaction_begin", json!({}));
    let id = begin["structuredContent"]["transactionId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        begin["structuredContent"]["idleTimeoutSeconds"], 2,
        "{begin}"
    );
    let r = s.call(
        "pg_read_query",
        json!({"sql": "select count(*) as n from t", "transactionId": id}),
    );
    assert_eq!(r["structuredContent"]["rows"][0]["n"], 1, "{r}");
    // ... until the idle timeout: the DDL waits about 2 s, not the 300 s default.
    let t = std::time::Instant::now();
    side.batch_execute("set lock_timeout = '15s'; alter table t add column y int")
        .await
        .expect("the DDL should get its lock once the idle transaction is rolled back");
    let waited = t.elapsed();
    eprintln!("DDL behind an idle READ ONLY transaction waited {waited:?}");
    assert!(waited < Duration::from_secs(6), "DDL waited {waited:?}");
    let gone = s.call("pg_transaction_status", json!({"transactionId": id}));
    assert_eq!(
        gone["structuredContent"]["code"], "TRANSACTION_NOT_FOUND",
        "{gone}"
    );

    // Another session holds an exclusive lock: a read inside a READ ONLY transaction gives
    // up after the lock timeout instead of queueing behind it.
    side.batch_execute("begin; lock table t in access exclusive mode")
        .await
        .unwrap();
    let begin = s.call("pg_transaction_begin", json!({}));
    let id = begin["structuredContent"]["transactionId"]
        .as_str()
        .unwrap()
        .to_string();
    let t = std::time::Instant::now();
    let r = s.call(
        "pg_read_query",
        json!({"sql": "select count(*) from t", "transactionId": id}),
    );
    let waited = t.elapsed();
    let body = structured_error(&r, "LOCK_TIMEOUT");
    assert_eq!(body["sqlstate"], "55P03", "{body}");
    assert!(
        waited < Duration::from_secs(3),
        "waited {waited:?} for a lock"
    );
    side.batch_execute("rollback").await.unwrap();
    // The same through a readonly Code Mode execution's pg.transaction.
    side.batch_execute("begin; lock table t in access exclusive mode")
        .await
        .unwrap();
    let r = s.call(
        "pg_execute_code",
        json!({"code": "return await pg.transaction(async tx => { try { await tx.query('select count(*) from t'); return 'read'; } catch (e) { return e.code; } })"}),
    );
    assert_eq!(r["structuredContent"]["result"], "LOCK_TIMEOUT", "{r}");
    side.batch_execute("rollback").await.unwrap();
}

/// The red team's memory blow-up: four concurrent reads of 200 MB values. Each answers
/// well within 30 s with its value cut to the result cap; the server's peak RSS stays
/// under 1.5 GB, and three seconds later it is back under 300 MB.
#[tokio::test]
async fn four_huge_values_at_once_stay_within_memory_bounds() {
    let db = support::test_db().await;
    let mut s = Server::start(&["--postgres", &db.url]);
    s.initialize();
    let pid = s.pid();
    let ids = [30, 31, 32, 33];
    let t = std::time::Instant::now();
    for id in ids {
        s.send_call(
            id,
            "pg_read_query",
            json!({"sql": "select repeat('x', 200*1024*1024) as v"}),
        );
    }
    let mut peak_rss = 0;
    let answers = s.collect(&ids, t, Duration::from_secs(60), || {
        peak_rss = peak_rss.max(status_kb(pid, "VmRSS"));
    });
    let hwm = status_kb(pid, "VmHWM");
    let slowest = answers.values().map(|(_, d)| *d).max().unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let after = status_kb(pid, "VmRSS");
    eprintln!(
        "4 x 200 MB: slowest answer {slowest:?}, peak RSS (VmHWM) {} MB, sampled peak {} MB, RSS 3 s later {} MB",
        hwm / 1024,
        peak_rss / 1024,
        after / 1024
    );
    for (r, took) in answers.values() {
        assert!(*took < Duration::from_secs(30), "an answer took {took:?}");
        let body = &r["structuredContent"];
        assert_eq!(body["truncated"], true, "{body:.300}");
        assert_eq!(body["cutValues"]["v"], 200 * 1024 * 1024, "{body:.300}");
        let v = body["rows"][0]["v"].as_str().unwrap();
        assert!(v.len() <= 4 * 1024 * 1024 && v.starts_with("xxx"));
    }
    assert!(hwm < 1536 * 1024, "peak RSS {} MB", hwm / 1024);
    assert!(after < 300 * 1024, "RSS 3 s later {} MB", after / 1024);
    // The server still serves.
    let r = s.call("pg_read_query", json!({"sql": "select 1 as one"}));
    assert_eq!(r["structuredContent"]["rows"][0]["one"], 1, "{r}");
}

/// Annotations tell the truth (ISSUE 8, item 5): every tool's hints, in both access modes.
#[test]
fn every_tool_annotation_is_as_documented() {
    // (tool, readOnly, destructive, idempotent)
    const R: (bool, bool, bool) = (true, false, true);
    const W: (bool, bool, bool) = (false, false, false);
    const D: (bool, bool, bool) = (false, true, false);
    const C: (bool, bool, bool) = (true, false, false);
    // Changes pgmcp's own state, not the database; loses nothing (old values returned).
    const S: (bool, bool, bool) = (false, false, true);
    let table: &[(&str, (bool, bool, bool))] = &[
        ("pg_read_query", R),
        ("pg_write_query", D),
        ("pg_list_tables", R),
        ("pg_describe_table", R),
        ("pg_get_columns", R),
        ("pg_create_table", W),
        ("pg_drop_table", D),
        ("pg_get_indexes", R),
        ("pg_create_index", W),
        ("pg_drop_index", D),
        ("pg_list_objects", R),
        ("pg_object_details", R),
        ("pg_list_extensions", R),
        ("pg_count", R),
        ("pg_exists", R),
        ("pg_stats_correlation", R),
        ("pg_stats_descriptive", R),
        ("pg_stats_distinct", R),
        ("pg_stats_distribution", R),
        ("pg_stats_frequency", R),
        ("pg_stats_hypothesis", R),
        ("pg_stats_lag_lead", R),
        ("pg_stats_moving_avg", R),
        ("pg_stats_ntile", R),
        ("pg_stats_outliers", R),
        ("pg_stats_percentiles", R),
        ("pg_stats_rank", R),
        ("pg_stats_regression", R),
        ("pg_stats_row_number", R),
        ("pg_stats_running_total", R),
        ("pg_stats_sampling", R),
        ("pg_stats_summary", R),
        ("pg_stats_time_series", R),
        ("pg_stats_top_n", R),
        // Overwrites the existing row on conflict.
        ("pg_upsert", D),
        // ON CONFLICT DO NOTHING at most: never overwrites.
        ("pg_batch_insert", W),
        ("pg_truncate", D),
        ("pg_list_schemas", R),
        ("pg_create_schema", W),
        ("pg_drop_schema", D),
        ("pg_list_views", R),
        // orReplace redefines an existing view.
        ("pg_create_view", D),
        ("pg_drop_view", D),
        ("pg_list_sequences", R),
        ("pg_create_sequence", W),
        ("pg_drop_sequence", D),
        ("pg_list_functions", R),
        ("pg_list_triggers", R),
        ("pg_list_constraints", R),
        ("pg_transaction_begin", R),
        // Makes whatever the transaction did, deletes included, permanent.
        ("pg_transaction_commit", D),
        ("pg_transaction_rollback", C),
        ("pg_transaction_savepoint", C),
        ("pg_transaction_release", C),
        ("pg_transaction_rollback_to", C),
        ("pg_transaction_status", R),
        ("pg_transaction_execute", D),
        ("pg_explain", R),
        ("pg_table_stats", R),
        ("pg_index_stats", R),
        ("pg_unused_indexes", R),
        ("pg_duplicate_indexes", R),
        ("pg_bloat_check", R),
        ("pg_detect_bloat_risk", R),
        ("pg_vacuum_stats", R),
        ("pg_cache_hit_ratio", R),
        ("pg_seq_scan_tables", R),
        ("pg_analyze_db_health", R),
        ("pg_stat_statements", R),
        ("pg_stat_activity", R),
        ("pg_locks", R),
        // Executes the statement (a write is rolled back, but runs: locks, sequences);
        // in restricted mode only reads run, so it is read-only there.
        ("pg_explain_analyze", W),
        ("pg_explain_buffers", W),
        ("pg_query_plan_stats", R),
        ("pg_query_plan_compare", R),
        ("pg_analyze_query_indexes", R),
        ("pg_analyze_workload_indexes", R),
        ("pg_index_recommendations", R),
        ("pg_detect_query_anomalies", R),
        ("pg_detect_connection_spike", R),
        ("pg_connection_pool_optimize", R),
        ("pg_diagnose_database_performance", R),
        ("pg_performance_baseline", R),
        ("pg_partition_strategy_suggest", R),
        // Sets the health checks' alert thresholds in pgmcp's memory.
        ("pg_alert_threshold_set", S),
        // Maintenance changes the database (and locks), but loses nothing.
        ("pg_vacuum", W),
        ("pg_vacuum_analyze", W),
        ("pg_analyze", W),
        ("pg_reindex", W),
        ("pg_cluster", W),
        // A cancel aborts the statement, not the session.
        ("pg_cancel_backend", W),
        // Rolls back the session's open transaction and closes it.
        ("pg_terminate_backend", D),
        ("pg_reload_conf", W),
        // Overwrites the setting's previous value.
        ("pg_set_config", D),
        // The counters are lost.
        ("pg_reset_stats", D),
        ("pg_append_insight", W),
        ("pg_database_size", R),
        ("pg_table_sizes", R),
        ("pg_connection_stats", R),
        ("pg_replication_status", R),
        ("pg_recovery_status", R),
        ("pg_server_version", R),
        ("pg_uptime", R),
        ("pg_show_settings", R),
        ("pg_system_health", R),
        // Records a size sample in pgmcp.capacity_samples.
        ("pg_capacity_planning", W),
        ("pg_jsonb_extract", R),
        // Overwrites the value at the path.
        ("pg_jsonb_set", D),
        // Adds an element or a new key; an existing key is an error, never overwritten.
        ("pg_jsonb_insert", W),
        ("pg_jsonb_delete", D),
        ("pg_jsonb_contains", R),
        ("pg_jsonb_path_query", R),
        ("pg_jsonb_agg", R),
        ("pg_jsonb_object", R),
        ("pg_jsonb_array", R),
        ("pg_jsonb_keys", R),
        // Table mode removes null fields (absent and null are no longer told apart).
        ("pg_jsonb_strip_nulls", D),
        ("pg_jsonb_typeof", R),
        ("pg_jsonb_validate_path", R),
        ("pg_jsonb_merge", R),
        ("pg_jsonb_normalize", R),
        ("pg_jsonb_diff", R),
        ("pg_jsonb_index_suggest", R),
        ("pg_jsonb_security_scan", R),
        ("pg_jsonb_stats", R),
        ("pg_jsonb_pretty", R),
        // Runs any tool: destructive, unless the server is restricted (then read-only).
        ("pg_execute_code", D),
        ("pg_doc_list_collections", R),
        ("pg_doc_create_collection", W),
        // Drops the table and its documents.
        ("pg_doc_drop_collection", D),
        ("pg_doc_collection_info", R),
        ("pg_doc_find", R),
        // Inserts only; a duplicate _id fails the call.
        ("pg_doc_add", W),
        // Overwrites and removes document content.
        ("pg_doc_modify", D),
        ("pg_doc_remove", D),
        ("pg_doc_create_index", W),
        ("pg_text_search", R),
        ("pg_text_rank", R),
        ("pg_text_headline", R),
        ("pg_text_search_config", R),
        ("pg_text_to_vector", R),
        ("pg_text_to_query", R),
        // Builds an index (IF NOT EXISTS by default): adds, never removes.
        ("pg_create_fts_index", W),
        ("pg_trigram_similarity", R),
        ("pg_like_search", R),
        ("pg_regexp_match", R),
        ("pg_fuzzy_match", R),
        ("pg_text_normalize", R),
        ("pg_text_sentiment", R),
    ];
    for restricted in [false, true] {
        // Every tool, not just the default listing.
        let mut args = vec![
            "--postgres",
            "postgres://x@127.0.0.1:1/x",
            "--tool-filter",
            "all",
        ];
        if restricted {
            args.extend(["--access-mode", "restricted"]);
        }
        let mut s = Server::start(&args);
        s.initialize();
        let tools = list_all_tools(&mut s);
        let listed: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
        for name in &listed {
            assert!(
                table.iter().any(|(n, _)| n == name),
                "{name} has no row in this table: add one"
            );
        }
        for (name, (read_only, destructive, idempotent)) in table {
            let Some(t) = tools.iter().find(|t| t["name"] == *name) else {
                assert!(restricted && !read_only, "{name} is not listed");
                continue;
            };
            let a = &t["annotations"];
            let enforces_read_only = [
                "pg_execute_code",
                "pg_explain_analyze",
                "pg_explain_buffers",
            ];
            let (read_only, destructive) = if restricted && enforces_read_only.contains(name) {
                (true, false)
            } else {
                (*read_only, *destructive)
            };
            assert_eq!(
                a["readOnlyHint"], read_only,
                "{name} readOnlyHint (restricted: {restricted})"
            );
            assert_eq!(
                a["destructiveHint"], destructive,
                "{name} destructiveHint (restricted: {restricted})"
            );
            assert_eq!(a["idempotentHint"], *idempotent, "{name} idempotentHint");
            assert_eq!(a["openWorldHint"], false, "{name} openWorldHint");
        }
    }
}

/// ISSUE 9 item 5: results are sized for a model's context. A plain `select *` of a 20k-row
/// table, through the binary with default flags, answers at most 64 KiB of text (the text
/// content the client reads, which mirrors structuredContent), says it was cut, the limit
/// used and how to page; the next page is reachable with the OFFSET the hint names. Code
/// Mode's own answer (result and logs together) keeps the same default budget.
#[tokio::test]
async fn a_20k_row_select_fits_a_models_context_by_default() {
    const BUDGET: usize = 64 * 1024;
    let db = support::test_db().await;
    let side = support::connect(&db.url).await;
    // About 160 bytes of JSON a row, like the red team's table.
    side.batch_execute(
        "create table big as select g as id, 'customer ' || g as name, md5(g::text) as token, \
         timestamptz '2024-01-01' + g * interval '1 minute' as created_at, g % 97 as bucket, \
         (g % 2 = 0) as active from generate_series(1, 20000) g;
         grant select on big to public",
    )
    .await
    .unwrap();
    let mut s = Server::start(&["--postgres", &db.url]);
    s.initialize();

    let r = s.call(
        "pg_read_query",
        json!({"sql": "select * from big order by id"}),
    );
    assert_eq!(r["isError"], false, "{r:.300}");
    let text = r["content"][0]["text"].as_str().unwrap();
    let body = &r["structuredContent"];
    eprintln!(
        "20k-row select: {} bytes of text, {} rows",
        text.len(),
        body["rowCount"]
    );
    assert!(text.len() <= BUDGET, "{} bytes of text", text.len());
    assert_eq!(serde_json::from_str::<Value>(text).unwrap(), *body);
    assert_eq!(body["truncated"], true, "{body:.300}");
    assert_eq!(body["maxBytes"], BUDGET, "{body:.300}");
    let n = body["rowCount"].as_u64().unwrap();
    // The budget is used, not wasted: the next row would not have fitted.
    assert!(
        n > 300 && text.len() > BUDGET - 400,
        "{n} rows, {} bytes",
        text.len()
    );
    let hint = body["hint"].as_str().unwrap();
    assert!(
        hint.contains(&format!("LIMIT {n} OFFSET {n}")) && hint.contains("--max-result-bytes"),
        "{hint}"
    );
    let next = s.call(
        "pg_read_query",
        json!({"sql": format!("select * from big order by id limit {n} offset {n}")}),
    );
    assert_eq!(
        next["structuredContent"]["rows"][0]["id"],
        n + 1,
        "{next:.300}"
    );

    // The operator's knob: a larger budget returns more.
    let mut wide = Server::start(&["--postgres", &db.url, "--max-result-bytes", "200000"]);
    wide.initialize();
    let w = wide.call("pg_read_query", json!({"sql": "select * from big"}));
    let wtext = w["content"][0]["text"].as_str().unwrap();
    assert!(
        wtext.len() > BUDGET && wtext.len() <= 200_000,
        "{}",
        wtext.len()
    );
    assert!(wide.finish().success());

    // Code Mode: returning every row, with chatty logs, still answers within the budget.
    let c = s.call(
        "pg_execute_code",
        json!({"code": "const r = await pg.query('select * from big'); \
                        for (let i = 0; i < 2000; i++) console.log('row', i, JSON.stringify(r.rows[i % r.rows.length])); \
                        return r.rows"}),
    );
    assert_eq!(c["isError"], false, "{c:.300}");
    let ctext = c["content"][0]["text"].as_str().unwrap();
    eprintln!(
        "Code Mode, every row and 2000 log lines: {} bytes of text",
        ctext.len()
    );
    assert!(ctext.len() <= BUDGET, "{} bytes of text", ctext.len());
    let cbody = &c["structuredContent"];
    assert!(
        cbody["resultTruncated"]["maxBytes"].is_u64(),
        "{cbody:.300}"
    );
    assert!(cbody["logs"].as_array().unwrap().len() > 10, "{cbody:.300}");
    assert!(s.finish().success());
}

/// ISSUE 9 item 6: every schema `tools/list` shows (every tool: `--tool-filter all`) compiles
/// under strict AJV (JSON Schema 2020-12, `strict: true`, the standard formats), as strict
/// MCP clients check them. The unit test `tools::portability_tests` checks the same schemas
/// structurally (bare booleans, formats, one nullability style) without Node.
#[test]
fn every_listed_schema_passes_strict_ajv() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/support/ajv");
    if !std::path::Path::new(dir).join("node_modules/ajv").exists() {
        // .ci/run installs it; a developer machine without Node still runs the unit test.
        assert!(
            std::env::var_os("CI").is_none(),
            "strict AJV is not installed: run `npm ci --prefix tests/it/support/ajv`"
        );
        eprintln!("skipped: `npm ci --prefix tests/it/support/ajv` installs strict AJV");
        return;
    }
    // No database needed to list; `all` lists every tool, not just the default selection.
    let mut s = Server::start(&[
        "--postgres",
        "postgres://x@127.0.0.1:1/x",
        "--tool-filter",
        "all",
        "--output-schemas",
    ]);
    s.initialize();
    let tools = list_all_tools(&mut s);
    assert!(tools.len() > 40, "{}", tools.len());
    assert!(tools.iter().any(|t| t.get("outputSchema").is_some()));
    assert!(s.finish().success());
    let mut node = Command::new("node")
        .arg("check.js")
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node");
    node.stdin
        .take()
        .unwrap()
        .write_all(Value::Array(tools).to_string().as_bytes())
        .unwrap();
    let out = node.wait_with_output().unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    eprintln!("{report}");
    assert!(
        out.status.success(),
        "strict AJV rejected schemas:\n{report}"
    );
}

/// ISSUE 9 item 3: `outputSchema` is listed only with `--output-schemas` (it costs tokens on
/// every listing), and then `structuredContent` conforms to it, checked here by a JSON Schema
/// validator on what the binary sent over stdio.
#[tokio::test]
async fn output_schemas_are_listed_on_request_and_results_conform() {
    let db = support::test_db().await;
    let mut plain = Server::start(&["--postgres", &db.url, "--tool-filter", "all"]);
    plain.initialize();
    let listed = list_all_tools(&mut plain);
    assert!(
        listed.iter().all(|t| t.get("outputSchema").is_none()),
        "no outputSchema without --output-schemas"
    );
    drop(plain);

    let mut s = Server::start(&[
        "--postgres",
        &db.url,
        "--tool-filter",
        "all",
        "--output-schemas",
    ]);
    s.initialize();
    let tools = list_all_tools(&mut s);
    let schema_of = |name: &str| {
        tools
            .iter()
            .find(|t| t["name"] == name)
            .and_then(|t| t.get("outputSchema"))
            .cloned()
            .unwrap_or_else(|| panic!("{name} lists no outputSchema"))
    };
    for (name, args) in [
        ("pg_list_schemas", json!({})),
        ("pg_execute_code", json!({"code": "return {n: 1}"})),
    ] {
        let schema = schema_of(name);
        let validator = jsonschema::draft202012::new(&schema).expect("schema compiles");
        let r = s.call(name, args);
        assert_ne!(r["isError"], true, "{name}: {r}");
        let content = &r["structuredContent"];
        let errors: Vec<String> = validator
            .iter_errors(content)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{name}: {errors:?} in {content}");
    }
    assert!(s.finish().success());
}

impl Server {
    /// A tools/call with `_meta`, returning its result and every notification that arrived
    /// before it, in order.
    fn call_with_meta(&mut self, name: &str, args: Value, meta: Value) -> (Value, Vec<Value>) {
        let id = self.next_id;
        self.next_id += 1;
        self.send_raw(
            &json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                    "params": {"name": name, "arguments": args, "_meta": meta}})
            .to_string(),
        );
        let mut notes = Vec::new();
        loop {
            let msg = self.recv();
            if msg.get("id") == Some(&json!(id)) {
                return (msg["result"].clone(), notes);
            }
            assert!(msg.get("method").is_some(), "unexpected frame {msg}");
            notes.push(msg);
        }
    }
}

/// A VACUUM slowed down by the cost-based delay (about 2 ms per page) reports its start,
/// its phases with the blocks done, and its end, as `notifications/progress` with the
/// request's token, strictly increasing, all before the result; a call without a token gets
/// none.
#[tokio::test]
async fn long_maintenance_reports_progress_to_a_client_that_asks() {
    let db = support::test_db().await;
    let admin = support::connect(&db.url).await;
    admin
        .batch_execute(
            "CREATE TABLE \"big tab\" (id int, pad text);
             INSERT INTO \"big tab\" SELECT g, repeat('x', 200) FROM generate_series(1, 20000) g;
             DELETE FROM \"big tab\" WHERE id % 2 = 0;",
        )
        .await
        .unwrap();
    let dbname = db
        .url
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_string();
    admin
        .batch_execute(&format!(
            "ALTER DATABASE \"{dbname}\" SET vacuum_cost_delay = '2ms'; \
             ALTER DATABASE \"{dbname}\" SET vacuum_cost_limit = 1"
        ))
        .await
        .unwrap();
    let mut s = Server::start(&["--postgres", &db.url, "--tool-filter", "all"]);
    s.initialize();

    let (result, notes) = s.call_with_meta(
        "pg_vacuum",
        json!({"table": "big tab"}),
        json!({"progressToken": "vac-1"}),
    );
    assert_eq!(result["isError"], false, "{result}");
    let progress: Vec<&Value> = notes
        .iter()
        .filter(|n| n["method"] == "notifications/progress")
        .map(|n| &n["params"])
        .collect();
    assert!(
        progress.iter().all(|p| p["progressToken"] == "vac-1"),
        "{progress:?}"
    );
    let values: Vec<f64> = progress
        .iter()
        .map(|p| p["progress"].as_f64().unwrap())
        .collect();
    assert!(
        values.windows(2).all(|w| w[0] < w[1]),
        "not increasing: {values:?}"
    );
    let first = progress.first().expect("a start report");
    let last = progress.last().unwrap();
    assert_eq!(
        (first["progress"].as_f64(), first["message"].as_str()),
        (Some(0.0), Some("VACUUM \"public\".\"big tab\": started"))
    );
    assert_eq!(
        (last["progress"].as_f64(), last["total"].as_f64()),
        (Some(100.0), Some(100.0))
    );
    assert!(
        progress.iter().any(|p| p["message"]
            .as_str()
            .is_some_and(|m| m.contains("scanning heap (") && m.contains(" blocks)"))),
        "no report from the heap scan: {progress:?}"
    );

    let (result, notes) = s.call_with_meta("pg_vacuum", json!({"table": "big tab"}), json!({}));
    assert_eq!(result["isError"], false, "{result}");
    assert!(
        notes
            .iter()
            .all(|n| n["method"] != "notifications/progress"),
        "progress without a token: {notes:?}"
    );
}

//! End-to-end: the built `pgmcp` binary driven over stdio with raw JSON-RPC lines, exactly
//! as an MCP client does.

mod support;

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
    let drop = tools.iter().find(|t| t["name"] == "pg_drop_table").unwrap();
    assert_eq!(drop["annotations"]["destructiveHint"], true);

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
    let mut s = Server::start(&["--postgres", &db.url, "--tools-page-size", "5"]);
    s.initialize();
    let first = s.request("tools/list", json!({}));
    assert_eq!(first["result"]["tools"].as_array().unwrap().len(), 5);
    assert!(first["result"]["nextCursor"].is_string());
    let all = list_all_tools(&mut s);
    let registry = pgmcp::tools::Registry::builtin();
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

    // The API declarations are an MCP resource, and the same text pg.help() returns.
    let list = s.request("resources/list", json!({}));
    assert_eq!(
        list["result"]["resources"][0]["uri"], "pgmcp://code-mode/api.d.ts",
        "{list}"
    );
    let read = s.request(
        "resources/read",
        json!({"uri": "pgmcp://code-mode/api.d.ts"}),
    );
    let dts = read["result"]["contents"][0]["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        dts.contains("declare const pg") && dts.contains("readQuery("),
        "{dts}"
    );
    let help = s.call("pg_execute_code", json!({"code": "pg.help()"}));
    assert_eq!(help["structuredContent"]["result"].as_str().unwrap(), dts);
    let missing = s.request("resources/read", json!({"uri": "pgmcp://nope"}));
    assert!(missing["error"]["code"].is_i64(), "{missing}");
    assert!(s.finish().success());
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
        .write_all(b"const { tables } = await pg.listTables(); const o = await pg.count('orders'); const who = await pg.query('select current_user as u'); ({ tables: tables.map(t => t.name), orders: o.count, reader: who.rows[0].u })")
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
                "select count(*) from pg_stat_activity where query like '%pg_sleep(3%' and state = 'active' and pid <> pg_backend_pid()",
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

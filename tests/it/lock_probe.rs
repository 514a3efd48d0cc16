use serde_json::json;
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_locked() {
    let db = test_db().await;
    let admin = connect(&db.url).await;
    admin.batch_execute("CREATE EXTENSION pgstattuple; CREATE TABLE t (id int primary key, body text, doc jsonb); \
        INSERT INTO t SELECT g, repeat('x', 3000), '{}' FROM generate_series(1, 200) g; CREATE VIEW v AS SELECT * FROM t; \
        CREATE SEQUENCE s; CREATE INDEX t_body ON t (body); ANALYZE t;").await.unwrap();
    let app = app(&db.url, &["--statement-timeout", "2"]);
    let locker = connect(&db.url).await;
    locker.batch_execute("BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE").await.unwrap();
    let reg = pgmcp::app::registry();
    for tool in reg.all() {
        if !tool.hints.read_only || tool.name == "pg_execute_code" { continue; }
        let only = std::env::var("PROBE").unwrap_or_default(); if !only.is_empty() && !only.split(',').any(|n| n == tool.name) { continue; }
        for args in [json!({}), json!({"table": "t"}), json!({"table": "t", "column": "body"}), json!({"table":"t","column":"doc"}),  json!({"mode":"exact"}), json!({"name":"t"}), json!({"collection":"t"}), json!({"schema":"public"})] {
            let start = std::time::Instant::now();
            let r = app.call(tool.name, args.clone()).await;
            let el = start.elapsed().as_millis();
            match r {
                Ok(v) => { println!("OK {} {} {el} {}", tool.name, args, &v.to_string()[..v.to_string().len().min(300)]); }
                Err(e) => { let j = e.to_json(); if el > 1500 || j["code"] == "QUERY_CANCELED" || j["code"]=="STATEMENT_TIMEOUT" { println!("HANG {} {} {el} {}", tool.name, args, j["code"]); } else { println!("ERR {} {} {el} {}", tool.name, args, j["error"]); } }
            }
        }
    }
}

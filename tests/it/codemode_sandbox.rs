//! Code Mode sandbox engine: values, the pg.* bridge, realm hardening, limits.
//! No database: a fake bridge answers from a closure.

use std::collections::VecDeque;
use std::time::Instant;

use pgmcp::codemode::sandbox::{
    Alias, Bridge, Manifest, ManifestEntry, Outcome, SandboxLimits, codes, run,
};
use serde_json::{Value, json};

type Answer = Box<dyn FnMut(&str, &Value) -> Result<Value, Value> + Send>;

/// Answers every call with `answer(tool, args)`; completions come back in submission order
/// (or reversed, to exercise out-of-order settlement).
struct FakeBridge {
    queue: VecDeque<(u64, String, Value)>,
    answer: Answer,
    reverse: bool,
    in_flight: usize,
    max_in_flight_seen: usize,
    submitted: Vec<(String, Value)>,
    closed: bool,
}

impl FakeBridge {
    fn new(answer: impl FnMut(&str, &Value) -> Result<Value, Value> + Send + 'static) -> Self {
        Self {
            queue: VecDeque::new(),
            answer: Box::new(answer),
            reverse: false,
            in_flight: 0,
            max_in_flight_seen: 0,
            submitted: Vec::new(),
            closed: false,
        }
    }

    fn standard() -> Self {
        Self::new(standard_answer)
    }
}

fn standard_answer(tool: &str, args: &Value) -> Result<Value, Value> {
    let sql = args.get("sql").and_then(Value::as_str).unwrap_or("");
    if sql.contains("fail") {
        return Err(json!({
            "success": false,
            "error": "relation \"nope\" does not exist",
            "code": "QUERY_ERROR",
            "category": "sql",
            "recoverable": true,
            "suggestion": "check the table name",
            "sqlstate": "42P01"
        }));
    }
    Ok(json!({ "tool": tool, "args": args, "rows": [{ "n": 1 }], "rowCount": 1 }))
}

impl Bridge for FakeBridge {
    fn submit(&mut self, call_id: u64, tool: &str, args: Value) -> Result<(), String> {
        self.submitted.push((tool.to_string(), args.clone()));
        self.queue.push_back((call_id, tool.to_string(), args));
        self.in_flight += 1;
        self.max_in_flight_seen = self.max_in_flight_seen.max(self.in_flight);
        Ok(())
    }

    fn wait(&mut self) -> Option<(u64, Result<Value, Value>)> {
        if self.closed {
            return None;
        }
        let (id, tool, args) = if self.reverse {
            self.queue.pop_back()?
        } else {
            self.queue.pop_front()?
        };
        self.in_flight -= 1;
        Some((id, (self.answer)(&tool, &args)))
    }
}

fn manifest() -> Manifest {
    let entry = |tool: &str, group: &str, method: &str, primary: Option<&str>| ManifestEntry {
        tool: tool.into(),
        group: group.into(),
        method: method.into(),
        primary: primary.map(Into::into),
    };
    Manifest {
        entries: vec![
            entry("pg_read_query", "core", "readQuery", Some("sql")),
            entry("pg_list_tables", "core", "listTables", None),
            entry(
                "pg_describe_table",
                "schema",
                "describeTable",
                Some("table"),
            ),
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

/// Fast limits for limit tests.
fn tight() -> SandboxLimits {
    SandboxLimits {
        loop_iterations: 100_000,
        recursion: 200,
        instruction_budget: Some(5_000_000),
        ..SandboxLimits::default()
    }
}

/// Runs on a thread with a 256 MB stack (the worker gives the engine a big stack too).
fn big_stack<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("sandbox thread panicked")
}

fn exec_with(js: &str, limits: SandboxLimits, bridge: FakeBridge) -> (Outcome, FakeBridge) {
    let js = js.to_string();
    big_stack(move || {
        let mut bridge = bridge;
        let o = run(&js, &manifest(), &limits, &mut bridge);
        (o, bridge)
    })
}

/// Wraps a body like the transpiler does.
fn body(src: &str) -> String {
    format!("(async () => {{\n{src}\n}})()")
}

fn exec(src: &str) -> Outcome {
    exec_with(&body(src), SandboxLimits::default(), FakeBridge::standard()).0
}

fn exec_limits(src: &str, limits: SandboxLimits) -> Outcome {
    exec_with(&body(src), limits, FakeBridge::standard()).0
}

fn ok(o: &Outcome) -> &Value {
    assert!(o.error.is_none(), "unexpected error: {:?}", o.error);
    o.result.as_ref().expect("result")
}

fn err_code(o: &Outcome) -> &str {
    o.error
        .as_ref()
        .unwrap_or_else(|| panic!("expected an error, got {:?}", o.result))
        .code
        .as_str()
}

// ---------------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------------

#[test]
fn values_of_every_js_type() {
    let o = exec(
        r#"
        const o = {
          u: undefined, n: null, t: true, f: false, i: 42, x: 1.5, negz: -0,
          nan: NaN, inf: Infinity, ninf: -Infinity, big: 12345678901234567890n,
          s: "héllo \u{1F600}", sym: Symbol("tag"),
          fn: function foo() {}, arrow: () => 1,
          d: new Date(0), bad: new Date(NaN),
          m: new Map([["a", 1], ["b", { c: 2 }]]), m2: new Map([[1, "one"]]),
          set: new Set([1, "two"]), ta: new Uint8Array([1, 2, 3]), f64: new Float64Array([0.5]),
          b64: new BigInt64Array([7n]), ab: new ArrayBuffer(8), dv: new DataView(new ArrayBuffer(4)),
          re: /a+b/gi, err: new TypeError("boom"), p: Promise.resolve(1),
          wm: new WeakMap(), ws: new WeakSet(), holes: [1, , 3], arrU: [undefined],
          getterThrows: { get x() { throw new RangeError("nope"); }, y: 1 },
          getterOk: { get x() { return 7; } },
          proxy: new Proxy({ a: 1 }, {}),
          nonEnum: Object.defineProperty({ a: 1 }, "hidden", { value: 2, enumerable: false }),
          symKey: { [Symbol("k")]: 1, v: 2 },
          cls: new (class Point { constructor() { this.x = 1; } })(),
          boxed: new String("ab"),
        };
        return o;
        "#,
    );
    let v = ok(&o);
    let expect = json!({
        "n": null, "t": true, "f": false, "i": 42, "x": 1.5, "negz": 0,
        "nan": "NaN", "inf": "Infinity", "ninf": "-Infinity", "big": "12345678901234567890",
        "s": "héllo 😀", "sym": "Symbol(tag)",
        "fn": "[Function foo]", "arrow": "[Function arrow]",
        "d": "1970-01-01T00:00:00.000Z", "bad": "Invalid Date",
        "m": { "a": 1, "b": { "c": 2 } }, "m2": [[1, "one"]],
        "set": [1, "two"], "ta": [1, 2, 3], "f64": [0.5], "b64": ["7"],
        "ab": "[ArrayBuffer 8 bytes]", "dv": "[DataView 4 bytes]",
        "re": "/a+b/gi", "err": { "name": "TypeError", "message": "boom" },
        "p": "[Promise]", "wm": "[WeakMap]", "ws": "[WeakSet]",
        "holes": [1, null, 3], "arrU": [null],
        "getterThrows": { "x": "[Thrown: RangeError: nope]", "y": 1 },
        "getterOk": { "x": 7 },
        "proxy": { "a": 1 },
        "nonEnum": { "a": 1 },
        "symKey": { "v": 2 },
        "cls": { "x": 1 },
        "boxed": { "0": "a", "1": "b" },
    });
    assert_eq!(v, &expect);
}

#[test]
fn top_level_scalars_and_undefined() {
    assert_eq!(ok(&exec("return 5")), &json!(5));
    assert_eq!(ok(&exec("return 'x'")), &json!("x"));
    assert_eq!(ok(&exec("return undefined")), &json!(null));
    assert_eq!(ok(&exec("")), &json!(null));
    // A program that is not a promise at all.
    let (o, _) = exec_with("1 + 2", SandboxLimits::default(), FakeBridge::standard());
    assert_eq!(ok(&o), &json!(3));
}

#[test]
fn hostile_values_become_markers() {
    let o = exec(
        r#"
        const r = Proxy.revocable({}, {}); r.revoke();
        const trap = new Proxy({}, { ownKeys() { throw new SyntaxError("trap"); } });
        const arr = new Proxy([1, 2], { get(t, k) { if (k === "1") throw new Error("idx"); return t[k]; } });
        return { revoked: r.proxy, trap, arr, sym: Symbol(), big: -(2n ** 70n) };
        "#,
    );
    let v = ok(&o);
    assert!(
        v["revoked"]
            .as_str()
            .unwrap()
            .starts_with("[Thrown: TypeError"),
        "{v}"
    );
    assert_eq!(v["trap"], json!("[Thrown: SyntaxError: trap]"));
    assert_eq!(v["arr"], json!([1, "[Thrown: Error: idx]"]));
    assert_eq!(v["sym"], json!("Symbol()"));
    assert_eq!(v["big"], json!("-1180591620717411303424"));
}

#[test]
fn outcome_serializes_in_camel_case() {
    let o = exec("console.log('hi'); return 1");
    let s = serde_json::to_value(&o).unwrap();
    assert_eq!(s["toolCalls"], json!(0));
    assert_eq!(s["logs"][0], json!({ "level": "log", "message": "hi" }));
    let o = exec_limits("while (true) {}", tight());
    let s = serde_json::to_value(&o).unwrap();
    assert_eq!(s["error"]["code"], json!("LOOP_LIMIT"));
    assert!(s["error"].get("jsLine").is_none());
    let back: Outcome = serde_json::from_value(s).unwrap();
    assert_eq!(back, o);
}

#[test]
fn cycles_and_depth_are_marked() {
    let o = exec(
        r#"
        const a = { name: "a" }; a.self = a; a.list = [a, { up: a }];
        const shared = { s: 1 };
        let deep = {}; let cur = deep;
        for (let i = 0; i < 200; i++) { cur.next = {}; cur = cur.next; }
        return { a, twice: [shared, shared], deep };
        "#,
    );
    let v = ok(&o);
    assert_eq!(v["a"]["self"], json!("[Circular]"));
    assert_eq!(v["a"]["list"][0], json!("[Circular]"));
    assert_eq!(v["a"]["list"][1]["up"], json!("[Circular]"));
    assert_eq!(v["twice"], json!([{ "s": 1 }, { "s": 1 }]));
    let s = serde_json::to_string(&v["deep"]).unwrap();
    assert!(s.contains("[MaxDepth]"), "{s}");
}

#[test]
fn deep_nesting_built_in_a_loop_does_not_crash() {
    let o = exec("let x = []; for (let i = 0; i < 100000; i++) x = [x]; console.log(x); return x;");
    let s = serde_json::to_string(ok(&o)).unwrap();
    assert!(s.contains("[MaxDepth]"));
    assert!(o.logs[0].message.contains("[MaxDepth]"));
}

// ---------------------------------------------------------------------------------------------
// pg.* bridge
// ---------------------------------------------------------------------------------------------

#[test]
fn await_pg_calls_and_argument_shapes() {
    let (o, bridge) = exec_with(
        &body(
            r#"
            const a = await pg.query("select 1", [1, "x"]);
            const b = await pg.core.readQuery("select 2");
            const c = await pg.core.readQuery({ sql: "select 3", params: [] });
            const d = await pg.core.listTables();
            const e = await pg.listTables();
            const f = await pg.schema.describeTable("users");
            const g = await pg.query({ sql: "select 4" });
            return [a.args, b.args, c.args, d.args, e.args, f.args, g.args, a.rows[0].n, a.rowCount];
            "#,
        ),
        SandboxLimits::default(),
        FakeBridge::standard(),
    );
    assert_eq!(
        ok(&o),
        &json!([
            { "sql": "select 1", "params": [1, "x"] },
            { "sql": "select 2" },
            { "sql": "select 3", "params": [] },
            {}, {},
            { "table": "users" },
            { "sql": "select 4" },
            1, 1
        ])
    );
    assert_eq!(o.tool_calls, 7);
    assert_eq!(bridge.submitted[0].0, "pg_read_query");
    assert_eq!(bridge.submitted[5].0, "pg_describe_table");
}

#[test]
fn results_are_native_values() {
    let o = exec(
        r#"
        const r = await pg.query("select 1");
        return [Array.isArray(r.rows), Object.getPrototypeOf(r) === Object.prototype,
                typeof r.rowCount, r.rows.map(x => x.n + 1)];
        "#,
    );
    assert_eq!(ok(&o), &json!([true, true, "number", [2]]));
}

#[test]
fn promise_all_over_100_calls_respects_in_flight_window() {
    let mut bridge = FakeBridge::standard();
    bridge.reverse = true;
    let (o, bridge) = exec_with(
        &body(
            r#"
            const ids = Array.from({ length: 100 }, (_, i) => i);
            const rs = await Promise.all(ids.map(i => pg.query("select " + i)));
            return rs.map(r => r.args.sql);
            "#,
        ),
        SandboxLimits::default(),
        bridge,
    );
    let v = ok(&o);
    let expect: Vec<String> = (0..100).map(|i| format!("select {i}")).collect();
    assert_eq!(v, &json!(expect));
    assert_eq!(o.tool_calls, 100);
    assert!(
        bridge.max_in_flight_seen <= 32,
        "{}",
        bridge.max_in_flight_seen
    );
    assert_eq!(bridge.max_in_flight_seen, 32);
}

#[test]
fn a_thousand_sequential_calls() {
    let t = Instant::now();
    let o = exec(
        r#"
        let sum = 0;
        for (let i = 0; i < 1000; i++) { const r = await pg.query("select 1"); sum += r.rows[0].n; }
        return sum;
        "#,
    );
    assert_eq!(ok(&o), &json!(1000));
    assert_eq!(o.tool_calls, 1000);
    eprintln!("1000 sequential calls: {:?}", t.elapsed());
}

#[test]
fn tool_error_is_a_catchable_error_with_fields() {
    let o = exec(
        r#"
        try {
          await pg.query("select fail");
          return "no";
        } catch (e) {
          return { isError: e instanceof Error, name: e.name, message: e.message, code: e.code,
                   category: e.category, recoverable: e.recoverable, sqlstate: e.sqlstate,
                   suggestion: e.suggestion, hasSuccess: "success" in e };
        }
        "#,
    );
    assert_eq!(
        ok(&o),
        &json!({
            "isError": true, "name": "PgError", "message": "relation \"nope\" does not exist",
            "code": "QUERY_ERROR", "category": "sql", "recoverable": true, "sqlstate": "42P01",
            "suggestion": "check the table name", "hasSuccess": false
        })
    );
}

#[test]
fn uncaught_tool_error_becomes_js_error_with_details() {
    let o = exec("await pg.query('select fail');");
    let e = o.error.expect("error");
    assert_eq!(e.code, codes::JS_ERROR.as_str());
    assert_eq!(e.name.as_deref(), Some("PgError"));
    assert!(e.message.contains("does not exist"));
    let d = e.details.expect("details");
    assert_eq!(d["code"], json!("QUERY_ERROR"));
    assert_eq!(d["sqlstate"], json!("42P01"));
}

#[test]
fn bad_arguments_reject_the_call_only() {
    let o = exec(
        r#"
        const out = [];
        try { await pg.query({ get sql() { throw new Error("getter"); } }); } catch (e) { out.push(e.message); }
        try { await pg.query({ n: 10n }); } catch (e) { out.push(e.name); }
        const cyc = {}; cyc.cyc = cyc;
        try { await pg.core.readQuery(cyc); } catch (e) { out.push(e.name); }
        try { await pg.core.listTables("x"); } catch (e) { out.push(e.name); }
        try { await pg.core.readQuery(5); } catch (e) { out.push(e.name); }
        try { await pg.query("select 1", ["x".repeat(9 * 1024 * 1024)]); } catch (e) { out.push(e.name); }
        out.push((await pg.query("select 1")).rowCount);
        return out;
        "#,
    );
    assert_eq!(
        ok(&o),
        &json!([
            "getter",
            "TypeError",
            "TypeError",
            "TypeError",
            "TypeError",
            "RangeError",
            1
        ])
    );
}

#[test]
fn pg_is_not_replaceable_and_help_lists_the_api() {
    let o = exec(
        r#"
        const h = pg.help();
        const core = pg.help("core");
        const unknown = pg.help("nope");
        const orig = pg.query;
        try { pg.query = () => 1; } catch (e) {}
        const replaced = pg.query !== orig;
        try { pg.core.readQuery = () => 1; } catch (e) {}
        return { h, core, unknown, replaced, same: typeof pg.core.readQuery, frozen: Object.isFrozen(pg) };
        "#,
    );
    let v = ok(&o);
    let h = v["h"].as_str().unwrap();
    assert!(h.contains("core: readQuery, listTables"), "{h}");
    assert!(h.contains("pg.query(sql, params)"), "{h}");
    let core = v["core"].as_str().unwrap();
    assert!(
        core.contains("pg.core.readQuery(args | sql)  [pg_read_query]"),
        "{core}"
    );
    assert!(v["unknown"].as_str().unwrap().starts_with("Unknown group"));
    assert_eq!(v["replaced"], json!(false));
    assert_eq!(v["frozen"], json!(true));

    let mut m = manifest();
    m.help_text = Some("declare namespace pg {}".into());
    let o = big_stack(move || {
        run(
            &body("return pg.help()"),
            &m,
            &SandboxLimits::default(),
            &mut FakeBridge::standard(),
        )
    });
    assert_eq!(ok(&o), &json!("declare namespace pg {}"));
}

#[test]
fn bridge_closed_ends_the_run() {
    let mut bridge = FakeBridge::standard();
    bridge.closed = true;
    let (o, _) = exec_with(
        &body("await pg.query('select 1')"),
        SandboxLimits::default(),
        bridge,
    );
    assert_eq!(err_code(&o), codes::BRIDGE_CLOSED.as_str());
}

// ---------------------------------------------------------------------------------------------
// Realm hardening
// ---------------------------------------------------------------------------------------------

#[test]
fn string_compilation_is_refused_through_every_path() {
    let o = exec(
        r#"
        const r = await pg.query("select 1");
        const attempts = {
          eval: () => eval("1 + 1"),
          indirectEval: () => (0, eval)("1 + 1"),
          globalEval: () => globalThis.eval("1"),
          Function: () => Function("return 1")(),
          newFunction: () => new Function("a", "return a")(1),
          asyncFunction: () => (async () => {}).constructor("return 1"),
          asyncFunctionDecl: () => Object.getPrototypeOf(async function () {}).constructor("return 1"),
          generatorFunction: () => (function* () {}).constructor("yield 1"),
          asyncGeneratorFunction: () => (async function* () {}).constructor("yield 1"),
          bound: () => Function.bind(null, "return 1")()(),
          boundPrototypeCtor: () => Function.prototype.constructor.bind(null)("return 1"),
          reflect: () => Reflect.construct(Function, ["return 1"]),
          apply: () => Function.apply(null, ["return 1"]),
          call: () => Function.prototype.call.call(Function, null, "return 1"),
          fromError: () => new Error("x").constructor.constructor("return 1"),
          fromCaughtError: () => { try { null.x; } catch (e) { return e.constructor.constructor("return 1"); } },
          fromPgFunction: () => pg.query.constructor("return 1"),
          fromPgGroup: () => pg.core.readQuery.constructor("return 1"),
          fromPgResult: () => r.constructor.constructor("return 1"),
          fromPgRows: () => r.rows.map.constructor("return 1"),
          fromConsole: () => console.log.constructor("return 1"),
          fromHelp: () => pg.help.constructor.constructor("return 1"),
          fromPromise: () => pg.query("select 1").then.constructor("return 1"),
          fromArrow: () => (() => 1).constructor("return 1"),
          fromClass: () => (class {}).constructor("return 1"),
          fromProtoChain: () => Object.getPrototypeOf(Object.getPrototypeOf(async function* () {})).constructor.constructor("return 1"),
        };
        const out = {};
        for (const [k, f] of Object.entries(attempts)) {
          try { f(); out[k] = "COMPILED"; } catch (e) { out[k] = e.name; }
        }
        return out;
        "#,
    );
    let v = ok(&o).as_object().unwrap().clone();
    assert_eq!(v.len(), 26);
    for (k, res) in &v {
        assert_eq!(res, &json!("EvalError"), "{k} was not refused: {res}");
    }
}

#[test]
fn dynamic_import_rejects() {
    let o = exec(
        r#"
        const out = [];
        for (const spec of ["fs", "./x.js", "/etc/passwd", "data:text/javascript,1"]) {
          try { await import(spec); out.push("LOADED"); } catch (e) { out.push(e.name); }
        }
        return out;
        "#,
    );
    assert_eq!(
        ok(&o),
        &json!(["TypeError", "TypeError", "TypeError", "TypeError"])
    );
}

#[test]
fn host_ish_globals_are_absent() {
    let o = exec(
        r#"
        const names = ["SharedArrayBuffer", "Atomics", "WeakRef", "FinalizationRegistry",
          "Temporal", "setTimeout", "setInterval", "setImmediate", "queueMicrotask", "fetch",
          "require", "process", "Deno", "Bun", "XMLHttpRequest", "WebSocket", "import",
          "__pgmcp_call", "natives", "call", "log", "print", "load", "read", "quit"];
        const present = names.filter(n => typeof globalThis[n] !== "undefined");
        const own = Object.getOwnPropertyNames(globalThis).filter(n => /native|pgmcp|host/i.test(n));
        return { present, own, pg: typeof pg, console: typeof console, tz: new Date(0).getTimezoneOffset() };
        "#,
    );
    assert_eq!(
        ok(&o),
        &json!({ "present": [], "own": [], "pg": "object", "console": "object", "tz": 0 })
    );
}

/// Every global must be a known ECMAScript built-in (or pg/console). A Boa upgrade that
/// adds a global fails here until someone decides whether it is safe.
#[test]
fn globals_are_exactly_the_allowlist() {
    const ALLOWED: &str = "AggregateError Array ArrayBuffer BigInt BigInt64Array BigUint64Array \
        Boolean DataView Date Error EvalError Float16Array Float32Array Float64Array Function \
        Infinity Int16Array Int32Array Int8Array Iterator JSON Map Math NaN Number Object Promise \
        Proxy RangeError ReferenceError Reflect RegExp Set String Symbol SyntaxError TypeError \
        TypedArray URIError Uint16Array Uint32Array Uint8Array Uint8ClampedArray WeakMap WeakSet \
        console decodeURI decodeURIComponent encodeURI encodeURIComponent eval globalThis \
        isFinite isNaN parseFloat parseInt pg undefined";
    let o = exec(
        "return Object.getOwnPropertyNames(globalThis).concat(Object.getOwnPropertySymbols(globalThis).map(String))",
    );
    let allowed: std::collections::HashSet<&str> = ALLOWED.split_whitespace().collect();
    let unexpected: Vec<String> = ok(&o)
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .filter(|n| !allowed.contains(n.as_str()) && n != "Symbol(Symbol.toStringTag)")
        .collect();
    assert!(unexpected.is_empty(), "unexpected globals: {unexpected:?}");
}

#[test]
fn no_state_persists_between_runs() {
    let first = exec(
        r#"
        globalThis.leak = 1;
        var declared = 2;
        Object.prototype.polluted = "yes";
        Array.prototype.map = () => "hijacked";
        JSON.stringify = () => "hijacked";
        return [({}).polluted, [1].map(x => x)];
        "#,
    );
    assert_eq!(ok(&first), &json!(["yes", "hijacked"]));
    let second = exec(
        r#"
        return [typeof leak, typeof declared, ({}).polluted === undefined, [1].map(x => x + 1),
                JSON.stringify({ a: 1 }), (await pg.query("select 1")).rowCount];
        "#,
    );
    assert_eq!(
        ok(&second),
        &json!(["undefined", "undefined", true, [2], "{\"a\":1}", 1])
    );
}

#[test]
fn user_tampering_with_builtins_does_not_break_pg_calls() {
    let o = exec(
        r#"
        JSON.stringify = () => { throw new Error("hijacked"); };
        Promise.prototype.then = function () { throw new Error("then hijacked"); };
        Object.create = () => { throw new Error("create hijacked"); };
        const r = pg.query("select 1");
        return typeof r;
        "#,
    );
    assert_eq!(ok(&o), &json!("object"));
}

// ---------------------------------------------------------------------------------------------
// Console
// ---------------------------------------------------------------------------------------------

#[test]
fn console_output_is_captured_and_formatted() {
    let o = exec(
        r#"
        console.log("plain", 1, { a: [1, 2] }, null, undefined);
        console.info("info");
        console.warn("warn");
        console.error(new TypeError("bad"));
        console.debug([1n, Symbol("s")]);
        const c = { x: 1 }; c.c = c;
        console.log(c);
        return 1;
        "#,
    );
    ok(&o);
    let got: Vec<(String, String)> = o
        .logs
        .iter()
        .map(|l| (l.level.clone(), l.message.clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("log".into(), "plain 1 {\"a\":[1,2]} null null".into()),
            ("info".into(), "info".into()),
            ("warn".into(), "warn".into()),
            ("error".into(), "TypeError: bad".into()),
            ("debug".into(), "[\"1\",\"Symbol(s)\"]".into()),
            ("log".into(), "{\"x\":1,\"c\":\"[Circular]\"}".into()),
        ]
    );
}

#[test]
fn logs_are_capped_by_entries_and_bytes() {
    let limits = SandboxLimits {
        max_log_entries: 100,
        ..SandboxLimits::default()
    };
    let o = exec_limits(
        "for (let i = 0; i < 10000; i++) console.log('line', i); return 1;",
        limits,
    );
    ok(&o);
    assert_eq!(o.logs.len(), 101);
    assert_eq!(o.logs[100].message, "[logs truncated]");

    let limits = SandboxLimits {
        max_log_bytes: 1000,
        ..SandboxLimits::default()
    };
    let o = exec_limits(
        "for (let i = 0; i < 1000; i++) console.log('x'.repeat(100)); console.log({big: 'y'.repeat(100000)}); return 1;",
        limits,
    );
    ok(&o);
    let total: usize = o.logs.iter().map(|l| l.message.len()).sum();
    assert!(total <= 1000 + "[logs truncated]".len(), "{total}");
    assert_eq!(o.logs.last().unwrap().message, "[logs truncated]");
    assert_eq!(
        o.logs
            .iter()
            .filter(|l| l.message == "[logs truncated]")
            .count(),
        1
    );
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

#[test]
fn thrown_errors_carry_name_message_and_position() {
    let o = exec("const a = 1;\nthrow new RangeError('out of range');");
    let e = o.error.expect("error");
    assert_eq!(e.code, codes::JS_ERROR.as_str());
    assert_eq!(e.name.as_deref(), Some("RangeError"));
    assert_eq!(e.message, "out of range");
    assert_eq!(e.js_line, Some(3), "{e:?}");

    let o = exec("await pg.query('select 1');\nnull.x;");
    let e = o.error.expect("error");
    assert_eq!(e.name.as_deref(), Some("TypeError"));
    assert!(!e.message.contains(".rs"), "{}", e.message);

    let o = exec("throw 'plain string'");
    assert_eq!(o.error.unwrap().message, "Uncaught plain string");
    let o = exec("throw { code: 7 }");
    assert_eq!(o.error.unwrap().message, "Uncaught {\"code\":7}");
}

#[test]
fn syntax_errors_are_js_errors() {
    let (o, _) = exec_with(
        "(async () => {\n let = = 1;\n})()",
        SandboxLimits::default(),
        FakeBridge::standard(),
    );
    let e = o.error.expect("error");
    assert_eq!(e.code, codes::JS_ERROR.as_str());
    assert_eq!(e.name.as_deref(), Some("SyntaxError"));
    assert_eq!(e.js_line, Some(2), "{e:?}");
}

// ---------------------------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------------------------

fn assert_stopped(o: &Outcome, allowed: &[&str]) {
    let code = err_code(o);
    assert!(allowed.contains(&code), "got {code}: {:?}", o.error);
    let e = o.error.as_ref().unwrap();
    assert!(
        e.limit.as_deref().unwrap_or("").contains("--code-max-"),
        "{e:?}"
    );
}

#[test]
fn infinite_loops_stop() {
    let o = exec_limits("while (true) {}", tight());
    assert_stopped(&o, &[codes::LOOP_LIMIT.as_str()]);
    assert!(
        o.error
            .unwrap()
            .limit
            .unwrap()
            .contains("--code-max-loop-iterations")
    );

    let o = exec_limits(
        "try { while (true) {} } catch (e) {} return 'escaped';",
        tight(),
    );
    assert_stopped(&o, &[codes::LOOP_LIMIT.as_str()]);

    let o = exec_limits("for (;;) { try { for (;;) {} } catch {} } ", tight());
    assert_stopped(&o, &[codes::LOOP_LIMIT.as_str()]);
}

#[test]
fn busy_loop_after_await_stops() {
    let o = exec_limits("await pg.query('select 1'); while (true) {}", tight());
    assert_stopped(
        &o,
        &[
            codes::LOOP_LIMIT.as_str(),
            codes::INSTRUCTION_LIMIT.as_str(),
        ],
    );
    let o = exec_limits(
        "await null; try { while (true) {} } catch {} return 1",
        tight(),
    );
    assert_stopped(
        &o,
        &[
            codes::LOOP_LIMIT.as_str(),
            codes::INSTRUCTION_LIMIT.as_str(),
        ],
    );
    // An inner async function that spins after its own await, awaited by the root.
    let o = exec_limits(
        "async function g() { await 1; for (;;) {} } await g(); return 1;",
        tight(),
    );
    assert_stopped(
        &o,
        &[
            codes::LOOP_LIMIT.as_str(),
            codes::INSTRUCTION_LIMIT.as_str(),
        ],
    );
}

#[test]
fn busy_loop_in_callbacks_stops() {
    let o = exec_limits("[1, 2].map(() => { while (true) {} });", tight());
    assert_stopped(
        &o,
        &[
            codes::LOOP_LIMIT.as_str(),
            codes::INSTRUCTION_LIMIT.as_str(),
        ],
    );
    let o = exec_limits("await 1; [1, 2].map(() => { while (true) {} });", tight());
    assert_stopped(
        &o,
        &[
            codes::LOOP_LIMIT.as_str(),
            codes::INSTRUCTION_LIMIT.as_str(),
        ],
    );
    let o = exec_limits(
        "await Promise.resolve(1).then(() => { while (true) {} }); return 1",
        tight(),
    );
    assert_stopped(
        &o,
        &[
            codes::LOOP_LIMIT.as_str(),
            codes::INSTRUCTION_LIMIT.as_str(),
        ],
    );
    let o = exec_limits("[3, 1, 2].sort(() => { for (;;) {} });", tight());
    assert_stopped(
        &o,
        &[
            codes::LOOP_LIMIT.as_str(),
            codes::INSTRUCTION_LIMIT.as_str(),
        ],
    );
    // Many short loops in many frames: only the instruction budget sees the total.
    let o = exec_limits(
        "function f() { let s = 0; for (let i = 0; i < 1000; i++) s += i; return s; } for (let j = 0; j < 1e9; j++) { try { f(); } catch {} }",
        SandboxLimits {
            loop_iterations: u64::MAX,
            ..tight()
        },
    );
    assert_stopped(&o, &[codes::INSTRUCTION_LIMIT.as_str()]);
}

#[test]
fn async_generator_spinning_after_yield_does_not_crash() {
    let o = exec_limits(
        "async function* g() { yield 1; for (;;) {} } for await (const x of g()) {} return 1;",
        tight(),
    );
    assert!(o.error.is_some(), "{o:?}");
}

#[test]
fn recursion_stops() {
    let o = exec_limits("function f() { f(); } f();", tight());
    assert_stopped(&o, &[codes::RECURSION_LIMIT.as_str()]);
    assert!(
        o.error
            .unwrap()
            .limit
            .unwrap()
            .contains("--code-max-recursion")
    );

    let o = exec_limits(
        "function f() { try { f(); } catch (e) { f(); } } f(); return 'escaped'",
        tight(),
    );
    assert_stopped(&o, &[codes::RECURSION_LIMIT.as_str()]);

    // Recursion through a native (getter / toString / map) is counted too.
    let o = exec_limits("const o = { get x() { return o.x; } }; o.x;", tight());
    assert_stopped(&o, &[codes::RECURSION_LIMIT.as_str()]);
    let o = exec_limits("function f() { [1].map(f); } f();", tight());
    assert_stopped(&o, &[codes::RECURSION_LIMIT.as_str()]);
}

#[test]
fn recursion_after_await_ends_the_run() {
    // Boa swallows engine errors inside await continuations; the run must still end with an
    // error that points at the limit.
    let o = exec_limits(
        "await 1; function f() { f(); } f(); return 'escaped';",
        tight(),
    );
    assert_stopped(&o, &[codes::RECURSION_LIMIT.as_str()]);
    let o = exec_limits(
        "async function g() { await pg.query('select 1'); function f() { f(); } f(); } await g(); return 'escaped';",
        tight(),
    );
    assert_stopped(&o, &[codes::RECURSION_LIMIT.as_str()]);
    let o = exec_limits(
        "await 1; function f() { try { f(); } catch { f(); } } f(); return 'escaped';",
        tight(),
    );
    assert_stopped(&o, &[codes::RECURSION_LIMIT.as_str()]);
    // Without an instruction budget the cause cannot be told apart from a loop-limit hit.
    let o = exec_limits(
        "await 1; function f() { f(); } f(); return 'escaped';",
        SandboxLimits {
            instruction_budget: None,
            ..tight()
        },
    );
    let e = o.error.expect("error");
    assert_eq!(e.code, codes::UNSETTLED.as_str());
    assert!(e.message.contains("--code-max-recursion"), "{e:?}");
}

#[test]
fn tool_call_cap_cannot_be_caught() {
    let limits = SandboxLimits {
        max_tool_calls: 10,
        ..SandboxLimits::default()
    };
    let o = exec_limits(
        "for (;;) { try { await pg.query('select 1'); } catch (e) {} }",
        limits.clone(),
    );
    assert_stopped(&o, &[codes::TOOL_CALL_LIMIT.as_str()]);
    assert_eq!(o.tool_calls, 11);
    assert!(
        o.error
            .unwrap()
            .limit
            .unwrap()
            .contains("--code-max-tool-calls")
    );

    // Synchronous flood, caught.
    let o = exec_limits(
        "for (let i = 0; i < 100; i++) { try { pg.query('select 1').catch(() => {}); } catch (e) {} } return 'escaped';",
        limits,
    );
    assert_stopped(&o, &[codes::TOOL_CALL_LIMIT.as_str()]);
}

#[test]
fn oversized_results_are_previewed() {
    let o = exec("return 'x'.repeat(2 * 1024 * 1024);");
    let t = o.result_truncated.clone().expect("truncated");
    assert!(o.error.is_none());
    assert_eq!(t.max_bytes, 1024 * 1024);
    assert!(t.original_bytes >= 2 * 1024 * 1024);
    let s = o.result.unwrap();
    assert!(s.as_str().unwrap().len() <= 1024 * 1024);

    let o = exec(
        "return { rows: Array.from({ length: 100000 }, (_, i) => ({ id: i, name: 'row ' + i })), rowCount: 100000 };",
    );
    let t = o.result_truncated.clone().expect("truncated");
    assert!(t.exact);
    let v = o.result.unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert!(!rows.is_empty() && rows.len() < 100000);
    assert_eq!(rows[0], json!({ "id": 0, "name": "row 0" }));
    assert!(serde_json::to_string(&v).unwrap().len() <= 1024 * 1024);
}

#[test]
fn tiny_instruction_budget_still_runs_the_prelude() {
    let o = exec_limits(
        "return 1",
        SandboxLimits {
            instruction_budget: Some(1_000),
            ..SandboxLimits::default()
        },
    );
    assert_eq!(ok(&o), &json!(1));
    let o = exec_limits(
        "let s = 0; for (let i = 0; i < 100000; i++) s += i; return s",
        SandboxLimits {
            instruction_budget: Some(1_000),
            ..SandboxLimits::default()
        },
    );
    assert_stopped(&o, &[codes::INSTRUCTION_LIMIT.as_str()]);
}

#[test]
fn user_code_run_during_conversion_is_budgeted() {
    // A getter on the returned value spins: conversion must stop, not hang.
    let o = exec_limits("return { get x() { for (;;) {} } };", tight());
    assert_stopped(
        &o,
        &[
            codes::LOOP_LIMIT.as_str(),
            codes::INSTRUCTION_LIMIT.as_str(),
        ],
    );
    let o = exec_limits(
        "console.log(new Proxy({}, { ownKeys() { for (;;) {} } })); return 1;",
        tight(),
    );
    assert_stopped(
        &o,
        &[
            codes::LOOP_LIMIT.as_str(),
            codes::INSTRUCTION_LIMIT.as_str(),
        ],
    );
    // A getter that calls pg (a promise in the result) is just shown as a promise.
    let o = exec("return { get p() { return pg.query('select 1'); } };");
    assert_eq!(ok(&o), &json!({ "p": "[Promise]" }));
}

#[test]
fn job_cycles_without_bytecode_use_up_the_budget() {
    // `then` is native (bound Promise.prototype.then): the cycle of jobs runs no bytecode.
    let o = exec_limits(
        "const t = {}; const p = Promise.resolve(t); t.then = Promise.prototype.then.bind(p); await t;",
        SandboxLimits {
            instruction_budget: Some(200_000),
            ..tight()
        },
    );
    assert_eq!(err_code(&o), codes::INSTRUCTION_LIMIT.as_str());
}

#[test]
fn error_text_is_bounded() {
    let o = exec(
        "const e = new Error('m'.repeat(1024).repeat(1024)); e.name = 'N'.repeat(4096); throw e;",
    );
    let e = o.error.expect("error");
    assert!(e.message.len() < 17 * 1024, "{}", e.message.len());
    assert!(
        e.message.contains("truncated"),
        "{}",
        &e.message[e.message.len() - 60..]
    );
    assert!(e.name.unwrap().len() < 400);
    let o = exec("throw 's'.repeat(1024).repeat(1024)");
    assert!(o.error.unwrap().message.len() < 17 * 1024);
}

#[test]
fn unsettled_promise_is_reported() {
    let o = exec("await new Promise(() => {}); return 1;");
    assert_eq!(err_code(&o), codes::UNSETTLED.as_str());
    assert!(o.error.unwrap().message.contains("forget an await"));
}

#[test]
fn big_allocations_fail_cleanly() {
    let o =
        exec("try { new ArrayBuffer(2 ** 31); return 'allocated'; } catch (e) { return e.name; }");
    assert_eq!(ok(&o), &json!("RangeError"));
}

// ---------------------------------------------------------------------------------------------
// Overhead (informational; run with --ignored --nocapture, ideally in release)
// ---------------------------------------------------------------------------------------------

#[test]
#[ignore]
fn overhead_numbers() {
    big_stack(|| {
        let m = manifest();
        let limits = SandboxLimits::default();
        let n = 200;
        let t = Instant::now();
        for _ in 0..n {
            let o = run(
                "(async () => 1)()",
                &m,
                &limits,
                &mut FakeBridge::standard(),
            );
            assert!(o.error.is_none());
        }
        eprintln!(
            "empty run (context + prelude + program): {:?}/run",
            t.elapsed() / n
        );

        let calls = 5000;
        let src = format!(
            "(async () => {{ for (let i = 0; i < {calls}; i++) await pg.query('select 1'); }})()"
        );
        let big = SandboxLimits {
            max_tool_calls: calls,
            ..SandboxLimits::default()
        };
        let t = Instant::now();
        let o = run(&src, &m, &big, &mut FakeBridge::standard());
        assert!(o.error.is_none(), "{:?}", o.error);
        eprintln!("sequential pg call: {:?}/call", t.elapsed() / calls);

        let src =
            "(async () => { let s = 0; for (let i = 0; i < 3000000; i++) s += i; return s; })()";
        for budget in [None, Some(u64::MAX / 2)] {
            let l = SandboxLimits {
                instruction_budget: budget,
                loop_iterations: u64::MAX,
                ..SandboxLimits::default()
            };
            let t = Instant::now();
            let o = run(src, &m, &l, &mut FakeBridge::standard());
            assert!(o.error.is_none(), "{:?}", o.error);
            eprintln!("3M-iteration loop, budget {budget:?}: {:?}", t.elapsed());
        }
    });
}

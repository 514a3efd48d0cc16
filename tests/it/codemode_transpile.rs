//! The Code Mode transpiler through the crate's public API (the detailed cases are unit tests
//! in `src/codemode/transpile/`).

use pgmcp::codemode::transpile::{CodeError, TranspileLimits, Transpiled, transpile};

fn ok(src: &str) -> Transpiled {
    transpile(src, &TranspileLimits::default()).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn typical_script_becomes_an_async_iife_with_auto_return() {
    let t = ok("interface T { name: string }\n\
         const tables = (await pg.listTables()) as T[];\n\
         enum Mode { Fast = 'fast' }\n\
         tables.map((t: T) => `${t.name}:${Mode.Fast}`)");
    assert!(
        t.js.starts_with("\"use strict\";\n(async () => {\n"),
        "{}",
        t.js
    );
    assert!(
        t.js.contains("const tables = await pg.listTables();"),
        "{}",
        t.js
    );
    assert!(
        t.js.contains("return tables.map((t) => `${t.name}:${Mode.Fast}`);"),
        "{}",
        t.js
    );
    assert!(t.js.trim_end().ends_with("})();"), "{}", t.js);
    assert!(!t.js.contains("interface"));
    // The `return` line maps back to line 4 of the TypeScript.
    let (line, col) =
        t.js.lines()
            .enumerate()
            .find_map(|(i, l)| {
                l.find("return tables")
                    .map(|c| (i as u32 + 1, c as u32 + 1))
            })
            .unwrap();
    assert_eq!(t.original_position(line, col), Some((4, 1)));
}

#[test]
fn errors_serialise_for_the_tool_result() {
    let e: CodeError = transpile("const fs = require('fs');", &TranspileLimits::default())
        .expect_err("require must be rejected");
    let json = serde_json::to_value(&e).unwrap();
    assert_eq!(json["code"], "MODULE_SYNTAX");
    assert_eq!(json["line"], 1);
    assert_eq!(json["column"], 12);
    assert!(json["message"].as_str().unwrap().contains("pg.help()"));
    assert!(json["snippet"].as_str().unwrap().ends_with('^'));
    assert!(json.get("limit").is_none());

    let limits = TranspileLimits {
        max_source_bytes: 8,
        ..TranspileLimits::default()
    };
    let e = transpile("1 + 2 + 3 + 4", &limits).unwrap_err();
    let json = serde_json::to_value(&e).unwrap();
    assert_eq!(json["code"], "SOURCE_TOO_LARGE");
    assert_eq!(
        json["limit"],
        "maxSourceBytes=8 (raise with --code-max-source-bytes)"
    );
    assert!(json.get("line").is_none());

    let deep = format!("return {}1{}", "[".repeat(300), "]".repeat(300));
    let e = transpile(&deep, &TranspileLimits::default()).unwrap_err();
    assert_eq!(e.code, "NESTING_TOO_DEEP");
    assert_eq!(
        e.limit.as_deref(),
        Some("maxDepth=256 (raise with --code-max-depth)")
    );
    assert_eq!((e.line, e.column), (Some(1), Some(8 + 256)));
}

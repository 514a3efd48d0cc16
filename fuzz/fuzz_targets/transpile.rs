//! Arbitrary bytes as TypeScript through `transpile`, on a 2 MiB stack (the size of the
//! tokio blocking thread the server transpiles on). Findings: any panic or stack overflow,
//! an accepted program whose JavaScript does not re-parse, an error position outside the
//! source, a panic while mapping positions back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxc::allocator::Allocator;
use oxc::parser::Parser;
use oxc::span::SourceType;
use pgmcp::codemode::transpile::{TranspileLimits, transpile};

const STACK: usize = 2 * 1024 * 1024;

/// Lines as JavaScript counts them: `\n`, `\r\n`, `\r`, U+2028 and U+2029 end a line.
fn js_lines(source: &str) -> u32 {
    let breaks = source
        .replace("\r\n", "\n")
        .matches(['\n', '\r', '\u{2028}', '\u{2029}'])
        .count();
    breaks as u32 + 1
}

fn check(source: &str, limits: &TranspileLimits) {
    match transpile(source, limits) {
        Ok(t) => {
            assert!(
                t.js.starts_with("\"use strict\";\n"),
                "pgmcp fuzz finding: transpiled program lacks its prologue:\n{}",
                t.js
            );
            let alloc = Allocator::default();
            let reparsed = Parser::new(&alloc, &t.js, SourceType::cjs()).parse();
            assert!(
                reparsed.diagnostics.errors().next().is_none() && !reparsed.panicked,
                "pgmcp fuzz finding: transpiled JavaScript does not parse: {:?}\n{}",
                reparsed.diagnostics.errors().next(),
                t.js
            );
            // Position mapping never panics, and lands inside the source.
            let lines = js_lines(source);
            for (line, col) in [(1, 1), (2, 1), (3, 5), (u32::MAX, u32::MAX), (0, 0)] {
                if let Some((l, c)) = t.original_position(line, col) {
                    assert!(
                        l >= 1 && l <= lines && c >= 1,
                        "pgmcp fuzz finding: position {line}:{col} mapped to {l}:{c}"
                    );
                    let _ = t.snippet(l, c);
                }
            }
        }
        Err(e) => {
            if let Some(line) = e.line {
                let lines = js_lines(source);
                assert!(
                    line >= 1 && line <= lines,
                    "pgmcp fuzz finding: error on line {line} of a {lines}-line source: {e:?}"
                );
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    pgmcp_fuzz::harness::breadcrumb(data);
    let source = String::from_utf8_lossy(data).into_owned();
    let joined = std::thread::Builder::new()
        .name("transpile".into())
        .stack_size(STACK)
        .spawn(move || {
            check(&source, &TranspileLimits::default());
            // Any max_depth is clamped to the hard ceiling, which must still fit the stack.
            check(
                &source,
                &TranspileLimits {
                    max_depth: usize::MAX,
                    ..TranspileLimits::default()
                },
            );
        })
        .expect("spawn")
        .join();
    if joined.is_err() {
        panic!("pgmcp fuzz finding: transpile panicked");
    }
});

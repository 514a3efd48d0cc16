//! The structure-aware target's fragment pool and decoder.
//!
//! The pool is every statement (at any depth) and every interesting expression of the seed
//! programs: `tests/corpus/escape/*.js|ts` (the escape corpus), `fuzz/seeds/sandbox/*`, and
//! any directories in `PGMCP_FUZZ_FRAGMENTS` (`:`-separated), read once at start-up in sorted
//! order — so an input means the same program as long as the corpus does not change. The fuzz
//! input is not JavaScript: its bytes (through `arbitrary`) choose the bridge behaviour, how
//! many pieces to combine, which fragments, and which syntactic context wraps each one (a
//! `try`, a loop, an async IIFE, a generator, an async generator, a promise executor,
//! `pg.transaction`, a getter, `Promise.all`, ...), so the fuzzer explores combinations of
//! known attack pieces rather than byte noise.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use arbitrary::Unstructured;
use oxc::allocator::Allocator;
use oxc::ast::ast::{Expression, Statement};
use oxc::ast_visit::{Visit, walk};
use oxc::parser::Parser;
use oxc::span::{GetSpan, SourceType};

use crate::bridge::BridgeConfig;

/// Statement and expression fragments.
#[derive(Default)]
pub struct Pool {
    pub statements: Vec<String>,
    pub expressions: Vec<String>,
    pub files: usize,
}

pub static POOL: LazyLock<Pool> = LazyLock::new(|| {
    let pool = load(&source_dirs());
    eprintln!(
        "pgmcp-fuzz: splice pool: {} statements, {} expressions from {} files",
        pool.statements.len(),
        pool.expressions.len(),
        pool.files
    );
    pool
});

/// Where fragments come from.
pub fn source_dirs() -> Vec<PathBuf> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut dirs = vec![
        fuzz.join("../tests/corpus/escape"),
        fuzz.join("seeds/sandbox"),
    ];
    if let Ok(extra) = std::env::var("PGMCP_FUZZ_FRAGMENTS") {
        dirs.extend(
            extra
                .split(':')
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
        );
    }
    dirs
}

const MAX_STATEMENT: usize = 1500;
const MAX_EXPRESSION: usize = 600;
const MAX_POOL: usize = 50_000;

/// Reads every `.js`/`.ts` file of `dirs` (sorted) into a pool.
pub fn load(dirs: &[PathBuf]) -> Pool {
    let mut files: Vec<PathBuf> = dirs
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .is_some_and(|e| e == "js" || e == "ts" || e == "mjs")
        })
        .collect();
    files.sort();
    let mut pool = Pool::default();
    let mut seen = HashSet::new();
    for f in &files {
        let Ok(src) = std::fs::read_to_string(f) else {
            continue;
        };
        pool.files += 1;
        add_fragments(&src, &mut pool, &mut seen);
    }
    pool
}

const WRAPPER_OPEN: &str = "async function __pgmcp_splice__() {\n";

/// Splits one program into fragments (statements at every depth, and expressions).
pub fn add_fragments(src: &str, pool: &mut Pool, seen: &mut HashSet<String>) {
    let wrapped = format!("{WRAPPER_OPEN}{src}\n}}");
    let alloc = Allocator::default();
    let parsed = Parser::new(&alloc, &wrapped, SourceType::ts().with_module(false)).parse();
    if parsed.diagnostics.errors().next().is_some() || parsed.panicked {
        // Not parseable as a whole: fall back to its code lines.
        for line in src.lines().map(str::trim) {
            if !line.is_empty() && !line.starts_with("//") && seen.insert(line.to_string()) {
                pool.statements.push(line.to_string());
            }
        }
        return;
    }
    let mut collector = Collector {
        src: &wrapped,
        pool,
        seen,
    };
    collector.visit_program(&parsed.program);
}

struct Collector<'s, 'p> {
    src: &'s str,
    pool: &'p mut Pool,
    seen: &'p mut HashSet<String>,
}

impl Collector<'_, '_> {
    fn add(&mut self, text: &str, statement: bool) {
        let text = text.trim();
        let max = if statement {
            MAX_STATEMENT
        } else {
            MAX_EXPRESSION
        };
        if text.len() < 2 || text.len() > max || text.starts_with(WRAPPER_OPEN.trim_end()) {
            return;
        }
        let list = if statement {
            &mut self.pool.statements
        } else {
            &mut self.pool.expressions
        };
        if list.len() < MAX_POOL && self.seen.insert(text.to_string()) {
            list.push(text.to_string());
        }
    }
}

impl<'a> Visit<'a> for Collector<'_, '_> {
    fn visit_statement(&mut self, it: &Statement<'a>) {
        let text = it.span().source_text(self.src);
        self.add(text, true);
        walk::walk_statement(self, it);
    }

    fn visit_expression(&mut self, it: &Expression<'a>) {
        if matches!(
            it,
            Expression::CallExpression(_)
                | Expression::NewExpression(_)
                | Expression::ObjectExpression(_)
                | Expression::ArrayExpression(_)
                | Expression::ArrowFunctionExpression(_)
                | Expression::FunctionExpression(_)
                | Expression::ClassExpression(_)
                | Expression::AwaitExpression(_)
                | Expression::TaggedTemplateExpression(_)
                | Expression::StaticMemberExpression(_)
                | Expression::ComputedMemberExpression(_)
                | Expression::AssignmentExpression(_)
                | Expression::YieldExpression(_)
        ) {
            let text = it.span().source_text(self.src);
            self.add(text, false);
        }
        walk::walk_expression(self, it);
    }
}

/// Contexts a statement fragment `{F}` is placed in.
const STATEMENT_WRAPPERS: &[&str] = &[
    "{F}\n",
    "{F}\n",
    "try {\n{F}\n} catch (e) { console.log(String(e && e.message)); }\n",
    "try {\n{F}\n} finally { await pg.query('select 1'); }\n",
    "for (let i = 0; i < 3; i++) {\n{F}\n}\n",
    "await (async () => {\n{F}\n})();\n",
    "(async () => {\n{F}\n})().catch(() => {});\n",
    "await Promise.all([(async () => {\n{F}\n})(), pg.query('select 2')]);\n",
    "await Promise.race([(async () => {\n{F}\n})(), null]);\n",
    "function* g() {\n{F}\nyield 1;\n}\nfor (const _ of g()) {}\n",
    "async function* ag() {\n{F}\nyield 1;\n}\nfor await (const _ of ag()) {}\n",
    "await new Promise((resolve, reject) => {\n{F}\nresolve();\n});\n",
    "Promise.resolve().then(async () => {\n{F}\n});\n",
    "await pg.transaction(async (tx) => {\n{F}\n});\n",
    "const o = { get x() {\n{F}\nreturn 1; } };\ntry { o.x; } catch {}\n",
    "class C { static m() {\n{F}\n} }\ntry { C.m(); } catch {}\n",
    "{\n{F}\n}\n",
    "label: {\n{F}\n}\n",
    "switch (1) { case 1: {\n{F}\n} }\n",
];

/// Contexts an expression fragment `{E}` is placed in (`{V}`: a fresh variable name).
const EXPRESSION_WRAPPERS: &[&str] = &[
    "const {V} = {E};\n",
    "const {V} = await ({E});\n",
    "console.log({E});\n",
    "return {E};\n",
    "return await ({E});\n",
    "JSON.stringify({E});\n",
    "try { ({E}); } catch (e) { console.log(e); }\n",
    "await pg.query(String({E}));\n",
    "await pg.core.readQuery({ sql: 'select 1', params: [{E}] });\n",
    "const {V} = [{E}, {E}];\n",
    "Object.freeze({E});\n",
    "for (const {V} in ({E})) {}\n",
];

/// Statements used on their own between fragments.
const GLUE: &[&str] = &[
    "await pg.query('select 1');\n",
    "const t = await pg.listTables();\n",
    "console.log(pg.help());\n",
    "await null;\n",
    "Object.freeze(Object.prototype);\n",
    "return globalThis;\n",
    "return await pg.admin.readSecret();\n",
    "pg.query('select fail');\n",
    "throw new Error('x');\n",
    "for (;;) {}\n",
    "return Object.getOwnPropertyNames(globalThis);\n",
];

fn fill(template: &str, placeholder: &str, fragment: &str, var: &str) -> String {
    template
        .split(placeholder)
        .collect::<Vec<_>>()
        .join(fragment)
        .replace("{V}", var)
}

/// Decodes fuzz bytes into a program over [`POOL`] and a bridge behaviour.
pub fn build(data: &[u8]) -> Option<(String, BridgeConfig)> {
    build_from(&POOL, data)
}

/// [`build`] over any pool.
pub fn build_from(pool: &Pool, data: &[u8]) -> Option<(String, BridgeConfig)> {
    if pool.statements.is_empty() {
        return None;
    }
    let mut u = Unstructured::new(data);
    let config = BridgeConfig::from_byte(u.arbitrary().ok()?);
    let pieces = u.int_in_range(1..=8u8).ok()?;
    let mut out = String::new();
    for n in 0..pieces {
        let var = format!("v{n}");
        match u.int_in_range(0..=9u8).ok()? {
            0..=5 => {
                let f = &pool.statements[u.choose_index(pool.statements.len()).ok()?];
                let w = STATEMENT_WRAPPERS[u.choose_index(STATEMENT_WRAPPERS.len()).ok()?];
                out.push_str(&fill(w, "{F}", f, &var));
            }
            6..=7 if !pool.expressions.is_empty() => {
                let e = &pool.expressions[u.choose_index(pool.expressions.len()).ok()?];
                let w = EXPRESSION_WRAPPERS[u.choose_index(EXPRESSION_WRAPPERS.len()).ok()?];
                out.push_str(&fill(w, "{E}", e, &var));
            }
            8 => out.push_str(GLUE[u.choose_index(GLUE.len()).ok()?]),
            _ => {
                // Two statements, one guarding the other.
                let a = &pool.statements[u.choose_index(pool.statements.len()).ok()?];
                let b = &pool.statements[u.choose_index(pool.statements.len()).ok()?];
                out.push_str(&format!("try {{\n{a}\n}} finally {{\n{b}\n}}\n"));
            }
        }
    }
    Some((out, config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments_and_build() {
        let mut pool = Pool::default();
        let mut seen = HashSet::new();
        add_fragments(
            "// header\nconst x = await pg.query('select 1');\nif (x) { console.log(x.rows); }\nreturn x;",
            &mut pool,
            &mut seen,
        );
        assert!(pool.statements.iter().any(|s| s.starts_with("const x")));
        assert!(pool.statements.iter().any(|s| s == "console.log(x.rows);"));
        assert!(pool.expressions.iter().any(|s| s == "pg.query('select 1')"));
        let (program, _) = build_from(&pool, &[0, 3, 1, 2, 3, 4, 5, 6, 7, 8, 9]).unwrap();
        assert!(!program.is_empty());
    }
}

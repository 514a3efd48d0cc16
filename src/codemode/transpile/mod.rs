//! Code Mode transpiler: the agent's TypeScript → JavaScript ready for Boa.
//!
//! Pipeline (all in one arena, one pass each):
//!
//! 1. **Size cap** on the raw bytes (`SOURCE_TOO_LARGE`), before anything else.
//! 2. **Nesting pre-scan** ([`scan_nesting`]): a linear, non-recursive scan that estimates how
//!    deep oxc's recursive-descent parser (and every recursive AST pass after it) will have to
//!    go, and rejects the script with `NESTING_TOO_DEEP` *before* the parser can overflow the
//!    thread stack. It counts brackets (`()`, `[]`, `{}`, template `${`, regex groups) and also
//!    the constructs that nest without brackets (prefix operators, `? :`, `=`, `=>`, `new`,
//!    brace-less `if`/`else`/loops, long operator chains). It over-estimates on purpose.
//!    It also refuses too many `<` open at once across nested brackets: the parser tries
//!    each as type arguments and re-parses on failure, and nested tries multiply its time.
//! 3. **Parse** as a TypeScript *module* with top-level `return` allowed (top-level `await` is
//!    legal in modules). The first diagnostic becomes `SYNTAX_ERROR` with line, column and a
//!    caret snippet. Semantic checks (redeclarations, …) run too.
//! 4. **Module syntax** (`import`/`export`, `import()`, `import.meta`, `require(...)`) is
//!    rejected with `MODULE_SYNTAX`: everything a script can use is on the global `pg`. Tokens oxc
//!    lets through wrongly (a lexical error dropped when a type-argument guess rewinds, a
//!    string it cannot encode) are refused with `SYNTAX_ERROR` (`passes::check_oxc_gaps`).
//! 5. **TypeScript stripping** with `oxc_transformer` (TypeScript transform only; no syntax
//!    lowering: Boa runs ES2022+ as is). Enums become plain objects, namespaces become IIFEs,
//!    parameter properties become constructor assignments.
//! 6. **Wrapping** on the AST: the body is moved into `(async () => { ... })()` under a
//!    `"use strict"` directive, so the program's completion value is the script's promise. When
//!    the body has no top-level `return`, a trailing expression statement becomes
//!    `return <expr>;`.
//! 7. **Codegen** with a source map, kept as a compact token table so that
//!    [`Transpiled::original_position`] maps a JS line:column back to the user's TypeScript.
//!
//! Layout: this file holds the pipeline and the public API (codes, limits, [`Transpiled`],
//! [`transpile`]); the stages live in submodules, one concern each:
//! * `nesting`: the nesting pre-scan, a small JavaScript lexer (step 2);
//! * `passes`: the AST passes, module-syntax rejection and the async wrapper (steps 4, 6);
//! * `positions`: line index, caret snippets and the source-map token table behind
//!   [`Transpiled::original_position`] (step 7);
//! * `errors`: [`CodeError`] and the shaping of oxc diagnostics into it (step 3).

mod errors;
mod nesting;
mod passes;
mod positions;

use std::path::Path;

use oxc::allocator::Allocator;
use oxc::codegen::{Codegen, CodegenOptions, CommentOptions};
use oxc::parser::{ParseOptions, Parser};
use oxc::semantic::SemanticBuilder;
use oxc::span::SourceType;
use oxc::transformer::{TransformOptions, Transformer};

pub use errors::CodeError;

use crate::error::Code;
use errors::diagnostic_error;
use nesting::{HARD_MAX_DEPTH, MAX_GUESS_BITS, Overflow, scan_nesting};
use passes::{check_module_syntax, check_oxc_gaps, wrap_async};
use positions::{LineIndex, Mapping};

/// Error code: the script does not parse (or fails an early semantic check).
pub const SYNTAX_ERROR: Code = Code::SyntaxError;
/// Error code: the script is larger than [`TranspileLimits::max_source_bytes`].
pub const SOURCE_TOO_LARGE: Code = Code::SourceTooLarge;
/// Error code: the script nests deeper than [`TranspileLimits::max_depth`].
pub const NESTING_TOO_DEEP: Code = Code::NestingTooDeep;
/// Error code: the script uses `import`/`export`/`require`.
pub const MODULE_SYNTAX: Code = Code::ModuleSyntax;
/// Error code: the compiler itself failed (a caught panic in oxc), not the script.
pub const TRANSPILER_FAILED: Code = Code::InternalError;

/// The CLI flag that raises [`TranspileLimits::max_source_bytes`] (named in error messages).
pub const MAX_SOURCE_BYTES_FLAG: &str = "--code-max-source-bytes";
/// The CLI flag that raises [`TranspileLimits::max_depth`] (named in error messages).
pub const MAX_DEPTH_FLAG: &str = "--code-max-depth";

/// Default for [`TranspileLimits::max_source_bytes`]: 50 KiB.
pub const DEFAULT_MAX_SOURCE_BYTES: usize = 50 * 1024;
/// Default for [`TranspileLimits::max_depth`].
pub const DEFAULT_MAX_DEPTH: usize = 256;

/// A name for the script in the source map (never shown to anyone but a debugger).
const SCRIPT_NAME: &str = "script.ts";

/// Caps applied before and during parsing. Sent to the sandbox worker with each script.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TranspileLimits {
    /// Largest accepted script, in bytes of UTF-8. Default 50 KiB.
    pub max_source_bytes: usize,
    /// Deepest accepted nesting (brackets, template substitutions, and constructs that nest
    /// without brackets such as chained prefix operators or `? :`). Default 256. Values above
    /// an internal hard ceiling (768 in release builds, 400 in debug builds) are clamped so
    /// the parser can never overflow a 2 MiB stack.
    pub max_depth: usize,
}

impl Default for TranspileLimits {
    fn default() -> Self {
        Self {
            max_source_bytes: DEFAULT_MAX_SOURCE_BYTES,
            max_depth: DEFAULT_MAX_DEPTH,
        }
    }
}

/// A transpiled script: JavaScript for Boa plus what is needed to map positions back.
#[derive(Debug, Clone)]
pub struct Transpiled {
    /// A JavaScript *script* (not a module) whose completion value is the promise of the
    /// user's result: `"use strict";\n(async () => {\n ... \n})();\n`.
    pub js: String,
    /// Source-map tokens, sorted by generated position: (js line, js UTF-16 column,
    /// ts line, ts UTF-16 column), all 0-based.
    mappings: Vec<Mapping>,
    /// Line index of the original TypeScript, to turn UTF-16 columns into character columns.
    ts_lines: LineIndex,
    /// The original TypeScript (for line lookups).
    ts_source: String,
}

// The position lookups (`original_position`, `snippet`) are in `positions.rs`, with the
// token table they read.
impl Transpiled {
    /// The user's TypeScript this was made from.
    pub fn source(&self) -> &str {
        &self.ts_source
    }
}

/// Transpile the agent's TypeScript into a JavaScript script for Boa.
///
/// Never panics and never recurses deeper than the nesting cap allows, whatever the input.
/// The pipeline itself is written not to panic (the fuzz target checks it); a panic inside oxc
/// on an input nobody has found yet is still caught here and becomes `TRANSPILER_FAILED`, so a
/// hostile script cannot take down the task (or, inline on an async worker, the request) that
/// transpiles it.
pub fn transpile(source: &str, limits: &TranspileLimits) -> Result<Transpiled, CodeError> {
    guarded(|| transpile_unguarded(source, limits))
}

/// Runs a transpile stage, turning a panic into `TRANSPILER_FAILED`.
fn guarded<T>(stage: impl FnOnce() -> Result<T, CodeError>) -> Result<T, CodeError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(stage)).unwrap_or_else(|_| {
        Err(CodeError {
            code: TRANSPILER_FAILED,
            message: "the TypeScript compiler failed on this script (an internal error, \
                          not a mistake in the script); rewrite the unusual construct, e.g. \
                          unusual escapes in string literals"
                .into(),
            line: None,
            column: None,
            snippet: None,
            limit: None,
        })
    })
}

/// `Err(SOURCE_TOO_LARGE)` when `source` is over the size cap (or what oxc's `u32` spans
/// can hold). The server checks this before it hands the script to a worker; the worker's
/// transpile checks it again.
pub fn check_size(source: &str, limits: &TranspileLimits) -> Result<(), CodeError> {
    let too_large = |message: String, limit: Option<String>| CodeError {
        code: SOURCE_TOO_LARGE,
        message,
        line: None,
        column: None,
        snippet: None,
        limit,
    };
    if source.len() > limits.max_source_bytes {
        return Err(too_large(
            format!(
                "script is {} bytes; the limit is {} bytes. Split the work into smaller scripts \
                 or move large data into SQL.",
                source.len(),
                limits.max_source_bytes
            ),
            Some(format!(
                "maxSourceBytes={} (raise with {MAX_SOURCE_BYTES_FLAG})",
                limits.max_source_bytes
            )),
        ));
    }
    // oxc spans are u32 offsets.
    if u32::try_from(source.len()).is_err() {
        return Err(too_large("script is larger than 4 GiB".into(), None));
    }
    Ok(())
}

fn transpile_unguarded(source: &str, limits: &TranspileLimits) -> Result<Transpiled, CodeError> {
    // 1. Size cap, before looking at the text at all.
    check_size(source, limits)?;

    let lines = LineIndex::new(source);

    // 2. Nesting cap, before the recursive-descent parser sees anything.
    let max_depth = limits.max_depth.min(HARD_MAX_DEPTH);
    if let Err(overflow) = scan_nesting(source.as_bytes(), max_depth) {
        let (offset, message, limit) = match overflow {
            Overflow::Depth(offset) => (
                offset,
                format!(
                    "the script nests more than {max_depth} levels deep (brackets, template \
                     substitutions, or chained operators/conditionals); flatten it with helper \
                     functions or intermediate variables"
                ),
                format!("maxDepth={max_depth} (raise with {MAX_DEPTH_FLAG})"),
            ),
            Overflow::Guesses(offset) => (
                offset,
                "too many `<` are open at once across nested brackets: the TypeScript parser \
                 must try each as the start of type arguments and undo it, and the tries \
                 multiply. Close comparisons sooner (end statements with `;`, or compute parts \
                 of the expression into variables first)"
                    .into(),
                format!("typeArgumentGuesses={MAX_GUESS_BITS} bits (fixed)"),
            ),
        };
        let mut err = CodeError::at(NESTING_TOO_DEEP, message, source, &lines, offset);
        err.limit = Some(limit);
        return Err(err);
    }

    let allocator = Allocator::default();
    let source_type = SourceType::ts().with_module(true);

    // 3. Parse.
    let options = ParseOptions {
        allow_return_outside_function: true,
        parse_regular_expression: true,
        ..ParseOptions::default()
    };
    let parsed = Parser::new(&allocator, source, source_type)
        .with_options(options)
        .parse();
    if let Some(first) = parsed.diagnostics.errors().next() {
        return Err(diagnostic_error(first, source, &lines));
    }
    if parsed.panicked {
        return Err(CodeError {
            code: SYNTAX_ERROR,
            message: "the script could not be parsed".into(),
            line: None,
            column: None,
            snippet: None,
            limit: None,
        });
    }
    let mut program = parsed.program;

    // 4. No module syntax, and no token oxc accepted wrongly.
    check_module_syntax(&program, source, &lines)?;
    check_oxc_gaps(&program, source, &lines)?;

    // Semantic analysis: early errors (redeclarations, …) and the scoping the transformer needs.
    let semantic = SemanticBuilder::new()
        .with_check_syntax_error(true)
        .with_enum_eval(true)
        .with_excess_capacity(2.0)
        .build(&program);
    if let Some(first) = semantic.diagnostics.errors().next() {
        return Err(diagnostic_error(first, source, &lines));
    }
    let scoping = semantic.semantic.into_scoping();

    // 5. Strip TypeScript (no lowering: the default env options enable no ES transforms).
    let transform_options = TransformOptions::default();
    let transformed = Transformer::new(&allocator, Path::new(SCRIPT_NAME), &transform_options)
        .build_with_scoping(scoping, &mut program);
    if let Some(first) = transformed.diagnostics.errors().next() {
        return Err(diagnostic_error(first, source, &lines));
    }

    // 6. Wrap as an async function body with auto-return.
    wrap_async(&allocator, &mut program);

    // 7. Codegen with a source map.
    let codegen_options = CodegenOptions {
        comments: CommentOptions::disabled(),
        source_map_path: Some(SCRIPT_NAME.into()),
        ..CodegenOptions::default()
    };
    let generated = Codegen::new().with_options(codegen_options).build(&program);
    let mappings = positions::source_map_tokens(&generated);

    Ok(Transpiled {
        js: generated.code,
        mappings,
        ts_lines: lines,
        ts_source: source.to_owned(),
    })
}

/// Helpers shared by the unit tests of this module and its submodules.
#[cfg(test)]
mod test_support {
    use super::{CodeError, TranspileLimits, transpile};

    pub(super) fn js(src: &str) -> String {
        match transpile(src, &TranspileLimits::default()) {
            Ok(t) => t.js,
            Err(e) => panic!("transpile failed: {e:?}\n--- source ---\n{src}"),
        }
    }

    pub(super) fn err(src: &str) -> CodeError {
        match transpile(src, &TranspileLimits::default()) {
            Ok(t) => panic!("expected an error, got:\n{}", t.js),
            Err(e) => e,
        }
    }

    /// The user's code inside the wrapper, whitespace-normalised.
    pub(super) fn body(src: &str) -> String {
        let out = js(src);
        let inner = out
            .strip_prefix("\"use strict\";\n(async () => {")
            .and_then(|s| s.trim_end().strip_suffix("})();"))
            .unwrap_or_else(|| panic!("unexpected wrapper shape:\n{out}"));
        inner.split_whitespace().collect::<Vec<_>>().join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::body;
    use super::*;

    #[test]
    fn strips_annotations_interfaces_and_aliases() {
        let b = body(
            "interface Row { id: number; name?: string }\n\
             type Id = number | string;\n\
             let x: number = 1;\n\
             let y!: string;\n\
             function f(a: number, b?: string, ...rest: unknown[]): Promise<void> { return; }\n\
             const g = (v: Row): Id => v.id;\n\
             declare const external: number;\n\
             declare function ext(x: number): void;\n\
             declare global { interface Window { x: 1 } }\n\
             x",
        );
        for gone in [
            "interface",
            "type Id",
            ": number",
            ": string",
            "declare",
            "Promise<",
            "Row",
            "?:",
        ] {
            assert!(!b.contains(gone), "{gone:?} left in: {b}");
        }
        assert!(b.contains("let x = 1;"), "{b}");
        assert!(b.contains("function f(a, b, ...rest)"), "{b}");
        assert!(b.contains("const g = (v) => v.id;"), "{b}");
        assert!(b.ends_with("return x;"), "{b}");
    }

    #[test]
    fn strips_generics_assertions_and_non_null() {
        let b = body(
            "function id<T extends object = {}>(v: T): T { return v; }\n\
             const a = id<{ n: number }>({ n: 1 });\n\
             const b = a as unknown as { n: number };\n\
             const c = <any>b;\n\
             const d = { n: 2 } satisfies { n: number };\n\
             const e = c!.n! + d.n;\n\
             const m = new Map<string, Array<number>>();\n\
             e",
        );
        for gone in [
            "<T",
            "<{",
            " as ",
            "satisfies",
            "<any>",
            "!.",
            "<string",
            "extends object",
        ] {
            assert!(!b.contains(gone), "{gone:?} left in: {b}");
        }
        assert!(b.contains("function id(v) { return v; }"), "{b}");
        assert!(b.contains("const a = id({ n: 1 });"), "{b}");
        assert!(b.contains("const e = c.n + d.n;"), "{b}");
        assert!(b.contains("new Map()"), "{b}");
    }

    #[test]
    fn strips_class_modifiers_and_parameter_properties() {
        let b = body(
            "abstract class Base<T> implements Iterable<T> {\n\
               private secret: number = 1;\n\
               protected readonly tag?: string;\n\
               declare phantom: number;\n\
               static count: number;\n\
               constructor(public readonly name: string, private age: number) {}\n\
               abstract kind(): string;\n\
               public get label(): string { return this.name; }\n\
               [Symbol.iterator](): Iterator<T> { return [][Symbol.iterator](); }\n\
             }\n\
             class Dog extends Base<number> { kind(): string { return 'dog'; } }\n\
             new Dog('rex', 3).label",
        );
        for gone in [
            "abstract",
            "private",
            "protected",
            "public",
            "readonly",
            "implements",
            "declare",
            "phantom",
            "<T>",
            "<number>",
        ] {
            assert!(!b.contains(gone), "{gone:?} left in: {b}");
        }
        assert!(
            b.contains("constructor(name, age) { this.name = name; this.age = age; }"),
            "{b}"
        );
        assert!(b.contains("secret = 1;"), "{b}");
        assert!(b.contains("class Dog extends Base"), "{b}");
        assert!(b.ends_with("return new Dog(\"rex\", 3).label;"), "{b}");
    }

    #[test]
    fn function_overloads_and_this_params_are_stripped() {
        let b = body(
            "function f(x: string): string;\n\
             function f(x: number): number;\n\
             function f(this: Window, x: any) { return x; }\n\
             f(1)",
        );
        assert_eq!(b.matches("function f").count(), 1, "{b}");
        assert!(b.contains("function f(x) { return x; }"), "{b}");
    }

    #[test]
    fn enums_become_objects() {
        let b = body("enum Color { Red, Green = 'g', Blue = 4 }\nColor.Blue");
        assert!(b.contains("var Color = function(Color) {"), "{b}");
        assert!(b.contains("Color[Color[\"Red\"] = 0] = \"Red\";"), "{b}");
        assert!(b.contains("Color[\"Green\"] = \"g\";"), "{b}");
        assert!(b.contains("Color[Color[\"Blue\"] = 4] = \"Blue\";"), "{b}");
        assert!(b.contains("return Color; }(Color || {});"), "{b}");
        assert!(b.ends_with("return Color.Blue;"), "{b}");
        // const enums are kept as objects too (no cross-file inlining to worry about).
        let b = body("const enum K { A = 1, B = A * 2 }\nK.B");
        assert!(b.contains("var K = function(K) {"), "{b}");
        assert!(b.ends_with("return K.B;"), "{b}");
        // Auto-incremented members after an initialised one.
        let b = body("enum N { A = 5, B, C }\nN.C");
        assert!(b.contains("N[N[\"C\"] = 7] = \"C\";"), "{b}");
    }

    #[test]
    fn namespaces_become_iifes() {
        let b = body(
            "namespace Util { export const two = 2; export function dbl(x: number) { return x * two; } }\nUtil.dbl(3)",
        );
        assert!(!b.contains("namespace"), "{b}");
        assert!(b.contains("let Util;"), "{b}");
        assert!(b.contains("(Util || (Util = {}))"), "{b}");
        assert!(b.ends_with("return Util.dbl(3);"), "{b}");
        // Type-only namespaces vanish.
        let b =
            body("declare namespace T { type X = 1 }\nnamespace Types { export type Y = 2 }\n1");
        assert_eq!(b, "return 1;");
    }

    #[test]
    fn modern_syntax_is_not_lowered() {
        let b = body(
            "class P { #x = 1; static { } get x() { return this.#x; } }\n\
             const o = { a: { b: 1 } };\n\
             const v = o?.a?.b ?? 2;\n\
             let z = 0; z ||= 1; z &&= 2; z ??= 3;\n\
             const big = 10n ** 2n;\n\
             const { a, ...rest } = o;\n\
             for await (const r of [Promise.resolve(1)]) { z += r; }\n\
             async function* gen() { yield 1; }\n\
             v",
        );
        for kept in [
            "#x = 1",
            "static {",
            "o?.a?.b ?? 2",
            "||=",
            "&&=",
            "??=",
            "10n ** 2n",
            "...rest",
            "for await",
            "async function* gen",
        ] {
            assert!(b.contains(kept), "{kept:?} missing from: {b}");
        }
    }

    #[test]
    fn size_cap() {
        let limits = TranspileLimits::default();
        assert_eq!(limits.max_source_bytes, 51200);
        assert_eq!(limits.max_depth, 256);
        let ok = format!("const s = '{}';\ns.length", "a".repeat(51200 - 30));
        assert!(ok.len() <= 51200);
        assert!(transpile(&ok, &limits).is_ok());
        let big = "x".repeat(51201);
        let e = transpile(&big, &limits).unwrap_err();
        assert_eq!(e.code, SOURCE_TOO_LARGE);
        assert_eq!(
            e.limit.as_deref(),
            Some("maxSourceBytes=51200 (raise with --code-max-source-bytes)")
        );
        assert!(e.message.contains("51201"), "{}", e.message);
        assert_eq!(e.line, None);
        // Bytes, not characters.
        let multibyte = "é".repeat(30_000); // 60 000 bytes
        assert_eq!(
            transpile(&multibyte, &limits).unwrap_err().code,
            SOURCE_TOO_LARGE
        );
        // The cap is configurable, and checked before anything else (even syntax).
        let small = TranspileLimits {
            max_source_bytes: 10,
            ..TranspileLimits::default()
        };
        let e = transpile("this is not ( valid", &small).unwrap_err();
        assert_eq!(e.code, SOURCE_TOO_LARGE);
        assert_eq!(
            e.limit.as_deref(),
            Some("maxSourceBytes=10 (raise with --code-max-source-bytes)")
        );
    }

    /// xorshift64*: deterministic, no dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    const SEEDS: &[&str] = &[
        "interface R { id: number }\nconst r = await pg.query<R>('select 1');\nr.rows.map((x: R) => x.id)",
        "enum E { A, B = 'b' }\nnamespace N { export const x = 1 }\nclass C<T> { constructor(private t: T) {} get v(): T { return this.t! } }\nnew C(E.A).v",
        "const s = `a ${1 + `b ${[1, 2].map(x => `${x}`)}`} c`;\nconst re = /a(b|[c)])+\\/d/giu;\nif (re.test(s)) { return s } else { throw new Error('x') }",
        "for await (const t of pg.listTables()) { try { await pg.describeTable(t) } catch (e: any) { console.log(e?.message ?? 'x') } }",
        "label: for (let i = 0; i < 10; i++) { switch (i) { case 1: continue label; default: break } }\nconst o = { a: [1, { b: 2 }], ...rest } satisfies object;\n({ ...o })",
        "// comment\n/* block */ let x = 1 / 2 / 3; x /= 4; const y = x++ / 5; y",
        "type X<T> = T extends string ? 'a' : T extends number ? 'b' : never;\nlet v: X<1> = 'b' as X<1>;\nv",
        "async function f(a = 1, { b, c } = { b: 2, c: 3 }, ...d: number[]) { return a + b + c + d.length }\nawait f()",
    ];

    const ALPHABET: &[u8] = b"(){}[]<>`'\"/\\$!?:;,.=+-*&|^~%#@ \n\r\t\0abcxyz019_";

    fn mutate(rng: &mut Rng, src: &str) -> Vec<u8> {
        let mut b = src.as_bytes().to_vec();
        for _ in 0..=rng.below(6) {
            match rng.below(7) {
                0 => b.truncate(rng.below(b.len() + 1)),
                1 => {
                    let at = rng.below(b.len() + 1);
                    b.insert(at, ALPHABET[rng.below(ALPHABET.len())]);
                }
                2 if !b.is_empty() => {
                    let at = rng.below(b.len());
                    b.remove(at);
                }
                3 if !b.is_empty() => {
                    let at = rng.below(b.len());
                    b[at] = ALPHABET[rng.below(ALPHABET.len())];
                }
                4 if !b.is_empty() => {
                    // Duplicate a slice somewhere.
                    let from = rng.below(b.len());
                    let to = (from + rng.below(64)).min(b.len());
                    let piece = b[from..to].to_vec();
                    let at = rng.below(b.len() + 1);
                    b.splice(at..at, piece);
                }
                5 => {
                    // A run of one interesting byte.
                    let at = rng.below(b.len() + 1);
                    let byte = ALPHABET[rng.below(ALPHABET.len())];
                    let run = vec![byte; 1 + rng.below(2000)];
                    b.splice(at..at, run);
                }
                _ => {
                    // Raw bytes (lossily made UTF-8 below).
                    let at = rng.below(b.len() + 1);
                    b.insert(at, (rng.next() & 0xff) as u8);
                }
            }
        }
        b
    }

    fn garbage_inputs() -> Vec<String> {
        let mut inputs: Vec<String> = Vec::new();
        let deep = 10_000;
        for (open, close) in [
            ("(", ")"),
            ("[", "]"),
            ("{", "}"),
            ("`${", "}`"),
            ("{a:", "}"),
            ("f(", ")"),
            ("A<", ">"),
            ("function f(){", "}"),
            ("if(a){", "}"),
            ("x=>(", ")"),
        ] {
            inputs.push(format!("x = {}1{}", open.repeat(deep), close.repeat(deep)));
            inputs.push(format!("x = {}1", open.repeat(deep))); // unclosed
            inputs.push(close.repeat(deep)); // closers only
        }
        for op in [
            "!", "-", "~", "+", "typeof ", "void ", "await ", "new ", "...", "a?b:", "a=", "a+",
            "a.", "x=>", "if(a)", "else ", "do ", "while(1)", "l:", "a<", "a as ", "a!", "@d ",
            "yield ", "delete ",
        ] {
            inputs.push(format!("{}x", op.repeat(deep)));
        }
        inputs.push(format!("x = /{}/", "(".repeat(deep)));
        inputs.push(format!("x = /[{}/", "(".repeat(deep)));
        inputs.push("'unterminated".into());
        inputs.push("\"unterminated\nnext line".into());
        inputs.push("`unterminated ${ `nested ${".into());
        inputs.push("/unterminated regex".into());
        inputs.push("/* unterminated comment".into());
        inputs.push("x = 1 /".into());
        inputs.push("\0".repeat(1000));
        inputs.push(format!("const a\0b = 1;\0\n{}", "\0(".repeat(500)));
        inputs.push(format!("const {} = 1", "x".repeat(40_000)));
        inputs.push(format!("{}.{}", "y".repeat(20_000), "z".repeat(20_000)));
        inputs.push("\u{2028}\u{2029}\u{feff}é😀".repeat(1000));
        inputs.push("#!/usr/bin/env node\nreturn 1".into());
        inputs.push(String::new());
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for i in 0..3000 {
            let seed = SEEDS[i % SEEDS.len()];
            let bytes = mutate(&mut rng, seed);
            inputs.push(String::from_utf8_lossy(&bytes).into_owned());
        }
        // Random soup.
        for _ in 0..300 {
            let len = rng.below(400);
            let s: Vec<u8> = (0..len)
                .map(|_| ALPHABET[rng.below(ALPHABET.len())])
                .collect();
            inputs.push(String::from_utf8_lossy(&s).into_owned());
        }
        inputs
    }

    #[test]
    fn a_panic_inside_the_compiler_becomes_a_structured_error() {
        // What `transpile` does with a panic oxc has not been caught at yet: an error result.
        let e = guarded::<()>(|| panic!("a simulated oxc bug")).unwrap_err();
        assert_eq!(e.code, TRANSPILER_FAILED);
        assert!(e.message.contains("internal error"), "{e:?}");
        assert_eq!(guarded(|| Ok::<_, CodeError>(7)).unwrap(), 7);
    }

    #[test]
    fn no_panic_on_garbage() {
        // A default-sized (2 MiB) thread stack: the nesting pre-scan must keep the parser and
        // every recursive pass inside it.
        let handle = std::thread::Builder::new()
            .name("transpile-fuzz".into())
            .stack_size(2 * 1024 * 1024)
            .spawn(|| {
                let inputs = garbage_inputs();
                let raised = TranspileLimits {
                    max_source_bytes: usize::MAX,
                    max_depth: usize::MAX,
                };
                let mut counts = std::collections::BTreeMap::<&str, usize>::new();
                for src in &inputs {
                    for limits in [&TranspileLimits::default(), &raised] {
                        let code = match transpile(src, limits) {
                            Ok(t) => {
                                // The output must itself be a program that parses as a script.
                                let alloc = Allocator::default();
                                let ret = Parser::new(&alloc, &t.js, SourceType::cjs()).parse();
                                assert!(
                                    ret.diagnostics.errors().next().is_none(),
                                    "output does not parse: {:?}\n{}\n--- from ---\n{src}",
                                    ret.diagnostics.errors().next(),
                                    t.js
                                );
                                "ok"
                            }
                            Err(e) => {
                                if let Some(line) = e.line {
                                    assert!(line >= 1 && e.column.unwrap_or(0) >= 1);
                                }
                                e.code.as_str()
                            }
                        };
                        *counts.entry(code).or_default() += 1;
                    }
                }
                (inputs.len(), counts)
            })
            .unwrap();
        let (n, counts) = handle
            .join()
            .expect("transpile panicked or the thread died");
        eprintln!("fuzz: {n} inputs x 2 limit sets -> {counts:?}");
        assert!(counts.get("NESTING_TOO_DEEP").copied().unwrap_or(0) > 60);
        assert!(counts.get("ok").copied().unwrap_or(0) > 100);
    }

    #[test]
    fn timing_of_a_typical_script() {
        let mut src = String::from(
            "interface Table { schema: string; name: string; rows?: number }\n\
             const tables = (await pg.listTables()) as Table[];\n\
             const out: Record<string, unknown> = {};\n",
        );
        while src.len() < 2048 {
            src.push_str(
                "for (const t of tables.filter((t: Table) => t.schema === 'public')) {\n  \
                   const r = await pg.query<{ n: number }>(`select count(*)::int as n from ${t.name}`);\n  \
                   out[t.name] = r.rows[0]?.n ?? 0;\n}\n",
            );
        }
        src.push_str("out");
        let limits = TranspileLimits::default();
        let iterations = 200;
        let start = std::time::Instant::now();
        for _ in 0..iterations {
            std::hint::black_box(transpile(std::hint::black_box(&src), &limits).unwrap());
        }
        let per = start.elapsed() / iterations;
        eprintln!(
            "transpile of a {}-byte script: {per:?} per call ({})",
            src.len(),
            if cfg!(debug_assertions) {
                "debug build"
            } else {
                "release build"
            }
        );
    }
}

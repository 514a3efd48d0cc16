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
//! 3. **Parse** as a TypeScript *module* with top-level `return` allowed (top-level `await` is
//!    legal in modules). The first diagnostic becomes `SYNTAX_ERROR` with line, column and a
//!    caret snippet. Semantic checks (redeclarations, …) run too.
//! 4. **Module syntax** (`import`/`export`, `import()`, `import.meta`, `require(...)`) is
//!    rejected with `MODULE_SYNTAX`: everything a script can use is on the global `pg`.
//! 5. **TypeScript stripping** with `oxc_transformer` (TypeScript transform only; no syntax
//!    lowering: Boa runs ES2022+ as is). Enums become plain objects, namespaces become IIFEs,
//!    parameter properties become constructor assignments.
//! 6. **Wrapping** on the AST: the body is moved into `(async () => { ... })()` under a
//!    `"use strict"` directive, so the program's completion value is the script's promise. When
//!    the body has no top-level `return`, a trailing expression statement becomes
//!    `return <expr>;`.
//! 7. **Codegen** with a source map, kept as a compact token table so that
//!    [`Transpiled::original_position`] maps a JS line:column back to the user's TypeScript.

use std::path::Path;

use oxc::allocator::{Allocator, ArenaVec};
use oxc::ast::ast::{
    ArrowFunctionBody, Directive, Expression, FormalParameterKind, FormalParameters, FunctionBody,
    ModuleDeclaration, Program, Statement, StringLiteral,
};
use oxc::ast::builder::AstBuilder;
use oxc::ast_visit::{Visit, walk};
use oxc::codegen::{Codegen, CodegenOptions, CommentOptions};
use oxc::diagnostics::OxcDiagnostic;
use oxc::parser::{ParseOptions, Parser};
use oxc::semantic::SemanticBuilder;
use oxc::span::{SPAN, SourceType, Span};
use oxc::transformer::{TransformOptions, Transformer};

/// Error code: the script does not parse (or fails an early semantic check).
pub const SYNTAX_ERROR: &str = "SYNTAX_ERROR";
/// Error code: the script is larger than [`TranspileLimits::max_source_bytes`].
pub const SOURCE_TOO_LARGE: &str = "SOURCE_TOO_LARGE";
/// Error code: the script nests deeper than [`TranspileLimits::max_depth`].
pub const NESTING_TOO_DEEP: &str = "NESTING_TOO_DEEP";
/// Error code: the script uses `import`/`export`/`require`.
pub const MODULE_SYNTAX: &str = "MODULE_SYNTAX";

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

/// Hard ceiling on the nesting depth the parser is ever allowed to see, whatever
/// `max_depth` says: the parser and the recursive passes after it must fit a default 2 MiB
/// thread stack (see the `no_panic_on_garbage` test, which runs there).
/// Measured on a 2 MiB thread (see [`COST_BRACKET`]): nested parentheses overflow at ~730
/// levels in a debug build and ~1330 in release, so the ceilings keep ~45% / ~40% headroom.
const HARD_MAX_DEPTH: usize = if cfg!(debug_assertions) { 400 } else { 768 };

/// Caps applied before and during parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Mapping {
    js_line: u32,
    js_col: u32,
    ts_line: u32,
    ts_col: u32,
}

impl Transpiled {
    /// Map a 1-based `js_line:js_col` in [`Transpiled::js`] (column in UTF-16 code units, as
    /// JavaScript engines and source maps count) back to a 1-based `line:column` in the user's
    /// TypeScript (column in characters). Uses the closest mapping at or before the position;
    /// `None` when the position precedes every mapped token (i.e. it is in the wrapper).
    pub fn original_position(&self, js_line: u32, js_col: u32) -> Option<(u32, u32)> {
        let line = js_line.checked_sub(1)?;
        let col = js_col.saturating_sub(1);
        let key = (line, col);
        let idx = self
            .mappings
            .partition_point(|m| (m.js_line, m.js_col) <= key);
        let m = self.mappings.get(idx.checked_sub(1)?)?;
        let char_col = self
            .ts_lines
            .utf16_col_to_char_col(&self.ts_source, m.ts_line, m.ts_col);
        Some((m.ts_line + 1, char_col + 1))
    }

    /// The user's TypeScript this was made from.
    pub fn source(&self) -> &str {
        &self.ts_source
    }

    /// The source line (1-based) with a `^` under the 1-based column, for error messages
    /// about positions reported by the engine (after [`Transpiled::original_position`]).
    pub fn snippet(&self, line: u32, column: u32) -> Option<String> {
        snippet_at(
            &self.ts_source,
            &self.ts_lines,
            line.checked_sub(1)?,
            column.checked_sub(1)?,
        )
    }
}

/// A structured transpile failure, serialised into the Code Mode error result.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CodeError {
    /// `SYNTAX_ERROR` | `SOURCE_TOO_LARGE` | `NESTING_TOO_DEEP` | `MODULE_SYNTAX`.
    pub code: &'static str,
    /// What went wrong and, where useful, what to do instead.
    pub message: String,
    /// 1-based line in the user's TypeScript.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// 1-based column (characters) in the user's TypeScript.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    /// The offending source line followed by a line with a `^` under the column.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snippet: Option<String>,
    /// The limit that was hit and how to raise it, e.g.
    /// `maxSourceBytes=51200 (raise with --code-max-source-bytes)`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
}

impl std::fmt::Display for CodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)?;
        if let (Some(line), Some(column)) = (self.line, self.column) {
            write!(f, " (line {line}, column {column})")?;
        }
        Ok(())
    }
}

impl std::error::Error for CodeError {}

impl CodeError {
    fn at(
        code: &'static str,
        message: String,
        source: &str,
        lines: &LineIndex,
        offset: u32,
    ) -> Self {
        let (line, col) = lines.position(source, offset);
        Self {
            code,
            message,
            line: Some(line + 1),
            column: Some(col + 1),
            snippet: snippet_at(source, lines, line, col),
            limit: None,
        }
    }
}

const MODULE_HINT: &str = "Code Mode scripts cannot import modules; everything available is on \
                           the global `pg` object — see pg.help()";

/// Transpile the agent's TypeScript into a JavaScript script for Boa.
///
/// Never panics and never recurses deeper than the nesting cap allows, whatever the input.
pub fn transpile(source: &str, limits: &TranspileLimits) -> Result<Transpiled, CodeError> {
    // 1. Size cap, before looking at the text at all.
    if source.len() > limits.max_source_bytes {
        return Err(CodeError {
            code: SOURCE_TOO_LARGE,
            message: format!(
                "script is {} bytes; the limit is {} bytes. Split the work into smaller scripts \
                 or move large data into SQL.",
                source.len(),
                limits.max_source_bytes
            ),
            line: None,
            column: None,
            snippet: None,
            limit: Some(format!(
                "maxSourceBytes={} (raise with {MAX_SOURCE_BYTES_FLAG})",
                limits.max_source_bytes
            )),
        });
    }
    // oxc spans are u32 offsets.
    if u32::try_from(source.len()).is_err() {
        return Err(CodeError {
            code: SOURCE_TOO_LARGE,
            message: "script is larger than 4 GiB".into(),
            line: None,
            column: None,
            snippet: None,
            limit: None,
        });
    }

    let lines = LineIndex::new(source);

    // 2. Nesting cap, before the recursive-descent parser sees anything.
    let max_depth = limits.max_depth.min(HARD_MAX_DEPTH);
    if let Err(offset) = scan_nesting(source.as_bytes(), max_depth) {
        let mut err = CodeError::at(
            NESTING_TOO_DEEP,
            format!(
                "the script nests more than {max_depth} levels deep (brackets, template \
                 substitutions, or chained operators/conditionals); flatten it with helper \
                 functions or intermediate variables"
            ),
            source,
            &lines,
            offset,
        );
        err.limit = Some(format!(
            "maxDepth={max_depth} (raise with {MAX_DEPTH_FLAG})"
        ));
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

    // 4. No module syntax.
    check_module_syntax(&program, source, &lines)?;

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
    let mut mappings: Vec<Mapping> = generated
        .map
        .as_ref()
        .map(|map| {
            map.get_tokens()
                .map(|t| Mapping {
                    js_line: t.get_dst_line(),
                    js_col: t.get_dst_col(),
                    ts_line: t.get_src_line(),
                    ts_col: t.get_src_col(),
                })
                .collect()
        })
        .unwrap_or_default();
    mappings.sort_unstable();
    mappings.dedup_by_key(|m| (m.js_line, m.js_col));

    Ok(Transpiled {
        js: generated.code,
        mappings,
        ts_lines: lines,
        ts_source: source.to_owned(),
    })
}

fn diagnostic_error(diag: &OxcDiagnostic, source: &str, lines: &LineIndex) -> CodeError {
    let span = diag
        .labels
        .iter()
        .find(|l| l.primary())
        // Without a primary label the last one is where it went wrong ("… declared here",
        // "… can not be redeclared here").
        .or_else(|| diag.labels.last())
        .map(|l| l.offset());
    let mut message = diag.message.to_string();
    if let Some(help) = &diag.help {
        if !message.ends_with('.') {
            message.push('.');
        }
        message.push(' ');
        message.push_str(help);
    }
    match span {
        Some(offset) => CodeError::at(SYNTAX_ERROR, message, source, lines, offset),
        None => CodeError {
            code: SYNTAX_ERROR,
            message,
            line: None,
            column: None,
            snippet: None,
            limit: None,
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Module syntax
// ---------------------------------------------------------------------------------------------

fn check_module_syntax(
    program: &Program<'_>,
    source: &str,
    lines: &LineIndex,
) -> Result<(), CodeError> {
    let module_error = |what: &str, span: Span| {
        CodeError::at(
            MODULE_SYNTAX,
            format!("{what}: {MODULE_HINT}"),
            source,
            lines,
            span.start,
        )
    };
    for stmt in &program.body {
        let what = match stmt.as_module_declaration() {
            Some(ModuleDeclaration::ImportDeclaration(_)) => {
                "`import` declarations are not supported"
            }
            // Every form of `export` (`export const`, `export {}`, `export default`, `export =`…).
            Some(_) => "`export` is not supported (return the result instead)",
            None if matches!(stmt, Statement::TSImportEqualsDeclaration(_)) => {
                "`import ... =` is not supported"
            }
            None => continue,
        };
        return Err(module_error(what, oxc::span::GetSpan::span(stmt)));
    }
    let mut finder = ModuleUseFinder { found: None };
    finder.visit_program(program);
    match finder.found {
        Some((what, span)) => Err(module_error(what, span)),
        None => Ok(()),
    }
}

/// Finds the first dynamic `import()`, `import.meta` or `require(...)` call anywhere.
struct ModuleUseFinder {
    found: Option<(&'static str, Span)>,
}

impl<'a> Visit<'a> for ModuleUseFinder {
    fn visit_statement(&mut self, it: &Statement<'a>) {
        if self.found.is_none() {
            walk::walk_statement(self, it);
        }
    }

    fn visit_expression(&mut self, it: &Expression<'a>) {
        if self.found.is_none() {
            walk::walk_expression(self, it);
        }
    }

    fn visit_import_expression(&mut self, it: &oxc::ast::ast::ImportExpression<'a>) {
        self.found
            .get_or_insert(("dynamic `import()` is not supported", it.span));
    }

    fn visit_import_meta(&mut self, it: &oxc::ast::ast::ImportMeta) {
        self.found
            .get_or_insert(("`import.meta` is not supported", it.span));
    }

    fn visit_ts_import_equals_declaration(
        &mut self,
        it: &oxc::ast::ast::TSImportEqualsDeclaration<'a>,
    ) {
        self.found
            .get_or_insert(("`import ... =` is not supported", it.span));
    }

    fn visit_call_expression(&mut self, it: &oxc::ast::ast::CallExpression<'a>) {
        if let Expression::Identifier(id) = it.callee.without_parentheses()
            && id.name == "require"
        {
            self.found
                .get_or_insert(("`require(...)` is not supported", it.span));
            return;
        }
        walk::walk_call_expression(self, it);
    }
}

// ---------------------------------------------------------------------------------------------
// Async wrapper and auto-return
// ---------------------------------------------------------------------------------------------

/// Move the program body into `"use strict"; (async () => { body })();`, turning a trailing
/// expression statement into `return <expr>;` when the body has no top-level `return`.
fn wrap_async<'a>(allocator: &'a Allocator, program: &mut Program<'a>) {
    let ast = AstBuilder::new(allocator);

    let mut body = std::mem::replace(&mut program.body, ArenaVec::new_in(&ast));
    let directives = std::mem::replace(&mut program.directives, ArenaVec::new_in(&ast));

    // Drop trailing empty statements (`x;;`) so "last statement" means something.
    while matches!(body.last(), Some(Statement::EmptyStatement(_))) {
        body.pop();
    }

    if !has_top_level_return(&body) {
        match body.pop() {
            Some(Statement::ExpressionStatement(stmt)) => {
                let stmt = stmt.unbox();
                body.push(Statement::new_return_statement(
                    stmt.span,
                    Some(stmt.expression),
                    &ast,
                ));
            }
            Some(other) => body.push(other),
            None => {
                // A script that is only a string literal parses as a directive prologue
                // (`'hello'`): return the last non-"use strict" one.
                if let Some(d) = directives
                    .iter()
                    .rev()
                    .find(|d| d.directive != "use strict")
                {
                    let lit = &d.expression;
                    let expr = Expression::new_string_literal(lit.span, lit.value, lit.raw, &ast);
                    body.push(Statement::new_return_statement(d.span, Some(expr), &ast));
                }
            }
        }
    }

    let params = FormalParameters::boxed(
        SPAN,
        FormalParameterKind::ArrowFormalParameters,
        [],
        None,
        &ast,
    );
    let fn_body = FunctionBody::boxed(SPAN, [], body, &ast);
    let arrow = Expression::new_arrow_function_expression(
        SPAN,
        true,
        None,
        params,
        None,
        ArrowFunctionBody::FunctionBody(fn_body),
        &ast,
    );
    let callee = Expression::new_parenthesized_expression(SPAN, arrow, &ast);
    let call = Expression::new_call_expression(SPAN, callee, None, [], false, &ast);
    program
        .body
        .push(Statement::new_expression_statement(SPAN, call, &ast));

    let use_strict = StringLiteral::new(SPAN, "use strict", None, &ast);
    program
        .directives
        .push(Directive::new(SPAN, use_strict, "use strict", &ast));
    program.source_type = SourceType::cjs(); // plain script semantics for codegen
    program.hashbang = None;
}

/// Is there a `return` in these statements that belongs to the top-level function, i.e. one not
/// nested inside a function, arrow or class? `return` is a statement, so only statements need
/// walking (never expressions, where every nested `return` is inside a function). Iterative.
fn has_top_level_return(body: &[Statement<'_>]) -> bool {
    let mut stack: Vec<&Statement<'_>> = body.iter().collect();
    while let Some(stmt) = stack.pop() {
        match stmt {
            Statement::ReturnStatement(_) => return true,
            Statement::BlockStatement(b) => stack.extend(b.body.iter()),
            Statement::IfStatement(s) => {
                stack.push(&s.consequent);
                if let Some(alt) = &s.alternate {
                    stack.push(alt);
                }
            }
            Statement::ForStatement(s) => stack.push(&s.body),
            Statement::ForInStatement(s) => stack.push(&s.body),
            Statement::ForOfStatement(s) => stack.push(&s.body),
            Statement::WhileStatement(s) => stack.push(&s.body),
            Statement::DoWhileStatement(s) => stack.push(&s.body),
            Statement::LabeledStatement(s) => stack.push(&s.body),
            Statement::WithStatement(s) => stack.push(&s.body),
            Statement::SwitchStatement(s) => {
                for case in &s.cases {
                    stack.extend(case.consequent.iter());
                }
            }
            Statement::TryStatement(s) => {
                stack.extend(s.block.body.iter());
                if let Some(handler) = &s.handler {
                    stack.extend(handler.body.body.iter());
                }
                if let Some(finalizer) = &s.finalizer {
                    stack.extend(finalizer.body.iter());
                }
            }
            _ => {}
        }
    }
    false
}

// ---------------------------------------------------------------------------------------------
// Nesting pre-scan
// ---------------------------------------------------------------------------------------------
//
// Costs are in half-levels, so that `max_depth` levels = `2 * max_depth` half-levels. They were
// calibrated by measuring, for each construct below, how many nestings of it the whole
// pipeline (parse, semantic, transform, codegen) survives on a 2 MiB thread in a debug build
// (the worst case): about 2–3.5 KiB of stack per level, so the default cap of 256 levels uses
// well under 1 MiB, and the hard ceiling keeps even a raised cap inside 2 MiB.

/// A bracket, brace or template substitution.
const COST_BRACKET: u32 = 2;
/// A `<` that may open type arguments (TypeScript's parser tries them speculatively).
const COST_ANGLE: u32 = 3;
/// One regex group: the regex parser spends much more stack per level.
const COST_REGEX_GROUP: u32 = 16;
/// An operator, a dot, a nesting keyword (`if`, `new`, `typeof`, …), or a postfix call/index.
const COST_CHAIN: u32 = 1;
/// `=>`: a new function level.
const COST_ARROW: u32 = 2;

/// What the previous significant token was.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Prev {
    /// Start of input, or an operator/punctuator after which an operand is expected.
    Operator,
    /// An operand ended: identifier, number, string, `)`, `]`, `}`, template, regex, `x++`.
    Operand,
    /// A keyword after which an expression starts (`return`, `typeof`, …): regex allowed.
    Keyword,
    /// `.` or `?.`: the next identifier is a property name, never a keyword.
    Dot,
    /// The `)` ending an `if (…)`/`for (…)`/`while (…)` head: a statement follows.
    HeaderClose,
}

/// A pending reset of the current level's chain, decided by the next token.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pending {
    None,
    /// After `;`: anything but `else` starts a new statement.
    Statement,
    /// After a line break following an operand, or after a block's `}`: a new statement
    /// starts if the next token is a word that cannot continue an expression.
    Maybe,
}

/// One open level on the scan stack.
#[derive(Clone, Copy)]
struct Frame {
    /// `(`, `[`, `{`, `<`, or `$` for a template substitution; 0 for the top level.
    kind: u8,
    /// Depth (half-levels) at this frame's opening, including the frame itself.
    base: u32,
    /// Bracket-less nesting accumulated in this frame's current statement/element.
    chain: u32,
    /// A `(` opened right after `if`/`for`/`while`/`with`/`catch`.
    header: bool,
}

struct Scanner<'s> {
    src: &'s [u8],
    i: usize,
    stack: Vec<Frame>,
    prev: Prev,
    pending: Pending,
    header_next: bool,
    limit: u32,
}

/// Linear, non-recursive estimate of how deep the parser (and the recursive AST passes after
/// it) will go; `Err(byte offset)` at the first place where the estimate exceeds `max_depth`.
///
/// Depth = open brackets (`(`, `[`, `{`, `${`, type-argument `<`, regex groups) + at every open
/// level a "chain" count of the constructs that nest without a bracket: operators (`? :`, `=`,
/// `!`, `+`, …), `.`, `=>`, nesting keywords (`if`, `else`, `for`, `while`, `new`, `typeof`,
/// `await`, …) and postfix calls/indexes (`f()()`, `a[0][0]`). A chain is reset where a new
/// statement or element provably starts (`,`, `;` not followed by `else`, a line break or a
/// block's `}` followed by a word that cannot continue an expression), so long scripts and large
/// literals are fine; only one statement that nests hundreds of levels is rejected. Strings,
/// comments and template text are skipped; regex bodies count their groups. Unterminated
/// literals end at the line break (strings, regexes) or at the end of input (comments,
/// templates), which can only over-estimate.
fn scan_nesting(src: &[u8], max_depth: usize) -> Result<(), u32> {
    let limit = u32::try_from(max_depth.saturating_mul(2)).unwrap_or(u32::MAX);
    let mut s = Scanner {
        src,
        i: 0,
        stack: Vec::with_capacity(64),
        prev: Prev::Operator,
        pending: Pending::None,
        header_next: false,
        limit,
    };
    s.stack.push(Frame {
        kind: 0,
        base: 0,
        chain: 0,
        header: false,
    });
    s.run()
}

impl Scanner<'_> {
    fn at(&self, k: usize) -> Option<u8> {
        self.src.get(self.i + k).copied()
    }

    fn offset(&self) -> u32 {
        u32::try_from(self.i).unwrap_or(u32::MAX)
    }

    fn top(&mut self) -> &mut Frame {
        // The root frame is never popped.
        let last = self.stack.len() - 1;
        &mut self.stack[last]
    }

    fn depth(&self) -> u32 {
        self.stack
            .last()
            .map_or(0, |f| f.base.saturating_add(f.chain))
    }

    fn check(&self) -> Result<(), u32> {
        if self.depth() > self.limit {
            Err(self.offset())
        } else {
            Ok(())
        }
    }

    fn bump(&mut self, cost: u32) -> Result<(), u32> {
        let top = self.top();
        top.chain = top.chain.saturating_add(cost);
        self.check()
    }

    /// [`Self::bump`] for a token that started at `start` (reported there).
    fn bump_at(&mut self, cost: u32, start: usize) -> Result<(), u32> {
        self.bump(cost)
            .map_err(|_| u32::try_from(start).unwrap_or(u32::MAX))
    }

    fn push(&mut self, kind: u8, cost: u32) -> Result<(), u32> {
        let header = kind == b'(' && std::mem::take(&mut self.header_next);
        let base = self.depth().saturating_add(cost);
        self.stack.push(Frame {
            kind,
            base,
            chain: 0,
            header,
        });
        self.check()
    }

    /// Pop `<` frames (unclosed comparisons or type arguments) above the innermost bracket.
    fn pop_angles(&mut self) {
        while self.stack.len() > 1 && self.stack[self.stack.len() - 1].kind == b'<' {
            self.stack.pop();
        }
    }

    /// A new statement starts: forget the current statement's chain and `<`s.
    fn reset(&mut self) {
        self.pop_angles();
        self.top().chain = 0;
    }

    /// Apply a pending reset before a token; `word` is the token if it is a word.
    fn settle(&mut self, word: Option<&[u8]>) {
        match self.pending {
            Pending::None => return,
            Pending::Statement => {
                if word != Some(b"else") {
                    self.reset();
                }
            }
            Pending::Maybe => {
                if word.is_some_and(|w| !is_continuation_word(w)) {
                    self.reset();
                }
            }
        }
        self.pending = Pending::None;
    }

    fn run(&mut self) -> Result<(), u32> {
        let n = self.src.len();
        if self.src.starts_with(b"#!") {
            while self.i < n && !is_newline(self.src, self.i) {
                self.i += 1;
            }
        }
        while self.i < n {
            let c = self.src[self.i];
            // Whitespace and comments: only line breaks matter (for ASI).
            if is_newline(self.src, self.i) {
                if self.prev == Prev::Operand && self.pending == Pending::None {
                    self.pending = Pending::Maybe;
                }
                self.i += if c == 0xE2 { 3 } else { 1 };
                continue;
            }
            if matches!(c, b' ' | b'\t' | 0x0b | 0x0c) {
                self.i += 1;
                continue;
            }
            if c == b'/' && self.at(1) == Some(b'/') {
                while self.i < n && !is_newline(self.src, self.i) {
                    self.i += 1;
                }
                continue;
            }
            if c == b'/' && self.at(1) == Some(b'*') {
                self.i += 2;
                while self.i < n && !(self.src[self.i] == b'*' && self.at(1) == Some(b'/')) {
                    if is_newline(self.src, self.i)
                        && self.prev == Prev::Operand
                        && self.pending == Pending::None
                    {
                        self.pending = Pending::Maybe;
                    }
                    self.i += 1;
                }
                self.i = (self.i + 2).min(n);
                continue;
            }

            // A real token. Words settle the pending reset themselves (they need the word).
            let is_word_start =
                is_ident_byte(c) && !c.is_ascii_digit() || matches!(c, b'#' | b'@' | b'\\');
            if !is_word_start {
                self.settle(None);
            }
            if c != b'(' && !is_word_start {
                // `if`/`for`/`while` must be followed by `(` (or `await (`).
                self.header_next = false;
            }

            match c {
                b'/' if !matches!(self.prev, Prev::Operand) => self.regex()?,
                b'\'' | b'"' => {
                    self.string(c);
                    self.prev = Prev::Operand;
                }
                b'`' => {
                    if self.prev == Prev::Operand {
                        self.bump(COST_CHAIN)?; // tagged template
                    }
                    self.i += 1;
                    self.template()?;
                }
                b'(' | b'[' => {
                    if self.prev == Prev::Operand {
                        self.bump(COST_CHAIN)?; // call or index: left-deep AST
                    }
                    self.push(c, COST_BRACKET)?;
                    self.i += 1;
                    self.prev = Prev::Operator;
                }
                b'{' => {
                    self.push(c, COST_BRACKET)?;
                    self.i += 1;
                    self.prev = Prev::Operator;
                }
                b')' | b']' | b'}' => {
                    self.pop_angles();
                    let frame = if self.stack.len() > 1 {
                        self.stack.pop()
                    } else {
                        None
                    };
                    self.i += 1;
                    match frame {
                        Some(Frame { kind: b'$', .. }) if c == b'}' => self.template()?,
                        Some(Frame { header: true, .. }) if c == b')' => {
                            self.prev = Prev::HeaderClose;
                        }
                        Some(Frame { kind: b'{', .. }) => {
                            self.prev = Prev::Operand;
                            self.pending = Pending::Maybe;
                        }
                        _ => self.prev = Prev::Operand,
                    }
                }
                b';' => {
                    // Deferred: `if (a) x; else if (b) y; else …` is still one statement.
                    self.pending = Pending::Statement;
                    self.i += 1;
                    self.prev = Prev::Operator;
                }
                b',' => {
                    self.top().chain = 0;
                    self.i += 1;
                    self.prev = Prev::Operator;
                }
                b'<' => {
                    if matches!(self.at(1), Some(b'<' | b'=')) {
                        let start = self.i;
                        let cost = self.operator_run();
                        self.bump_at(cost, start)?;
                    } else {
                        self.i += 1;
                        self.push(b'<', COST_ANGLE)?;
                        self.prev = Prev::Operator;
                    }
                }
                b'>' => {
                    let mut k = 0;
                    while self.at(k) == Some(b'>') {
                        k += 1;
                    }
                    if self.at(k) == Some(b'=') {
                        let start = self.i;
                        let cost = self.operator_run();
                        self.bump_at(cost, start)?;
                    } else {
                        self.i += k;
                        let mut closed = 0;
                        while closed < k
                            && self.stack.len() > 1
                            && self.stack[self.stack.len() - 1].kind == b'<'
                        {
                            self.stack.pop();
                            closed += 1;
                        }
                        if closed < k {
                            self.bump(COST_CHAIN)?;
                        }
                        // `A<B>` ends a type (an operand-ish position for regex purposes,
                        // but `a > /re/` is also valid): treat as operator, the safe side.
                        self.prev = Prev::Operator;
                    }
                }
                b'=' if self.at(1) == Some(b'>') => {
                    self.i += 2;
                    self.bump(COST_ARROW)?;
                    self.prev = Prev::Operator;
                }
                b'+' | b'-' if self.at(1) == Some(c) && self.prev == Prev::Operand => {
                    self.i += 2; // postfix `++`/`--`: still an operand
                }
                b'!' if self.prev == Prev::Operand && self.at(1) != Some(b'=') => {
                    self.i += 1; // TypeScript non-null assertion `x!`
                    self.bump(COST_CHAIN)?;
                }
                b'.' if self.at(1) == Some(b'.') && self.at(2) == Some(b'.') => {
                    self.i += 3;
                    self.bump(COST_CHAIN)?;
                    self.prev = Prev::Operator;
                }
                b'.' if self.at(1).is_some_and(|d| d.is_ascii_digit()) => {
                    self.number();
                }
                b'.' => {
                    self.i += 1;
                    self.bump(COST_CHAIN)?;
                    self.prev = Prev::Dot;
                }
                b'?' if self.at(1) == Some(b'.')
                    && !self.at(2).is_some_and(|d| d.is_ascii_digit()) =>
                {
                    self.i += 2;
                    self.bump(COST_CHAIN)?;
                    self.prev = Prev::Dot;
                }
                _ if is_punct(c) => {
                    let start = self.i;
                    let cost = self.operator_run();
                    self.bump_at(cost, start)?;
                }
                _ if c.is_ascii_digit() => self.number(),
                _ if is_word_start => self.word()?,
                _ => {
                    // NUL, stray bytes: the parser will complain.
                    self.i += 1;
                }
            }
        }
        Ok(())
    }

    /// A run of operator characters (`===`, `>>>=`, `?`, `:`, `&&`, …) makes one more node,
    /// plus one per prefix-capable character (`!!!x`, `+-~x`). Returns the chain cost.
    fn operator_run(&mut self) -> u32 {
        let n = self.src.len();
        let mut cost = COST_CHAIN;
        let mut first = true;
        while self.i < n {
            let c = self.src[self.i];
            let is_first = std::mem::take(&mut first);
            let stop = !is_first
                && (!is_punct(c)
                    || c == b','
                    || (c == b'=' && self.at(1) == Some(b'>'))
                    || (c == b'?' && self.at(1) == Some(b'.')));
            if stop {
                break;
            }
            if matches!(c, b'!' | b'~' | b'+' | b'-') {
                cost = cost.saturating_add(COST_CHAIN);
            }
            self.i += 1;
        }
        self.prev = Prev::Operator;
        cost
    }

    fn number(&mut self) {
        let n = self.src.len();
        while self.i < n && (is_ident_byte(self.src[self.i]) || self.src[self.i] == b'.') {
            self.i += 1;
        }
        self.prev = Prev::Operand;
    }

    fn word(&mut self) -> Result<(), u32> {
        let n = self.src.len();
        let start = self.i;
        self.i += 1;
        while self.i < n && (is_ident_byte(self.src[self.i]) || self.src[self.i] == b'\\') {
            self.i += 1;
        }
        let word = &self.src[start..self.i];
        if self.prev == Prev::Dot {
            self.settle(None);
            self.prev = Prev::Operand;
            return Ok(());
        }
        self.settle(Some(word));
        let header = matches!(word, b"if" | b"for" | b"while" | b"with" | b"catch");
        // `for await (` keeps the header pending across `await`.
        self.header_next = header || (word == b"await" && self.header_next);
        if is_nesting_keyword(word) {
            self.bump(COST_CHAIN)?;
            self.prev = Prev::Keyword;
        } else if is_expression_keyword(word) {
            self.prev = Prev::Keyword;
        } else {
            self.prev = Prev::Operand;
        }
        Ok(())
    }

    fn string(&mut self, quote: u8) {
        let n = self.src.len();
        self.i += 1;
        while self.i < n {
            let s = self.src[self.i];
            if s == quote {
                self.i += 1;
                return;
            }
            if s == b'\\' {
                // Escapes, including line continuations (`\` + CRLF).
                self.i += 1;
                if self.at(0) == Some(b'\r') && self.at(1) == Some(b'\n') {
                    self.i += 1;
                }
                self.i += 1;
                continue;
            }
            if s == b'\n' || s == b'\r' {
                return; // unterminated: the parser reports it
            }
            self.i += 1;
        }
    }

    /// Regex literal at `/`; counts its groups (the regex parser recurses on them).
    fn regex(&mut self) -> Result<(), u32> {
        let n = self.src.len();
        let base = self.depth();
        let mut groups = 0u32;
        let mut in_class = false;
        self.i += 1;
        while self.i < n && !is_newline(self.src, self.i) {
            match self.src[self.i] {
                b'\\' => {
                    self.i += 1;
                    if self.i < n && is_newline(self.src, self.i) {
                        break;
                    }
                }
                b'[' => in_class = true,
                b']' => in_class = false,
                b'(' if !in_class => {
                    groups += 1;
                    if base.saturating_add(groups.saturating_mul(COST_REGEX_GROUP)) > self.limit {
                        return Err(self.offset());
                    }
                }
                b')' if !in_class => groups = groups.saturating_sub(1),
                b'/' if !in_class => {
                    self.i += 1;
                    break;
                }
                _ => {}
            }
            self.i += 1;
        }
        while self.i < n && is_ident_byte(self.src[self.i]) {
            self.i += 1; // flags
        }
        self.prev = Prev::Operand;
        Ok(())
    }

    /// Template text from `self.i` (after a backtick or a substitution's `}`) up to the closing
    /// backtick (operand) or the next `${` (pushes a frame).
    fn template(&mut self) -> Result<(), u32> {
        let n = self.src.len();
        while self.i < n {
            match self.src[self.i] {
                b'\\' => self.i += 2,
                b'`' => {
                    self.i += 1;
                    self.prev = Prev::Operand;
                    return Ok(());
                }
                b'$' if self.at(1) == Some(b'{') => {
                    self.push(b'$', COST_BRACKET)?;
                    self.i += 2;
                    self.prev = Prev::Operator;
                    return Ok(());
                }
                _ => self.i += 1,
            }
        }
        self.i = n;
        self.prev = Prev::Operand;
        Ok(())
    }
}

fn is_newline(src: &[u8], i: usize) -> bool {
    match src[i] {
        b'\n' | b'\r' => true,
        // U+2028 / U+2029 (E2 80 A8 / E2 80 A9)
        0xE2 => src.get(i + 1) == Some(&0x80) && matches!(src.get(i + 2), Some(0xA8 | 0xA9)),
        _ => false,
    }
}

fn is_ident_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80
}

fn is_punct(c: u8) -> bool {
    matches!(
        c,
        b'=' | b'!'
            | b'<'
            | b'>'
            | b'+'
            | b'-'
            | b'*'
            | b'%'
            | b'&'
            | b'|'
            | b'^'
            | b'~'
            | b'?'
            | b':'
            | b','
    )
}

/// Keywords that open one more level of parser recursion (or AST depth) without a bracket.
fn is_nesting_keyword(word: &[u8]) -> bool {
    matches!(
        word,
        b"if"
            | b"else"
            | b"for"
            | b"while"
            | b"do"
            | b"with"
            | b"new"
            | b"typeof"
            | b"void"
            | b"delete"
            | b"await"
            | b"yield"
            | b"keyof"
            | b"readonly"
            | b"unique"
            | b"infer"
            | b"extends"
            | b"in"
            | b"instanceof"
            | b"as"
            | b"satisfies"
            | b"is"
    )
}

/// Keywords after which an expression (and so a regex literal) may start.
fn is_expression_keyword(word: &[u8]) -> bool {
    matches!(
        word,
        b"return" | b"throw" | b"case" | b"of" | b"let" | b"const" | b"var" | b"export"
    )
}

/// Words that continue the expression or statement before them (so no new statement starts).
fn is_continuation_word(word: &[u8]) -> bool {
    matches!(
        word,
        b"in"
            | b"instanceof"
            | b"as"
            | b"satisfies"
            | b"else"
            | b"of"
            | b"extends"
            | b"implements"
            | b"is"
    )
}

// ---------------------------------------------------------------------------------------------
// Positions
// ---------------------------------------------------------------------------------------------

/// Byte offsets of line starts, with JavaScript's line terminators (LF, CR, CRLF, LS, PS).
#[derive(Debug, Clone)]
struct LineIndex {
    starts: Vec<u32>,
}

impl LineIndex {
    fn new(source: &str) -> Self {
        let bytes = source.as_bytes();
        let mut starts = vec![0u32];
        let mut i = 0;
        while i < bytes.len() {
            let next = match bytes[i] {
                b'\n' => Some(i + 1),
                b'\r' if bytes.get(i + 1) == Some(&b'\n') => Some(i + 2),
                b'\r' => Some(i + 1),
                0xE2 if is_newline(bytes, i) => Some(i + 3),
                _ => None,
            };
            match next {
                Some(next) => {
                    starts.push(u32::try_from(next).unwrap_or(u32::MAX));
                    i = next;
                }
                None => i += 1,
            }
        }
        Self { starts }
    }

    /// 0-based (line, column in characters) of a byte offset.
    fn position(&self, source: &str, offset: u32) -> (u32, u32) {
        let offset = offset.min(u32::try_from(source.len()).unwrap_or(u32::MAX));
        let line = self
            .starts
            .partition_point(|&s| s <= offset)
            .saturating_sub(1);
        let start = self.starts[line] as usize;
        let mut end = offset as usize;
        while end > start && !source.is_char_boundary(end) {
            end -= 1;
        }
        let col = source.get(start..end).map_or(0, |s| s.chars().count());
        (
            u32::try_from(line).unwrap_or(u32::MAX),
            u32::try_from(col).unwrap_or(u32::MAX),
        )
    }

    /// The text of a 0-based line, without its terminator.
    fn line_text<'s>(&self, source: &'s str, line: u32) -> Option<&'s str> {
        let line = line as usize;
        let start = *self.starts.get(line)? as usize;
        let end = self
            .starts
            .get(line + 1)
            .map_or(source.len(), |&e| e as usize);
        let text = source.get(start..end)?;
        Some(text.trim_end_matches(['\n', '\r', '\u{2028}', '\u{2029}']))
    }

    fn utf16_col_to_char_col(&self, source: &str, line: u32, utf16_col: u32) -> u32 {
        let Some(text) = self.line_text(source, line) else {
            return utf16_col;
        };
        if text.is_ascii() {
            return utf16_col;
        }
        let mut units = 0u32;
        let mut chars = 0u32;
        for ch in text.chars() {
            if units >= utf16_col {
                break;
            }
            units += u32::try_from(ch.len_utf16()).unwrap_or(1);
            chars += 1;
        }
        chars
    }
}

/// `line text\n   ^` for 0-based line and character column; long lines are cut to a window
/// around the column.
fn snippet_at(source: &str, lines: &LineIndex, line: u32, col: u32) -> Option<String> {
    const WINDOW: usize = 60;
    let text = lines.line_text(source, line)?;
    let chars: Vec<char> = text.chars().collect();
    let col = (col as usize).min(chars.len());
    let from = col.saturating_sub(WINDOW);
    let to = (col + WINDOW).min(chars.len());
    let mut out = String::new();
    if from > 0 {
        out.push('…');
    }
    out.extend(
        chars[from..to]
            .iter()
            .map(|&c| if c.is_control() && c != '\t' { ' ' } else { c }),
    );
    if to < chars.len() {
        out.push('…');
    }
    out.push('\n');
    if from > 0 {
        out.push(' ');
    }
    for &c in &chars[from..col] {
        out.push(if c == '\t' { '\t' } else { ' ' });
    }
    out.push('^');
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn js(src: &str) -> String {
        match transpile(src, &TranspileLimits::default()) {
            Ok(t) => t.js,
            Err(e) => panic!("transpile failed: {e:?}\n--- source ---\n{src}"),
        }
    }

    fn err(src: &str) -> CodeError {
        match transpile(src, &TranspileLimits::default()) {
            Ok(t) => panic!("expected an error, got:\n{}", t.js),
            Err(e) => e,
        }
    }

    /// The user's code inside the wrapper, whitespace-normalised.
    fn body(src: &str) -> String {
        let out = js(src);
        let inner = out
            .strip_prefix("\"use strict\";\n(async () => {")
            .and_then(|s| s.trim_end().strip_suffix("})();"))
            .unwrap_or_else(|| panic!("unexpected wrapper shape:\n{out}"));
        inner.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn wrapper_shape() {
        let out = js("const a = 1;\na + 1");
        assert!(
            out.starts_with("\"use strict\";\n(async () => {\n"),
            "{out}"
        );
        assert!(out.trim_end().ends_with("})();"), "{out}");
        assert_eq!(body("const a = 1;\na + 1"), "const a = 1; return a + 1;");
        // An empty script is still a valid program whose completion value is a promise.
        assert_eq!(body(""), "");
        assert_eq!(body("// nothing\n"), "");
    }

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
    fn auto_return_of_last_expression() {
        assert_eq!(body("1 + 2"), "return 1 + 2;");
        assert_eq!(body("const r = 5;\nr * 2;;;"), "const r = 5; return r * 2;");
        assert_eq!(
            body("await pg.query('select 1')"),
            "return await pg.query(\"select 1\");"
        );
        // An object literal in expression position still comes back as an object.
        assert_eq!(body("({ a: 1 })"), "return { a: 1 };");
        // Trailing type declarations are stripped before choosing the last statement.
        assert_eq!(
            body("const x = 1;\nx\ninterface I {}\ntype T = 1;"),
            "const x = 1; return x;"
        );
        // A script that is just a string literal (parsed as a directive).
        assert_eq!(body("'hello'"), "return \"hello\";");
    }

    #[test]
    fn no_auto_return_when_a_return_exists() {
        assert_eq!(body("if (x) return 1;\n2"), "if (x) return 1; 2;");
        assert_eq!(
            body("try { return 1 } finally { }\n3"),
            "try { return 1; } finally {} 3;"
        );
        assert_eq!(
            body("for (const a of b) { if (a) { return a; } }\nnull"),
            "for (const a of b) { if (a) { return a; } } null;"
        );
        assert_eq!(
            body("switch (x) { case 1: return 'one'; }\n'other'"),
            "switch (x) { case 1: return \"one\"; } \"other\";"
        );
        assert_eq!(body("lbl: { return 5 }\n6"), "lbl: { return 5; } 6;");
        assert_eq!(body("return 42"), "return 42;");
        assert_eq!(body("return"), "return;");
    }

    #[test]
    fn no_auto_return_when_last_statement_is_not_an_expression() {
        assert_eq!(body("const x = 1"), "const x = 1;");
        assert_eq!(body("let y"), "let y;");
        assert_eq!(
            body("function f() { return 1 }"),
            "function f() { return 1; }"
        );
        assert_eq!(body("class C {}"), "class C {}");
        assert_eq!(body("if (a) { b }"), "if (a) { b; }");
        assert_eq!(body("for (;;) { break }"), "for (;;) { break; }");
        assert_eq!(body("while (a) a--"), "while (a) a--;");
        assert_eq!(body("{ 1 }"), "{ 1; }");
        assert_eq!(body("try { x() } catch { }"), "try { x(); } catch {}");
        assert!(body("enum E { A }").ends_with("}(E || {});"));
    }

    #[test]
    fn returns_in_nested_functions_do_not_count() {
        assert_eq!(
            body(
                "function f() { return 1 }\nconst g = () => { return 2 };\nconst o = { m() { return 3 } };\nclass C { m() { return 4 } }\nf() + g()"
            ),
            "function f() { return 1; } const g = () => { return 2; }; const o = { m() { return 3; } }; class C { m() { return 4; } } return f() + g();"
        );
    }

    #[test]
    fn top_level_await_is_preserved() {
        let b = body(
            "const t = await pg.listTables();\n\
             for await (const x of t) { await pg.query(x); }\n\
             const all = await Promise.all([pg.query('a'), pg.query('b')]);\n\
             all.length",
        );
        assert!(b.contains("const t = await pg.listTables();"), "{b}");
        assert!(
            b.contains("for await (const x of t) { await pg.query(x); }"),
            "{b}"
        );
        assert!(b.contains("await Promise.all(["), "{b}");
        assert!(b.ends_with("return all.length;"), "{b}");
        // `await` is a keyword here, not an identifier.
        assert_eq!(err("const await = 1").code, SYNTAX_ERROR);
    }

    #[test]
    fn module_syntax_is_rejected() {
        let cases = [
            ("import { x } from 'y';\nx", 1, 1, "`import` declarations"),
            (
                "import type { T } from 'y';\n1",
                1,
                1,
                "`import` declarations",
            ),
            ("import * as fs from 'fs'", 1, 1, "`import` declarations"),
            ("import 'side-effect'", 1, 1, "`import` declarations"),
            ("const a = 1;\nexport const b = 2;", 2, 1, "`export`"),
            ("export default 1", 1, 1, "`export`"),
            ("export { }", 1, 1, "`export`"),
            ("export * from 'x'", 1, 1, "`export`"),
            ("const m = await import('fs');", 1, 17, "dynamic `import()`"),
            ("const fs = require('fs');", 1, 12, "`require(...)`"),
            (
                "function f() { return (require)('x') }",
                1,
                23,
                "`require(...)`",
            ),
            ("const u = import.meta.url", 1, 11, "`import.meta`"),
            ("import fs = require('fs');", 1, 1, "`import ... =`"),
            ("const x = 1;\nexport = x;", 2, 1, "`export`"),
        ];
        for (src, line, column, what) in cases {
            let e = err(src);
            assert_eq!(e.code, MODULE_SYNTAX, "{src}: {e:?}");
            assert!(e.message.contains(what), "{src}: {}", e.message);
            assert!(e.message.contains("pg.help()"), "{src}: {}", e.message);
            assert!(
                e.message.contains("global `pg` object"),
                "{src}: {}",
                e.message
            );
            assert_eq!(
                (e.line, e.column),
                (Some(line), Some(column)),
                "{src}: {e:?}"
            );
            assert!(
                e.snippet.as_deref().is_some_and(|s| s.contains('^')),
                "{src}: {e:?}"
            );
        }
        // Not module syntax: a property called require, a string mentioning import.
        assert!(
            body("const o = { require: (x: string) => x };\no.require('a')")
                .contains("o.require(\"a\")")
        );
        assert!(body("'import x from \"y\"'").contains("import x"));
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

    #[test]
    fn depth_cap_brackets() {
        let limits = TranspileLimits::default();
        let nest = |n: usize| format!("return {}1{}", "(".repeat(n), ")".repeat(n));
        assert!(transpile(&nest(256), &limits).is_ok());
        let e = transpile(&nest(300), &limits).unwrap_err();
        assert_eq!(e.code, NESTING_TOO_DEEP);
        assert_eq!(
            e.limit.as_deref(),
            Some("maxDepth=256 (raise with --code-max-depth)")
        );
        assert!(e.message.contains("256"), "{}", e.message);
        assert_eq!(e.line, Some(1));
        // The 257th `(` is where the cap is exceeded: column 8 + 256.
        assert_eq!(e.column, Some(8 + 256));
        // Operators around the brackets count half a level each.
        let e = transpile(&format!("x = {}", nest(256)[7..].to_owned()), &limits).unwrap_err();
        assert_eq!(e.column, Some(5 + 255));
        assert!(e.snippet.as_deref().unwrap().ends_with('^'));

        // Every bracket kind and template substitutions count, on the right line.
        let mixed = format!("const a = 1;\nconst y = {};", "[{a: (`${".repeat(100));
        let e = transpile(&mixed, &limits).unwrap_err();
        assert_eq!((e.code, e.line), (NESTING_TOO_DEEP, Some(2)));

        // A lower cap is honoured.
        let tight = TranspileLimits {
            max_depth: 10,
            ..TranspileLimits::default()
        };
        assert_eq!(
            transpile(&nest(12), &tight).unwrap_err().code,
            NESTING_TOO_DEEP
        );
        assert!(transpile(&nest(5), &tight).is_ok());
        let e = transpile(&nest(12), &tight).unwrap_err();
        assert_eq!(
            e.limit.as_deref(),
            Some("maxDepth=10 (raise with --code-max-depth)")
        );

        // Brackets inside strings, comments, template text and regex classes don't count.
        let quoted = format!(
            "const s = '{0}';\nconst d = \"{0}\";\n// {0}\n/* {0} */\nconst t = `{0}`;\nconst r = /[{0}]/;\nconst q = /\\(\\(\\(/;\ns + d + t",
            "(((([[[[{{{{".repeat(200)
        );
        assert!(
            transpile(&quoted, &limits).is_ok(),
            "{:?}",
            transpile(&quoted, &limits).err()
        );
    }

    #[test]
    fn depth_cap_bracketless_nesting() {
        let limits = TranspileLimits::default();
        let cases = [
            format!("x = {}a", "!".repeat(5000)),
            format!("x = {}a", "- ".repeat(5000)),
            format!("x = {}c", "a ? b : ".repeat(5000)),
            format!("x = a\n{}c", "  ? b\n  : a\n".repeat(3000)),
            format!("{}1", "a = ".repeat(5000)),
            format!("f = {}1", "x => ".repeat(5000)),
            format!("x = {}a", "a + ".repeat(5000)),
            format!("x = a{}", ".b".repeat(5000)),
            format!("x = f{}", "()".repeat(5000)),
            format!("x = a{}", "[0]".repeat(5000)),
            format!("{}x;", "if (a) ".repeat(5000)),
            format!("{}{{}}", "if (a) x; else ".repeat(3000)),
            format!("{}x;", "for (;;) ".repeat(5000)),
            format!("x = {}X", "new ".repeat(5000)),
            format!("x = {}x", "await ".repeat(5000)),
            format!("let x: {}B{} = 1", "A<".repeat(5000), ">".repeat(5000)),
            format!("x = {}a", "a < ".repeat(5000)),
            format!("let x: B{} = 1", "[]".repeat(5000)),
            format!("x = /{}a{}/", "(".repeat(500), ")".repeat(500)),
            format!("{}{}", "function f() {".repeat(1000), "}".repeat(1000)),
        ];
        for src in &cases {
            let e = transpile(src, &limits).expect_err(&src[..40.min(src.len())]);
            assert_eq!(e.code, NESTING_TOO_DEEP, "{}", &src[..40]);
        }
    }

    #[test]
    fn depth_cap_does_not_reject_long_flat_code() {
        let limits = TranspileLimits::default();
        // Large literals: commas separate elements.
        let arr = format!(
            "const a = [{}];\na.length",
            (0..5000)
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        assert!(transpile(&arr, &limits).is_ok());
        let obj = format!(
            "const o = {{ {} }};\no",
            (0..2000)
                .map(|i| format!("k{i}: {{ v: {i} }}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        assert!(transpile(&obj, &limits).is_ok());
        // Many statements, with and without semicolons.
        let semis = "x = x + 1 * 2 - (3 / 4) && y.z?.w;\n".repeat(1000);
        assert!(transpile(&format!("let x = 0, y: any = {{}};\n{semis}x"), &limits).is_ok());
        let asi = "x = x + 1 * 2 - (3 / 4) && y.z?.w\nconsole.log(x, y)\n".repeat(500);
        assert!(transpile(&format!("let x = 0, y: any = {{}}\n{asi}x"), &limits).is_ok());
        // Long else-if chains and sequences of blocks of moderate length.
        let chain =
            format!("let v = 0\n{}", "if (v === 1) { v = 2 } else ".repeat(100)) + "{ v = 3 }\nv";
        assert!(transpile(&chain, &limits).is_ok());
        let blocks = "if (a) { b() } else { c() }\nfor (const x of xs) { y(x) }\n".repeat(300);
        assert!(transpile(&format!("const a = 1, xs = [1]\nfunction b() {{}}\nfunction c() {{}}\nfunction y(_: number) {{}}\n{blocks}"), &limits).is_ok());
        // A long SQL string concatenation.
        let sql = format!(
            "const sql = {};\nsql",
            (0..150)
                .map(|i| format!("'col{i}, '"))
                .collect::<Vec<_>>()
                .join(" +\n  ")
        );
        assert!(transpile(&sql, &limits).is_ok());
    }

    #[test]
    fn syntax_error_position_and_snippet() {
        let e = err("const a = 1;\nconst b = ;\nconst c = 3;");
        assert_eq!(e.code, SYNTAX_ERROR);
        assert_eq!((e.line, e.column), (Some(2), Some(11)), "{e:?}");
        assert_eq!(e.snippet.as_deref(), Some("const b = ;\n          ^"));
        assert!(!e.message.is_empty());
        assert_eq!(e.limit, None);

        // Columns count characters, not bytes; tabs are kept in the marker line.
        let e = err("const s = 'héllo';\n\tconst t = 'ü' + ;");
        assert_eq!((e.line, e.column), (Some(2), Some(18)), "{e:?}");
        assert_eq!(
            e.snippet.as_deref(),
            Some("\tconst t = 'ü' + ;\n\t                ^")
        );
        let e = err("const é = 'ü'; )");
        assert_eq!((e.line, e.column), (Some(1), Some(16)), "{e:?}");

        // Unterminated things point somewhere sensible.
        for src in [
            "const s = 'abc",
            "const t = `abc${1",
            "const r = /abc",
            "/* never closed",
            "f(1, 2",
        ] {
            let e = err(src);
            assert_eq!(e.code, SYNTAX_ERROR, "{src}");
            assert_eq!(e.line, Some(1), "{src}: {e:?}");
        }
        // CRLF line endings.
        let e = err("const a = 1;\r\nconst b = 2;\r\nconst = 3;");
        assert_eq!((e.line, e.column), (Some(3), Some(7)), "{e:?}");
        // Semantic early errors are syntax errors too.
        let e = err("let a = 1;\nlet a = 2;");
        assert_eq!((e.code, e.line), (SYNTAX_ERROR, Some(2)), "{e:?}");
        // Serialises without the absent fields.
        let json = serde_json::to_value(err("const b = ;")).unwrap();
        assert_eq!(json["code"], "SYNTAX_ERROR");
        assert_eq!(json["line"], 1);
        assert!(json.get("limit").is_none());
    }

    #[test]
    fn long_line_snippet_is_windowed() {
        let src = format!("const x = [{}, ];;; )", "1, ".repeat(2000));
        let e = err(&src);
        let snippet = e.snippet.unwrap();
        let mut lines = snippet.lines();
        let text = lines.next().unwrap();
        let marker = lines.next().unwrap();
        assert!(text.chars().count() <= 125, "{text}");
        assert!(text.starts_with('…'));
        assert_eq!(
            &text[text
                .char_indices()
                .nth(marker.chars().count() - 1)
                .unwrap()
                .0..][..1],
            ")"
        );
    }

    #[test]
    fn source_map_maps_back_to_typescript() {
        let src = "interface Row {\n  id: number;\n  name: string;\n}\nthrow new Error('boom');\n";
        let t = transpile(src, &TranspileLimits::default()).unwrap();
        let (js_line, js_col) = find(&t.js, "throw new Error");
        assert_eq!(
            t.original_position(js_line, js_col),
            Some((5, 1)),
            "{}",
            t.js
        );
        let (js_line, js_col) = find(&t.js, "new Error");
        assert_eq!(t.original_position(js_line, js_col), Some((5, 7)));
        let (js_line, js_col) = find(&t.js, "\"boom\"");
        assert_eq!(t.original_position(js_line, js_col), Some((5, 17)));
        // Positions inside the wrapper, before any user code, have no original.
        assert_eq!(t.original_position(1, 1), None);
        assert_eq!(t.original_position(0, 0), None);
        assert_eq!(
            t.snippet(5, 7).as_deref(),
            Some("throw new Error('boom');\n      ^")
        );

        // Annotations, generics and an enum above don't shift the mapping.
        let src = "type A<T> = { v: T };\nenum E { X = 1 }\nfunction f<T>(a: A<T>): T {\n  return a.v;\n}\nconst n: number = f<number>({ v: 1 });\nif (n > 0) {\n  throw new Error(`bad ${n}`);\n}";
        let t = transpile(src, &TranspileLimits::default()).unwrap();
        let (l, c) = find(&t.js, "throw new Error(`bad");
        assert_eq!(t.original_position(l, c), Some((8, 3)), "{}", t.js);
        let (l, c) = find(&t.js, "return a.v");
        assert_eq!(t.original_position(l, c), Some((4, 3)));
        // A position in the middle of a token maps to that token's start.
        assert_eq!(t.original_position(l, c + 3), Some((4, 3)));

        // Non-ASCII before the position: columns are characters in the TypeScript.
        let src = "const s: string = 'ééé'; throw new Error(s);";
        let t = transpile(src, &TranspileLimits::default()).unwrap();
        let (l, c) = find(&t.js, "throw");
        assert_eq!(t.original_position(l, c), Some((1, 26)), "{}", t.js);
    }

    /// 1-based line and UTF-16 column of the first occurrence of `needle` in `js`.
    fn find(js: &str, needle: &str) -> (u32, u32) {
        for (i, line) in js.lines().enumerate() {
            if let Some(byte) = line.find(needle) {
                let col = line[..byte].encode_utf16().count();
                return (i as u32 + 1, col as u32 + 1);
            }
        }
        panic!("{needle:?} not in:\n{js}");
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
                                e.code
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

//! The AST passes between parsing and codegen: rejecting module syntax (`import`/`export`,
//! `import()`, `import.meta`, `require(...)`) with `MODULE_SYNTAX`, rejecting the one string
//! literal shape oxc cannot encode (see [`check_string_literals`]), and wrapping the body in
//! `(async () => { ... })()` with an automatic `return` of a trailing expression. Both work on
//! oxc's AST; the wrapper's `return` search is iterative so deep statement nesting cannot
//! overflow the stack.

use oxc::allocator::{Allocator, ArenaVec};
use oxc::ast::ast::{
    ArrowFunctionBody, Directive, Expression, FormalParameterKind, FormalParameters, FunctionBody,
    ModuleDeclaration, Program, Statement, StringLiteral,
};
use oxc::ast::builder::AstBuilder;
use oxc::ast_visit::{Visit, walk};
use oxc::span::{SPAN, SourceType, Span};

use super::errors::CodeError;
use super::positions::LineIndex;
use super::{MODULE_SYNTAX, SYNTAX_ERROR};

const MODULE_HINT: &str = "Code Mode scripts cannot import modules; everything available is on \
                           the global `pg` object — see pg.help()";

// ---------------------------------------------------------------------------------------------
// Module syntax
// ---------------------------------------------------------------------------------------------

/// `Err(MODULE_SYNTAX)` at the first `import`/`export`/`require` anywhere in the program.
pub(super) fn check_module_syntax(
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
// String literals oxc cannot encode
// ---------------------------------------------------------------------------------------------

/// `Err(SYNTAX_ERROR)` at the first string literal that has a lone surrogate escape
/// (`\uD800`–`\uDFFF`) and also an identity-escaped U+FFFD (a backslash before the character
/// itself).
///
/// Why: oxc stores a literal with lone surrogates as UTF-8 in which U+FFFD marks an escape,
/// `\u{FFFD}d800` for the surrogate and `\u{FFFD}fffd` for a real U+FFFD. Its lexer (0.146)
/// escapes every U+FFFD of such a literal except one written as `\�`, which it stores bare.
/// Codegen then reads the next four bytes as the escaped code unit: it panics when they are not
/// ASCII (found by the `transpile` fuzz target) and prints a different string when they are
/// hex digits (`"\uD800\�abcd"` would come out as `"\ud800\uabcd"`). Rejecting the shape
/// with a way out keeps the transpiler total and every accepted string exact.
pub(super) fn check_string_literals(
    program: &Program<'_>,
    source: &str,
    lines: &LineIndex,
) -> Result<(), CodeError> {
    let mut finder = MisencodedStringFinder {
        source,
        found: None,
    };
    finder.visit_program(program);
    match finder.found {
        Some(span) => Err(CodeError::at(
            SYNTAX_ERROR,
            "this string literal has both a lone surrogate escape (\\uD800-\\uDFFF) and an \
             escaped U+FFFD character (a backslash before it), which the TypeScript compiler \
             cannot represent; write the U+FFFD as \\uFFFD"
                .into(),
            source,
            lines,
            span.start,
        )),
        None => Ok(()),
    }
}

/// Finds the first string literal that [`check_string_literals`] rejects.
struct MisencodedStringFinder<'s> {
    source: &'s str,
    found: Option<Span>,
}

impl<'a> Visit<'a> for MisencodedStringFinder<'_> {
    fn visit_string_literal(&mut self, it: &StringLiteral<'a>) {
        if self.found.is_none() && it.lone_surrogates {
            let raw = it
                .raw
                .map_or_else(|| it.span.source_text(self.source), |r| r.as_str());
            if escapes_replacement_character(raw) {
                self.found = Some(it.span);
            }
        }
    }
}

/// Does this raw literal text have a backslash (itself not escaped) right before U+FFFD?
fn escapes_replacement_character(raw: &str) -> bool {
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        // Consuming the escaped character too keeps `\\` from escaping what follows it.
        if c == '\\' && chars.next() == Some('\u{FFFD}') {
            return true;
        }
    }
    false
}

// ---------------------------------------------------------------------------------------------
// Async wrapper and auto-return
// ---------------------------------------------------------------------------------------------

/// Move the program body into `"use strict"; (async () => { body })();`, turning a trailing
/// expression statement into `return <expr>;` when the body has no top-level `return`.
pub(super) fn wrap_async<'a>(allocator: &'a Allocator, program: &mut Program<'a>) {
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

#[cfg(test)]
mod tests {
    use super::super::test_support::{body, err, js};
    use super::super::{MODULE_SYNTAX, SYNTAX_ERROR};

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
    fn string_literals_oxc_would_misencode_are_rejected() {
        // A lone surrogate escape and a `\` before U+FFFD in one literal: oxc stored that
        // U+FFFD bare, and its codegen panicked (the fuzz finding, first case) or printed
        // another string (`\uabcd` for the second).
        let cases = [
            ("[\"\\ud800\\\u{FFFD}\"]", 1, 2),
            (
                "const a = 1;\nconst s = [\"\\ud800\\\u{FFFD}abcd\"];",
                2,
                12,
            ),
            ("const o = { \"\\uDFFF\\\u{FFFD}\": 1 };", 1, 13),
            ("class A { 'x\\ud800y\\\u{FFFD}'() {} }", 1, 11),
            ("f(\"\\\u{FFFD}\\udc00\")", 1, 3),
        ];
        for (src, line, column) in cases {
            let e = err(src);
            assert_eq!(e.code, SYNTAX_ERROR, "{src}: {e:?}");
            assert!(
                e.message.contains("write the U+FFFD as \\uFFFD"),
                "{src}: {e:?}"
            );
            assert_eq!(
                (e.line, e.column),
                (Some(line), Some(column)),
                "{src}: {e:?}"
            );
        }
        // Accepted, and printed as the same string: U+FFFD written bare, as `\uFFFD`, or after
        // an escaped backslash next to a lone surrogate; `\` before U+FFFD with no surrogate.
        for (src, printed) in [
            (
                "[\"\\ud800\u{FFFD}abcd\"]",
                "return [\"\\ud800\u{FFFD}abcd\"];",
            ),
            ("[\"\\ud800\\uFFFD\"]", "return [\"\\ud800\u{FFFD}\"];"),
            (
                "[\"\\ud800\\\\\u{FFFD}\"]",
                "return [\"\\ud800\\\\\u{FFFD}\"];",
            ),
            ("[\"a\\\u{FFFD}b\"]", "return [\"a\u{FFFD}b\"];"),
        ] {
            assert_eq!(body(src), printed, "{src}");
        }
    }
}

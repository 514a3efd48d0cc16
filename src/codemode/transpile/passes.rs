//! The AST passes between parsing and codegen: rejecting module syntax (`import`/`export`,
//! `import()`, `import.meta`, `require(...)`) with `MODULE_SYNTAX`, refusing the tokens oxc
//! accepts wrongly (see [`check_oxc_gaps`]), and wrapping the body in
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
use oxc::parser::Parser;
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
// What oxc lets through wrongly: unchecked tokens, a string it cannot encode, decorators
// ---------------------------------------------------------------------------------------------

/// `Err(SYNTAX_ERROR)` at the first thing oxc (0.146) lets through wrongly. All three were
/// found by the `transpile` fuzz target:
///
/// * **Lexical errors lost in a rewind.** In TypeScript, after `<` or `<<` in an expression
///   the parser tries type arguments first (`f<T>(x)`) and rewinds when that fails. A lexical
///   error in the token right after it (`a << "\xZZ" << b`, `a << 1_ << b`, `a << x\" << b`)
///   can be dropped by the rewind, and the token is kept as the lexer recovered it: `"ZZ"`,
///   `1`, `x`, or an identifier with an empty name that prints as nothing. So every token
///   whose text has what the lexer validates (a backslash in a string or an identifier, a `_`
///   in a number) is lexed again alone, as JavaScript, where no type arguments are tried, and
///   its first error is the script's.
/// * **A string oxc cannot encode.** oxc stores a string with lone surrogates as UTF-8 in
///   which U+FFFD marks an escape, `\u{FFFD}d800` for the surrogate and `\u{FFFD}fffd` for a
///   real U+FFFD. Its lexer escapes every U+FFFD of such a string except one written `\�`,
///   which it stores bare; codegen then reads the next four bytes as the escaped code unit and
///   panics when they are not ASCII, or prints another string when they are hex digits
///   (`"\uD800\�abcd"` came out as `"\ud800\uabcd"`). That shape is refused with a way out.
/// * **Decorators.** The TypeScript transform leaves `@dec` on classes, members and parameters
///   in the JavaScript (a parameter decorator is not JavaScript at all), and Boa parses none
///   of them: refused here, with the reason, instead of as a syntax error in code the agent
///   never wrote.
pub(super) fn check_oxc_gaps(
    program: &Program<'_>,
    source: &str,
    lines: &LineIndex,
) -> Result<(), CodeError> {
    let mut finder = GapFinder {
        source,
        scratch: Allocator::default(),
        found: None,
    };
    finder.visit_program(program);
    match finder.found {
        Some((message, span)) => Err(CodeError::at(
            SYNTAX_ERROR,
            message,
            source,
            lines,
            span.start,
        )),
        None => Ok(()),
    }
}

/// Finds the first thing [`check_oxc_gaps`] refuses, with what to say about it.
struct GapFinder<'s> {
    source: &'s str,
    /// The arena the lone tokens are parsed in, reset between them.
    scratch: Allocator,
    found: Option<(String, Span)>,
}

impl GapFinder<'_> {
    /// Parses `text` alone as a JavaScript expression (strict, as the script is a module);
    /// records its first error at `span`.
    fn relex(&mut self, text: &str, span: Span) {
        if self.found.is_some() {
            return;
        }
        self.scratch.reset();
        if let Err(errors) = Parser::new(&self.scratch, text, SourceType::mjs()).parse_expression()
        {
            let message = errors
                .first()
                .map_or_else(|| "invalid token".to_owned(), |e| e.message.to_string());
            self.found = Some((message, span));
        }
    }

    /// A number with a separator, lexed again alone.
    fn number(&mut self, span: Span) {
        let raw = span.source_text(self.source);
        if raw.contains('_') {
            self.relex(raw, span);
        }
    }

    /// An identifier with an escape, lexed again alone after `prefix`.
    fn identifier(&mut self, span: Span, name: &str, prefix: &str) {
        let text = span.source_text(self.source);
        if text != name && text.contains('\\') {
            self.relex(&format!("{prefix}{text}"), span);
        }
    }
}

impl<'a> Visit<'a> for GapFinder<'_> {
    fn visit_string_literal(&mut self, it: &StringLiteral<'a>) {
        let raw = it.span.source_text(self.source);
        if it.lone_surrogates && self.found.is_none() && escapes_replacement_character(raw) {
            self.found = Some((
                "this string literal has both a lone surrogate escape (\\uD800-\\uDFFF) and \
                 an escaped U+FFFD character (a backslash before it), which the TypeScript \
                 compiler cannot represent; write the U+FFFD as \\uFFFD"
                    .into(),
                it.span,
            ));
        }
        if raw.contains('\\') {
            self.relex(raw, it.span);
        }
    }

    fn visit_decorator(&mut self, it: &oxc::ast::ast::Decorator<'a>) {
        if self.found.is_none() {
            self.found = Some((
                "decorators are not supported: the engine that runs Code Mode has none; call \
                 the function on the class or value instead"
                    .into(),
                it.span,
            ));
        }
    }

    fn visit_numeric_literal(&mut self, it: &oxc::ast::ast::NumericLiteral<'a>) {
        self.number(it.span);
    }

    fn visit_big_int_literal(&mut self, it: &oxc::ast::ast::BigIntLiteral<'a>) {
        self.number(it.span);
    }

    fn visit_identifier_reference(&mut self, it: &oxc::ast::ast::IdentifierReference<'a>) {
        self.identifier(it.span, &it.name, "");
    }

    fn visit_binding_identifier(&mut self, it: &oxc::ast::ast::BindingIdentifier<'a>) {
        self.identifier(it.span, &it.name, "");
    }

    fn visit_label_identifier(&mut self, it: &oxc::ast::ast::LabelIdentifier<'a>) {
        self.identifier(it.span, &it.name, "");
    }

    fn visit_identifier_name(&mut self, it: &oxc::ast::ast::IdentifierName<'a>) {
        // A property name may be a reserved word (`a.\u0069f`); after `a.` it is one.
        self.identifier(it.span, &it.name, "a.");
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
    fn lexical_errors_a_type_argument_guess_dropped_are_reported() {
        // After `<<` (or `<`) the parser tries type arguments and rewinds; oxc dropped the
        // next token's lexical error and kept what its lexer recovered. The first case is the
        // fuzz finding: `\"` became an identifier with no name, printed as nothing.
        for (src, column) in [
            ("o<o<<\\\"<< on", 6),
            ("a << \"\\xZZ\" << b", 6),
            ("a << '\\u{110000}' << b", 6),
            ("a << 1_ << b", 6),
            ("a << x\\\" << b", 6),
            ("a << o.x\\u00 << b", 8),
        ] {
            let e = err(src);
            assert_eq!(e.code, SYNTAX_ERROR, "{src}: {e:?}");
            assert_eq!((e.line, e.column), (Some(1), Some(column)), "{src}: {e:?}");
        }
        // Escapes and separators that are valid stay accepted, printed as they mean.
        for (src, printed) in [
            ("a << \"\\x41\\u{42}\\\n\" << b", "return a << \"AB\" << b;"),
            ("a << 1_000 << 0xFF_FF", "return a << 1e3 << 65535;"),
            (
                "const \\u0061 = 1;\n\\u{61} << 2",
                "const a = 1; return a << 2;",
            ),
            (
                "const o = { \\u0069f: 1 };\no.\\u0069f",
                "const o = { if: 1 }; return o.if;",
            ),
            (
                "type T = \"\\n\";\nconst t: T = \"\\n\";\nt",
                "const t = \"\\n\"; return t;",
            ),
            (
                "l\\u0061bel: for (;;) break label;",
                "label: for (;;) break label;",
            ),
        ] {
            assert_eq!(body(src), printed, "{src}");
        }
    }

    #[test]
    fn decorators_are_refused() {
        // The fuzz finding: a parameter decorator survived into JavaScript that does not parse.
        for (src, line, column) in [
            (
                "class A {\n  constructor(@inject name: string) {}\n}",
                2,
                15,
            ),
            ("function dec(c: any) { return c; }\n@dec class A {}", 2, 1),
            ("class A { @log m() {} }", 1, 11),
            ("class A { @x.y(1) accessor v = 1 }", 1, 11),
        ] {
            let e = err(src);
            assert_eq!(e.code, SYNTAX_ERROR, "{src}: {e:?}");
            assert!(e.message.contains("decorators are not supported"), "{e:?}");
            assert_eq!(
                (e.line, e.column),
                (Some(line), Some(column)),
                "{src}: {e:?}"
            );
        }
        // `@` elsewhere is not a decorator.
        assert_eq!(body("'a@b'"), "return \"a@b\";");
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

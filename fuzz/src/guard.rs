//! The native-bomb guard.
//!
//! Some JavaScript costs time or memory inside a *single* Boa built-in, where no instruction
//! budget, loop limit or recursion limit can interrupt it: `'x'.repeat(2 ** 30)` (aborts on
//! allocation failure), `new Array(1e9).fill(0)`, a catastrophic regular expression, a sort
//! or `join` of a huge array-like, BigInt arithmetic on huge numbers, a string doubled by
//! `s += s` thirty times. In production these are handled outside the engine: the worker
//! process has an address-space rlimit and the parent kills it at the deadline (see
//! docs/SECURITY.md). The fuzz targets run the engine on a thread of the fuzzing process, which
//! has neither, so each of those programs would abort or hang the fuzzer — a known,
//! documented limitation reported as a crash on every run.
//!
//! Two layers keep them out without dropping whole areas of the engine from the fuzzing:
//!
//! 1. [`SHIM`], a JavaScript prologue inserted after the program's `"use strict"`, wraps
//!    the size-driven built-ins so that an oversized request throws a `RangeError` whose
//!    message starts with [`CAP_MESSAGE`] instead of running: `Array.prototype.*` and
//!    `%TypedArray%.prototype.*` on receivers longer than [`MAX_LENGTH`] elements (64 Ki for
//!    typed arrays, which also cap their constructors and `ArrayBuffer`), `Array(n)`/`new Array(n)`, `Array.from`, `Function.prototype.apply`,
//!    `Reflect.apply/construct` with longer argument lists; `String.prototype.*` on strings
//!    over [`MAX_STRING`] characters and `repeat`/`padStart`/`padEnd`/`concat`/`replace*`
//!    whose result would exceed it; `RegExp.prototype.exec` on inputs longer than
//!    [`MAX_REGEX_INPUT`] characters (catastrophic backtracking needs only ~30); `JSON.stringify`
//!    of over-long arrays (two levels deep); the `BigInt` function; and setting a prototype
//!    whose chain contains a proxy (`Object.setPrototypeOf`, `Reflect.setPrototypeOf`,
//!    `__proto__`), which can close a cycle through the proxy that makes every property
//!    lookup recurse natively until the stack overflows. Because it replaces
//!    the built-ins themselves, computed access (`s['re' + 'peat']`) is capped too, and the
//!    built-ins stay fuzzed at small sizes. The shim runs in the program's realm, so its
//!    instructions count against the program's budget.
//! 2. [`scan`], a short static skip list for what no shim can reach because it is an
//!    operator, not a method: BigInt literals together with `*`, `**`, `<<` (or their
//!    assignments), and geometric string growth: `x += …x…`, `x = …x…x…`, and a `+` chain or
//!    template literal using the same variable or property twice (`y + y`, `${s}${s}`).
//!    Skipped inputs are counted per reason and the counts are printed when the fuzzer exits.
//!
//! `PGMCP_FUZZ_NO_GUARD=1` turns both layers off (to see the raw limitations). Anything the
//! guard does not cover still surfaces as a libFuzzer timeout or out-of-memory report: triage
//! it as described in docs/SECURITY.md.

use oxc::allocator::Allocator;
use std::collections::HashSet;

use oxc::ast::ast::{
    AssignmentExpression, BigIntLiteral, BinaryExpression, Expression, TemplateLiteral,
};
use oxc::ast_visit::{Visit, walk};
use oxc::parser::Parser;
use oxc::span::{GetSpan, SourceType};
use oxc::syntax::operator::{AssignmentOperator, BinaryOperator};

/// Longest array (or array-like) the shimmed built-ins accept.
pub const MAX_LENGTH: u32 = 10_000;
/// Longest string the shimmed string built-ins accept or produce.
pub const MAX_STRING: u32 = 1 << 20;
/// Longest input `RegExp.prototype.exec` accepts.
pub const MAX_REGEX_INPUT: u32 = 16;
/// Start of the message of every error the shim throws.
pub const CAP_MESSAGE: &str = "pgmcp fuzz harness cap";

/// The prologue; `__LEN__`, `__STR__`, `__RE__` are replaced by the constants above.
const SHIM_TEMPLATE: &str = r#"(function () {
  "use strict";
  const LEN = __LEN__, TLEN = 1 << 16, STR = __STR__, RE_INPUT = __RE__;
  const R = Reflect, apply = R.apply, construct = R.construct, ownKeys = R.ownKeys;
  const getDesc = Object.getOwnPropertyDescriptor, defProp = Object.defineProperty;
  const getProto = Object.getPrototypeOf, Num = Number, Str = String, RErr = RangeError;
  const isArr = Array.isArray, origArray = Array;
  function cap(what) { throw new RErr("__MSG__: " + what); }
  function lenOf(o) {
    if (o === null || o === undefined) return 0;
    const t = typeof o;
    if (t !== "object" && t !== "function" && t !== "string") return 0;
    const n = Num(o.length);
    return n > 0 ? n : 0;
  }
  function strLen(o) { return typeof o === "string" ? o.length : 0; }
  function wrap(obj, key, check) {
    const d = getDesc(obj, key);
    if (!d || typeof d.value !== "function") return;
    const orig = d.value;
    d.value = { [key](...args) { check(this, args); return apply(orig, this, args); } }[key];
    defProp(obj, key, d);
  }
  function wrapAll(obj, checkFor) {
    const keys = ownKeys(obj);
    for (let i = 0; i < keys.length; i++) {
      if (keys[i] !== "constructor") wrap(obj, keys[i], checkFor(keys[i]));
    }
  }
  const arrLen = (self) => { if (lenOf(self) > LEN) cap("array length"); };
  const arrGrow = (self, args) => { if (lenOf(self) + args.length > LEN) cap("array length"); };
  const arrConcat = (self, args) => {
    let n = lenOf(self);
    for (let i = 0; i < args.length; i++) n += isArr(args[i]) ? lenOf(args[i]) : 1;
    if (n > LEN) cap("array length");
  };
  const arrFlat = (self) => {
    const n = lenOf(self);
    if (n > LEN) cap("array length");
    let total = 0;
    for (let i = 0; i < n; i++) { const v = self[i]; total += isArr(v) ? lenOf(v) : 1; }
    if (total > LEN) cap("array length");
  };
  const arrJoin = (self, args) => {
    const n = lenOf(self);
    if (n > LEN) cap("array length");
    let total = n * (args[0] === undefined ? 1 : Str(args[0]).length);
    for (let i = 0; i < n && total <= STR; i++) {
      const v = self[i];
      total += typeof v === "string" ? v.length : 24;
    }
    if (total > STR) cap("string length");
  };
  const AP = Array.prototype;
  wrapAll(AP, (k) =>
    k === "push" || k === "unshift" || k === "splice" ? arrGrow
    : k === "concat" ? arrConcat
    : k === "flat" ? arrFlat
    : k === "join" || k === "toString" || k === "toLocaleString" ? arrJoin
    : arrLen);
  const flatMap = AP.flatMap;
  defProp(AP, "flatMap", { writable: true, configurable: true, value: {
    flatMap(fn, thisArg) {
      arrLen(this);
      let total = 0;
      const f = typeof fn !== "function" ? fn : function (v, i, a) {
        const r = apply(fn, thisArg, [v, i, a]);
        total += isArr(r) ? lenOf(r) : 1;
        if (total > LEN) cap("array length");
        return r;
      };
      return apply(flatMap, this, [f, thisArg]);
    } }.flatMap });
  const TAP = getProto(Uint8Array.prototype);
  wrapAll(TAP, () => (self) => { if (lenOf(self) > TLEN) cap("typed array length"); });
  const TA = getProto(Uint8Array);
  wrap(TA, "from", (self, args) => { if (lenOf(args[0]) > TLEN) cap("typed array length"); });
  wrap(origArray, "from", (self, args) => { if (lenOf(args[0]) > LEN) cap("array length"); });
  wrap(Function.prototype, "apply", (self, args) => {
    if (lenOf(args[1]) > LEN) cap("argument list length");
  });
  wrap(R, "apply", (self, args) => { if (lenOf(args[2]) > LEN) cap("argument list length"); });
  wrap(R, "construct", (self, args) => {
    if (lenOf(args[1]) > LEN) cap("argument list length");
  });
  const SP = String.prototype;
  const strOnly = (self) => { if (strLen(self) > STR) cap("string length"); };
  wrapAll(SP, (k) =>
    k === "repeat" ? (self, args) => {
      strOnly(self);
      if (strLen(self) * Num(args[0]) > STR) cap("string length");
    }
    : k === "padStart" || k === "padEnd" ? (self, args) => {
      strOnly(self);
      if (Num(args[0]) > STR) cap("string length");
    }
    : k === "concat" ? (self, args) => {
      let n = strLen(self);
      for (let i = 0; i < args.length; i++) n += Str(args[i]).length;
      if (n > STR) cap("string length");
    }
    : k === "replace" || k === "replaceAll" ? (self, args) => {
      strOnly(self);
      if (strLen(self) * (strLen(args[1]) + 1) > STR) cap("string length");
    }
    : strOnly);
  wrap(RegExp.prototype, "exec", (self, args) => {
    if (Str(args[0]).length > RE_INPUT) cap("regular expression input length");
  });
  const stringify = JSON.stringify;
  defProp(JSON, "stringify", { writable: true, configurable: true, value: {
    stringify(value, replacer, space) {
      if (isArr(value)) {
        const n = lenOf(value);
        if (n > LEN) cap("array length");
        for (let i = 0; i < n; i++) if (isArr(value[i]) && lenOf(value[i]) > LEN) cap("array length");
      }
      return apply(stringify, JSON, [value, replacer, space]);
    } }.stringify });
  const check = (args) => {
    if (args.length === 1 && typeof args[0] === "number" && args[0] > LEN) cap("array length");
  };
  const ArrayProxy = new Proxy(origArray, {
    apply(t, self, args) { check(args); return apply(t, self, args); },
    construct(t, args, nt) { check(args); return construct(t, args, nt === ArrayProxy ? t : nt); },
  });
  defProp(globalThis, "Array", { writable: true, configurable: true, value: ArrayProxy });
  defProp(AP, "constructor", { writable: true, configurable: true, value: ArrayProxy });
  const sized = (name, what) => {
    const C = globalThis[name];
    if (typeof C !== "function") return;
    const P = new Proxy(C, { construct(t, args, nt) {
      const n = typeof args[0] === "number" ? args[0] : lenOf(args[0]);
      const bytes = args[0] !== null && typeof args[0] === "object" && typeof args[0].byteLength === "number"
        ? args[0].byteLength : 0;
      if (n > TLEN || bytes > TLEN * 8) cap(what);
      return construct(t, args, nt === P ? t : nt);
    } });
    defProp(globalThis, name, { writable: true, configurable: true, value: P });
    defProp(C.prototype, "constructor", { writable: true, configurable: true, value: P });
  };
  const typed = ["Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array",
    "Int32Array", "Uint32Array", "Float16Array", "Float32Array", "Float64Array",
    "BigInt64Array", "BigUint64Array"];
  for (let i = 0; i < typed.length; i++) sized(typed[i], "typed array length");
  sized("ArrayBuffer", "buffer size");
  // A proxy in a prototype chain can close a cycle the engine's own check cannot see
  // (target -> ... -> proxy -> target); every property lookup then recurses natively until
  // the native stack overflows.
  const proxies = new WeakSet(), wsAdd = WeakSet.prototype.add, wsHas = WeakSet.prototype.has;
  const OrigProxy = Proxy, revocable = Proxy.revocable;
  const ProxyW = new OrigProxy(OrigProxy, {
    construct(t, args, nt) {
      const p = construct(t, args, nt === ProxyW ? t : nt);
      apply(wsAdd, proxies, [p]);
      return p;
    },
  });
  defProp(OrigProxy, "revocable", { writable: true, configurable: true, value: {
    revocable(t, h) {
      const r = apply(revocable, OrigProxy, [t, h]);
      apply(wsAdd, proxies, [r.proxy]);
      return r;
    } }.revocable });
  defProp(globalThis, "Proxy", { writable: true, configurable: true, value: ProxyW });
  const protoCheck = (v) => {
    for (let i = 0; v !== null && (typeof v === "object" || typeof v === "function") && i < LEN; i++) {
      if (apply(wsHas, proxies, [v])) cap("proxy in a prototype chain");
      v = getProto(v);
    }
  };
  wrap(Object, "setPrototypeOf", (self, args) => protoCheck(args[1]));
  wrap(R, "setPrototypeOf", (self, args) => protoCheck(args[1]));
  const protoDesc = getDesc(Object.prototype, "__proto__");
  if (protoDesc && protoDesc.set) {
    const protoSet = protoDesc.set;
    protoDesc.set = { set __proto__(v) { protoCheck(v); apply(protoSet, this, [v]); } };
    protoDesc.set = getDesc(protoDesc.set, "__proto__").set;
    defProp(Object.prototype, "__proto__", protoDesc);
  }
  defProp(globalThis, "BigInt", { writable: true, configurable: true, value: function BigInt() {
    cap("BigInt");
  } });
})();
"#;

/// The shim, ready to insert.
pub fn shim() -> String {
    SHIM_TEMPLATE
        .replace("__LEN__", &MAX_LENGTH.to_string())
        .replace("__STR__", &MAX_STRING.to_string())
        .replace("__RE__", &MAX_REGEX_INPUT.to_string())
        .replace("__MSG__", CAP_MESSAGE)
}

/// Whether the guard is on (`PGMCP_FUZZ_NO_GUARD` unset or `0`).
pub fn enabled() -> bool {
    !std::env::var("PGMCP_FUZZ_NO_GUARD").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Inserts the shim into transpiled JavaScript, after its `"use strict"` directive (so the
/// program stays strict-mode). `None` if the program does not have the transpiler's shape.
pub fn inject(js: &str, shim: &str) -> Option<String> {
    const PROLOGUE: &str = "\"use strict\";\n";
    let rest = js.strip_prefix(PROLOGUE)?;
    Some(format!("{PROLOGUE}{shim}{rest}"))
}

/// Reasons [`scan`] skips a program.
pub const SKIP_REASONS: [&str; 2] = ["bigint-arithmetic", "self-append"];

/// Statically looks for the operator-driven bombs; returns the reason to skip, if any.
pub fn scan(js: &str) -> Option<&'static str> {
    let alloc = Allocator::default();
    let parsed = Parser::new(&alloc, js, SourceType::cjs()).parse();
    let mut finder = Finder {
        src: js,
        bigint_literal: false,
        big_arith: false,
        self_append: false,
    };
    finder.visit_program(&parsed.program);
    if finder.bigint_literal && finder.big_arith {
        return Some(SKIP_REASONS[0]);
    }
    if finder.self_append {
        return Some(SKIP_REASONS[1]);
    }
    None
}

struct Finder<'s> {
    src: &'s str,
    bigint_literal: bool,
    big_arith: bool,
    self_append: bool,
}

/// Occurrences of `name` in `text` as a whole word.
fn count_word(text: &str, name: &str) -> usize {
    if name.is_empty() {
        return 0;
    }
    let is_ident = |c: char| c.is_alphanumeric() || c == '_' || c == '$';
    text.match_indices(name)
        .filter(|(i, _)| {
            let before = text[..*i].chars().next_back();
            let after = text[i + name.len()..].chars().next();
            !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
        })
        .count()
}

/// The operands of a chain of `+`.
fn addition_leaves<'b, 'a>(e: &'b Expression<'a>, out: &mut Vec<&'b Expression<'a>>) {
    match e.without_parentheses() {
        Expression::BinaryExpression(b) if b.operator == BinaryOperator::Addition => {
            addition_leaves(&b.left, out);
            addition_leaves(&b.right, out);
        }
        other => out.push(other),
    }
}

/// Two operands that are the same variable or property (`y + y`, `${o.s}${o.s}`): one step
/// of geometric growth, whatever the assignment target is called.
fn has_repeated_operand(src: &str, operands: &[&Expression<'_>]) -> bool {
    let mut seen = HashSet::new();
    operands
        .iter()
        .filter(|e| {
            matches!(
                e.without_parentheses(),
                Expression::Identifier(_)
                    | Expression::StaticMemberExpression(_)
                    | Expression::ComputedMemberExpression(_)
            )
        })
        .any(|e| !seen.insert(e.span().source_text(src)))
}

impl<'a> Visit<'a> for Finder<'_> {
    fn visit_template_literal(&mut self, it: &TemplateLiteral<'a>) {
        let operands: Vec<&Expression<'a>> = it.expressions.iter().collect();
        if has_repeated_operand(self.src, &operands) {
            self.self_append = true;
        }
        walk::walk_template_literal(self, it);
    }

    fn visit_big_int_literal(&mut self, _it: &BigIntLiteral<'a>) {
        self.bigint_literal = true;
    }

    fn visit_binary_expression(&mut self, it: &BinaryExpression<'a>) {
        if it.operator == BinaryOperator::Addition {
            let mut leaves = Vec::new();
            addition_leaves(&it.left, &mut leaves);
            addition_leaves(&it.right, &mut leaves);
            if has_repeated_operand(self.src, &leaves) {
                self.self_append = true;
            }
        }
        if matches!(
            it.operator,
            BinaryOperator::Exponential
                | BinaryOperator::Multiplication
                | BinaryOperator::ShiftLeft
        ) {
            self.big_arith = true;
        }
        walk::walk_binary_expression(self, it);
    }

    fn visit_assignment_expression(&mut self, it: &AssignmentExpression<'a>) {
        if matches!(
            it.operator,
            AssignmentOperator::Exponential
                | AssignmentOperator::Multiplication
                | AssignmentOperator::ShiftLeft
        ) {
            self.big_arith = true;
        }
        let target = it.left.span().source_text(self.src).trim();
        let value = it.right.span().source_text(self.src);
        let uses = count_word(value, target);
        let grows = match it.operator {
            AssignmentOperator::Addition => uses >= 1,
            AssignmentOperator::Assign => uses >= 2,
            _ => false,
        };
        if grows {
            self.self_append = true;
        }
        walk::walk_assignment_expression(self, it);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_operator_bombs() {
        assert_eq!(
            scan("let s = 'x'; while (true) s += s;"),
            Some("self-append")
        );
        assert_eq!(scan("let s = 'x'; s = s + s;"), Some("self-append"));
        assert_eq!(scan("o.s = `${o.s}${o.s}`"), Some("self-append"));
        assert_eq!(scan("let x = 2n ** 100000000n;"), Some("bigint-arithmetic"));
        assert_eq!(scan("let s = 0; s += 1; s = s + 1;"), None);
        assert_eq!(
            scan("let x = 2n + 1n; y = 3 * 4;"),
            Some("bigint-arithmetic")
        );
        assert_eq!(scan("let x = 2n + 1n;"), None);
        assert_eq!(scan("y = x; x = y + y;"), Some("self-append"));
        assert_eq!(scan("x = `${y}-${y}`;"), Some("self-append"));
        assert_eq!(scan("x = a.b + a.c + 'a' + 'a';"), None);
    }
}

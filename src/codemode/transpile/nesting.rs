//! The nesting pre-scan: a linear, non-recursive JavaScript/TypeScript lexer that estimates
//! how deep oxc's recursive-descent parser (and every recursive AST pass after it) will go, so
//! that a script nesting too deep is rejected with `NESTING_TOO_DEEP` before the parser can
//! overflow the thread stack, and that one whose type-argument guesses would multiply the
//! parser's time is rejected too. See [`scan_nesting`] for what it counts.
//!
//! Costs are in half-levels, so that `max_depth` levels = `2 * max_depth` half-levels. They were
//! calibrated by measuring, for each construct below, how many nestings of it the whole
//! pipeline (parse, semantic, transform, codegen) survives on a 2 MiB thread in a debug build
//! (the worst case): about 2–3.5 KiB of stack per level, so the default cap of 256 levels uses
//! well under 1 MiB, and the hard ceiling keeps even a raised cap inside 2 MiB.

/// Hard ceiling on the nesting depth the parser is ever allowed to see, whatever
/// `max_depth` says: the parser and the recursive passes after it must fit a default 2 MiB
/// thread stack (see the `no_panic_on_garbage` test, which runs there).
/// Measured on a 2 MiB thread (see [`COST_BRACKET`]): nested parentheses overflow at ~730
/// levels in a debug build and ~1330 in release, so the ceilings keep ~45% / ~40% headroom.
pub(super) const HARD_MAX_DEPTH: usize = if cfg!(debug_assertions) { 400 } else { 768 };

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

/// How many type-argument guesses may be open at once, in bits of the parser's worst-case
/// re-parse factor (see [`Scanner::guess_bits`]): at most 2^6 = 64 passes over any region.
pub(super) const MAX_GUESS_BITS: u32 = 6;

/// Why the pre-scan refused a script, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Overflow {
    /// Nesting beyond `max_depth`, at this byte offset.
    Depth(u32),
    /// More open type-argument guesses than [`MAX_GUESS_BITS`] allows, at this byte offset.
    Guesses(u32),
}

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
    /// [`Scanner::guess_bits`] of the open `<` frames.
    guess_bits: u32,
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
///
/// It also bounds the parser's time. In an expression, TypeScript's parser takes a `<` (or
/// `<<`) as the start of type arguments first (`f<T>(x)`) and, when that fails, undoes it and
/// parses the same text again as a comparison. A type can hold an expression again (a
/// computed key, `{[k]: T}`), so guesses inside guesses multiply: `a<{[` repeated 24 times
/// took oxc seconds and gigabytes (a fuzz finding; its arena keeps what a failed guess
/// allocated). With `m` `<` open at one bracket level, the text after them can be parsed `m + 1`
/// times; the scan adds up `⌈log2(m + 1)⌉` over the open levels and refuses the script with
/// [`Overflow::Guesses`] past [`MAX_GUESS_BITS`]. A `>` that closes a `<`, a closing bracket and
/// a new statement end guesses, so generic calls (`new Map<string, number>()`) and comparisons
/// in separate statements or arguments never add up.
pub(super) fn scan_nesting(src: &[u8], max_depth: usize) -> Result<(), Overflow> {
    let limit = u32::try_from(max_depth.saturating_mul(2)).unwrap_or(u32::MAX);
    let mut s = Scanner {
        src,
        i: 0,
        stack: Vec::with_capacity(64),
        prev: Prev::Operator,
        pending: Pending::None,
        header_next: false,
        limit,
        guess_bits: 0,
    };
    s.stack.push(Frame {
        kind: 0,
        base: 0,
        chain: 0,
        header: false,
    });
    match s.run() {
        Ok(()) => Ok(()),
        Err(offset) if s.guess_bits > MAX_GUESS_BITS => Err(Overflow::Guesses(offset)),
        Err(offset) => Err(Overflow::Depth(offset)),
    }
}

/// `⌈log2(m + 1)⌉`: the bits of the re-parse factor `m + 1` of `m` open `<` at one level.
fn bits(m: u32) -> u32 {
    u32::BITS - m.leading_zeros()
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

    /// The `<` frames on top of the stack, above the innermost bracket.
    fn open_angles(&self) -> u32 {
        let open = self
            .stack
            .iter()
            .rev()
            .take_while(|f| f.kind == b'<')
            .count();
        u32::try_from(open).unwrap_or(u32::MAX)
    }

    /// Open a `<` frame (a comparison or type arguments: the parser guesses the latter).
    fn push_angle(&mut self) -> Result<(), u32> {
        let m = self.open_angles();
        self.guess_bits += bits(m + 1) - bits(m);
        if self.guess_bits > MAX_GUESS_BITS {
            return Err(self.offset());
        }
        self.push(b'<', COST_ANGLE)
    }

    /// Close the top frame, a `<`.
    fn pop_angle(&mut self) {
        let m = self.open_angles();
        self.guess_bits -= bits(m) - bits(m - 1);
        self.stack.pop();
    }

    /// Pop `<` frames (unclosed comparisons or type arguments) above the innermost bracket.
    fn pop_angles(&mut self) {
        while self.stack.len() > 1 && self.stack[self.stack.len() - 1].kind == b'<' {
            self.pop_angle();
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
                    let shift = self.at(1) == Some(b'<');
                    let assigns = self.at(usize::from(shift) + 1) == Some(b'=');
                    if assigns {
                        let start = self.i;
                        let cost = self.operator_run();
                        self.bump_at(cost, start)?;
                    } else {
                        // `<<` is a guess too: the parser splits off its first `<`.
                        self.i += 1 + usize::from(shift);
                        self.push_angle()?;
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
                            self.pop_angle();
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

pub(super) fn is_newline(src: &[u8], i: usize) -> bool {
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

#[cfg(test)]
mod tests {
    use super::super::{NESTING_TOO_DEEP, TranspileLimits, transpile};

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
    fn nested_type_argument_guesses_are_capped() {
        use super::{MAX_GUESS_BITS, Overflow, scan_nesting};
        // The fuzz finding's shape: each `a<` is a guess whose type holds an expression again.
        // oxc took seconds and gigabytes for 24 of them; the scan stops at the 7th.
        let src = "a<{[".repeat(24);
        assert!(
            matches!(scan_nesting(src.as_bytes(), 256), Err(Overflow::Guesses(o)) if o < 30),
            "{:?}",
            scan_nesting(src.as_bytes(), 256)
        );
        assert!(matches!(
            scan_nesting(&src.as_bytes()[..4 * MAX_GUESS_BITS as usize], 256),
            Ok(())
        ));
        // `<` at one level multiply: 64 of them are 7 bits; `<<` counts as one.
        let chain = format!("x = {}1;", "a < ".repeat(64));
        assert!(matches!(
            scan_nesting(chain.as_bytes(), 256),
            Err(Overflow::Guesses(_))
        ));
        let shifts = format!("x = {}{{[1]: 2}};", "a << ".repeat(64));
        assert!(matches!(
            scan_nesting(shifts.as_bytes(), 256),
            Err(Overflow::Guesses(_))
        ));
        let e = super::super::test_support::err(&src);
        assert_eq!(e.code, NESTING_TOO_DEEP);
        assert!(e.message.contains("type arguments"), "{e:?}");
        assert_eq!(
            e.limit.as_deref(),
            Some("typeArgumentGuesses=6 bits (fixed)")
        );

        // What scripts do: closed generics, comparisons that end with their statement,
        // argument or bracket, shifts, and a few levels of lambdas with comparisons.
        let limits = TranspileLimits::default();
        for ok in [
            "const m = new Map<string, Array<Record<string, number>>>();\nm.size",
            "let n = 0;\nfor (let i = 0; i < 10; i++) { if (i < 5 && i << 1 < 8) { n += i < 3 ? 1 : 2; } }\nn",
            "let n = 0\nfor (let i = 0; i < 10; i++) {\n  const small = i < 5\n  if (small) { n += [i < 1, i < 2, i < 3].filter(Boolean).length }\n}\nn",
            "const rows = [{ a: 1, items: [{ b: 2, tags: [{ x: 1 }] }] }];\nrows.filter(r => r.a < 10 && r.items.some(i => i.b < r.a + 5 && i.tags.every(t => t.x < 2 && t.x < i.b))).length",
            "const a = 1, b = 2, c = 3, d = 4;\nconst r = a < b && b < c && c < d ? { ok: [a < d, { deep: b < d }] } : null;\nr",
        ] {
            assert!(
                transpile(ok, &limits).is_ok(),
                "{ok}: {:?}",
                transpile(ok, &limits)
            );
        }
    }
}

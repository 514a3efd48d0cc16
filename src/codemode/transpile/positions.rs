//! Positions: byte offsets to 1-based line and character columns over JavaScript's line
//! terminators, caret snippets for error messages, and the source-map token table that maps
//! a position in the generated JavaScript back to the user's TypeScript
//! ([`Transpiled::original_position`]). Engines and source maps count columns in UTF-16 code
//! units; everything reported to the user counts characters.

use oxc::codegen::CodegenReturn;

use super::Transpiled;
use super::nesting::is_newline;

/// One source-map token: (js line, js UTF-16 column, ts line, ts UTF-16 column), 0-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Mapping {
    js_line: u32,
    js_col: u32,
    ts_line: u32,
    ts_col: u32,
}

/// The codegen's source-map tokens as a table sorted by generated position, one token per
/// position.
pub(super) fn source_map_tokens(generated: &CodegenReturn<'_>) -> Vec<Mapping> {
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
    mappings
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

/// Byte offsets of line starts, with JavaScript's line terminators (LF, CR, CRLF, LS, PS).
#[derive(Debug, Clone)]
pub(super) struct LineIndex {
    starts: Vec<u32>,
}

impl LineIndex {
    pub(super) fn new(source: &str) -> Self {
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
    pub(super) fn position(&self, source: &str, offset: u32) -> (u32, u32) {
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
pub(super) fn snippet_at(source: &str, lines: &LineIndex, line: u32, col: u32) -> Option<String> {
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
    use super::super::test_support::err;
    use super::super::{TranspileLimits, transpile};

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
}

//! Transpile failures: [`CodeError`], the structured error a Code Mode script gets back, and
//! the shaping of oxc's diagnostics into it (a position in characters, 1-based, with a caret
//! snippet). Kept apart from the pipeline so every stage builds its errors the same way.

use oxc::diagnostics::OxcDiagnostic;

use super::SYNTAX_ERROR;
use super::positions::{LineIndex, snippet_at};

/// A structured transpile failure, serialised into the Code Mode error result. It crosses
/// from the sandbox worker, where scripts are transpiled, to the server in the run's outcome.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CodeError {
    /// `SYNTAX_ERROR` | `SOURCE_TOO_LARGE` | `NESTING_TOO_DEEP` | `MODULE_SYNTAX` |
    /// `INTERNAL_ERROR` (a caught panic in the compiler).
    pub code: crate::error::Code,
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
    pub(super) fn at(
        code: crate::error::Code,
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

/// The first diagnostic of a stage as a `SYNTAX_ERROR` at its primary (or last) label.
pub(super) fn diagnostic_error(diag: &OxcDiagnostic, source: &str, lines: &LineIndex) -> CodeError {
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

#[cfg(test)]
mod tests {
    use super::super::SYNTAX_ERROR;
    use super::super::test_support::err;

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
}

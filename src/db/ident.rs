//! Identifier handling. Every name that reaches SQL text goes through `quote_ident`, so
//! names with capitals, spaces, dots or quotes work and cannot inject SQL.

use crate::error::ToolError;

/// A schema-qualified name as given by the caller; never folded to lower case, because
/// models copy names from listings, which show them as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QualifiedName {
    pub schema: Option<String>,
    pub name: String,
}

impl QualifiedName {
    /// `"schema"."name"`, or `"name"` when no schema was given (search_path applies).
    pub fn quoted(&self) -> String {
        match &self.schema {
            Some(s) => format!("{}.{}", quote_ident(s), quote_ident(&self.name)),
            None => quote_ident(&self.name),
        }
    }
}

impl std::fmt::Display for QualifiedName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.schema {
            Some(s) => write!(f, "{s}.{}", self.name),
            None => write!(f, "{}", self.name),
        }
    }
}

/// Double-quotes an identifier, doubling embedded quotes (PostgreSQL's quote_ident rule).
pub fn quote_ident(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn check_name(kind: &str, name: &str) -> Result<(), ToolError> {
    if name.is_empty() {
        return Err(ToolError::invalid(format!("{kind} name is empty")));
    }
    if name.contains('\0') {
        return Err(ToolError::invalid(format!(
            "{kind} name contains a NUL byte"
        )));
    }
    // PostgreSQL truncates identifiers to NAMEDATALEN-1 bytes; refusing is clearer than
    // silently addressing a different object.
    if name.len() > 63 {
        return Err(ToolError::invalid(format!(
            "{kind} name '{name}' is longer than PostgreSQL's 63-byte identifier limit"
        )));
    }
    Ok(())
}

/// Parses a table-like argument. With an explicit `schema`, `name` is taken literally.
/// Otherwise `schema.name` is split at the first dot outside double quotes, and
/// double-quoted parts are unquoted (`"My Schema"."a.b"`).
pub fn parse_qualified(name: &str, schema: Option<&str>) -> Result<QualifiedName, ToolError> {
    if let Some(schema) = schema.filter(|s| !s.is_empty()) {
        check_name("schema", schema)?;
        check_name("object", name)?;
        return Ok(QualifiedName {
            schema: Some(schema.to_string()),
            name: name.to_string(),
        });
    }
    let parts = split_dotted(name)?;
    match parts.as_slice() {
        [n] => {
            check_name("object", n)?;
            Ok(QualifiedName {
                schema: None,
                name: n.clone(),
            })
        }
        [s, n] => {
            check_name("schema", s)?;
            check_name("object", n)?;
            Ok(QualifiedName {
                schema: Some(s.clone()),
                name: n.clone(),
            })
        }
        _ => Err(ToolError::invalid(format!(
            "'{name}' has more than two dot-separated parts; use schema.name, or quote names containing dots"
        ))
        .suggest("Pass the schema separately with the `schema` argument to use a name literally.")),
    }
}

fn split_dotted(input: &str) -> Result<Vec<String>, ToolError> {
    if !input.contains('"') {
        return Ok(match input.split_once('.') {
            Some((s, n)) if !s.is_empty() && !n.is_empty() && !n.contains('.') => {
                vec![s.to_string(), n.to_string()]
            }
            Some(_) if input.matches('.').count() > 1 => {
                input.split('.').map(str::to_string).collect()
            }
            _ => vec![input.to_string()],
        });
    }
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut chars = input.chars().peekable();
    let mut in_quotes = false;
    while let Some(c) = chars.next() {
        match (c, in_quotes) {
            ('"', false) => in_quotes = true,
            ('"', true) => {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    current.push('"');
                } else {
                    in_quotes = false;
                }
            }
            ('.', false) => parts.push(std::mem::take(&mut current)),
            (c, _) => current.push(c),
        }
    }
    if in_quotes {
        return Err(
            ToolError::invalid(format!("unterminated double quote in '{input}'")).suggest(
                "A double quote starts a quoted part (\"My Schema\".\"a.b\"). For a name that \
             contains one, pass `schema` (the name is then taken literally), or quote it with \
             the quote doubled: \"we\"\"ird\".",
            ),
        );
    }
    parts.push(current);
    Ok(parts)
}

/// Validates a SQL type name (`integer`, `varchar(20)`, `numeric(10, 2)`, `timestamp with
/// time zone`, `text[]`, `public.my_type`). Types cannot be quoted like identifiers when
/// they carry modifiers, so the shape is checked instead.
pub fn check_type_name(ty: &str) -> Result<(), ToolError> {
    let t = ty.trim();
    let mut ok = !t.is_empty() && t.len() <= 200;
    let mut depth = 0i32;
    for c in t.chars() {
        match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '_' | ' ' | '.' | ',' | '[' | ']' | '"' => {}
            '(' => depth += 1,
            ')' => depth -= 1,
            _ => ok = false,
        }
        if !(0..=1).contains(&depth) {
            ok = false;
        }
    }
    if !ok || depth != 0 || t.contains("--") || !t.matches('"').count().is_multiple_of(2) {
        return Err(ToolError::invalid(format!("'{ty}' is not a valid type name"))
            .suggest("Use a PostgreSQL type such as integer, text, varchar(50), numeric(10,2), timestamptz, jsonb or text[]."));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_doubles_quotes() {
        assert_eq!(quote_ident("a"), "\"a\"");
        assert_eq!(quote_ident("My \"T\""), "\"My \"\"T\"\"\"");
        assert_eq!(
            quote_ident("x\"; DROP TABLE y; --"),
            "\"x\"\"; DROP TABLE y; --\""
        );
    }

    #[test]
    fn qualified_names() {
        let q = parse_qualified("s.t", None).unwrap();
        assert_eq!((q.schema.as_deref(), q.name.as_str()), (Some("s"), "t"));
        let q = parse_qualified("t", None).unwrap();
        assert_eq!(q.schema, None);
        let q = parse_qualified("a.b", Some("s")).unwrap();
        assert_eq!((q.schema.as_deref(), q.name.as_str()), (Some("s"), "a.b"));
        let q = parse_qualified("\"My Schema\".\"a.b\"", None).unwrap();
        assert_eq!(
            (q.schema.as_deref(), q.name.as_str()),
            (Some("My Schema"), "a.b")
        );
        assert_eq!(q.quoted(), "\"My Schema\".\"a.b\"");
        assert!(parse_qualified("a.b.c", None).is_err());
        assert!(parse_qualified("", None).is_err());
        let e = parse_qualified("we\"ird tab", None).unwrap_err();
        assert!(
            e.suggestion.as_deref().unwrap().contains("pass `schema`"),
            "{e:?}"
        );
        assert_eq!(
            parse_qualified("we\"ird tab", Some("public"))
                .unwrap()
                .quoted(),
            "\"public\".\"we\"\"ird tab\""
        );
    }

    #[test]
    fn type_names() {
        for ok in [
            "int",
            "varchar(20)",
            "numeric(10, 2)",
            "timestamp with time zone",
            "text[]",
            "public.mood",
        ] {
            check_type_name(ok).unwrap();
        }
        for bad in [
            "int); drop table x; --",
            "text -- c",
            "a;b",
            "((",
            "int)",
            "x'y",
        ] {
            assert!(check_type_name(bad).is_err(), "{bad}");
        }
    }
}

//! JSON values bound as query parameters.
//!
//! Parameters are sent in PostgreSQL's *text* format, so each value is parsed by the
//! column type's own input function, as if typed into psql: `"2024-01-01"` becomes a date,
//! `"{1,2}"` or `[1,2]` an int[], `{"a":1}` a jsonb. This works for every type, extension
//! types included, without a binary encoder per type. Values are never spliced into SQL.

use std::error::Error;

use bytes::BytesMut;
use serde_json::Value;
use tokio_postgres::types::{Format, IsNull, Kind, ToSql, Type, to_sql_checked};

use crate::error::ToolError;

#[derive(Debug)]
pub struct JsonParam {
    text: Option<String>,
}

impl JsonParam {
    /// Renders `value` as the text PostgreSQL's input function for `ty` expects.
    /// `position` is 1-based, for error messages.
    pub fn new(value: &Value, ty: &Type, position: usize) -> Result<Self, ToolError> {
        let text = match value {
            Value::Null => None,
            Value::Bool(b) => Some(if *b { "true" } else { "false" }.to_string()),
            Value::Number(n) => Some(n.to_string()),
            Value::String(s) => {
                if s.contains('\0') {
                    return Err(ToolError::invalid(format!(
                        "parameter ${position} contains a NUL character, which PostgreSQL text cannot hold"
                    )));
                }
                Some(s.clone())
            }
            Value::Array(items) if is_array(ty) => Some(array_literal(items)),
            // JSON arrays and objects bound to anything but an array type are sent as JSON
            // text: right for json/jsonb, and a clear input-syntax error from PostgreSQL for
            // other types.
            Value::Array(_) | Value::Object(_) => Some(value.to_string()),
        };
        Ok(JsonParam { text })
    }
}

fn is_array(ty: &Type) -> bool {
    matches!(ty.kind(), Kind::Array(_))
}

/// A PostgreSQL array literal: `{1,"a b",NULL,{2,3}}`. Every non-null element is
/// double-quoted with `\` and `"` escaped, which the array parser accepts for all types.
fn array_literal(items: &[Value]) -> String {
    let mut out = String::from("{");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match item {
            Value::Null => out.push_str("NULL"),
            Value::Array(inner) => out.push_str(&array_literal(inner)),
            other => {
                let text = match other {
                    Value::String(s) => s.clone(),
                    v => v.to_string(),
                };
                out.push('"');
                for c in text.chars() {
                    if c == '"' || c == '\\' {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out.push('"');
            }
        }
    }
    out.push('}');
    out
}

impl ToSql for JsonParam {
    fn to_sql(
        &self,
        _ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        match &self.text {
            None => Ok(IsNull::Yes),
            Some(t) => {
                out.extend_from_slice(t.as_bytes());
                Ok(IsNull::No)
            }
        }
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    fn encode_format(&self, _ty: &Type) -> Format {
        Format::Text
    }

    to_sql_checked!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn array_literals_quote_everything() {
        assert_eq!(
            array_literal(&[json!(1), json!(null), json!("a\"b\\c")]),
            r#"{"1",NULL,"a\"b\\c"}"#
        );
        assert_eq!(
            array_literal(&[json!([1, 2]), json!([3, 4])]),
            r#"{{"1","2"},{"3","4"}}"#
        );
        assert_eq!(array_literal(&[]), "{}");
    }
}

//! Error shaping: a thrown JavaScript value becomes a `JS_ERROR` [`SandboxError`] with the
//! error's name, message (both cut to a bounded size, since they go back to the client like a
//! result), extra fields, and its position in the script, parsed from the stack or from a
//! parser message.

use std::rc::Rc;

use boa_engine::{Context, JsError};
use serde_json::Value;

use super::bridge::StateHandle;
use super::{MAX_ERROR_MESSAGE_BYTES, MAX_ERROR_NAME_BYTES, SCRIPT_NAME, SandboxError, codes};
use crate::codemode::convert::{self, ConvertOptions, Converter};

/// A thrown JS value as a `JS_ERROR`, its name and message cut to a bounded size.
pub(super) fn js_error(err: &JsError, context: &mut Context) -> SandboxError {
    let mut e = js_error_full(err, context);
    cap_text(&mut e.message, MAX_ERROR_MESSAGE_BYTES);
    if let Some(name) = &mut e.name {
        cap_text(name, MAX_ERROR_NAME_BYTES);
    }
    e
}

/// Cuts `s` to at most `max` bytes (on a character boundary) and says so.
fn cap_text(s: &mut String, max: usize) {
    if s.len() <= max {
        return;
    }
    let total = s.len();
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s.push_str(&format!("… [truncated, {total} bytes in all]"));
}

fn js_error_full(err: &JsError, context: &mut Context) -> SandboxError {
    let mut e = SandboxError::new(codes::JS_ERROR, "");
    if let Some(native) = err.as_native() {
        e.name = Some(convert::native_kind_name(native).to_string());
        e.message = native.message().to_string();
        if let Some((line, col)) = position_in_message(&e.message) {
            e.js_line = Some(line);
            e.js_column = Some(col);
        }
    }
    // Thrown values (and native errors turned into objects) carry a stack with positions.
    let value = match err.as_opaque() {
        Some(v) => Some(v.clone()),
        None => err.clone().into_opaque(context).ok(),
    };
    let Some(value) = value else {
        return e;
    };
    match value.as_object() {
        Some(obj) if obj.is::<boa_engine::builtins::error::Error>() => {
            if let Some(name) = convert::get_string(&obj, "name", context) {
                e.name = Some(name);
            }
            if let Some(message) = convert::get_string(&obj, "message", context) {
                e.message = message;
            }
            if let Some(stack) = convert::get_string(&obj, "stack", context)
                && let Some((line, col)) = position_in_stack(&stack)
            {
                e.js_line = Some(line);
                e.js_column = Some(col);
            }
            // Extra own fields (a PgError's code, sqlstate, ...).
            let converter = host_converter(context);
            let opts = ConvertOptions {
                max_depth: 4,
                max_bytes: 8 * 1024,
            };
            if let Ok(c) = converter.convert(&value, opts, context)
                && let Value::Object(mut m) = c.value
            {
                m.remove("name");
                m.remove("message");
                if !m.is_empty() {
                    e.details = Some(Value::Object(m));
                }
            }
        }
        _ => {
            // `throw "text"`, `throw {code: 1}`, ...
            e.name = None;
            e.message = format!(
                "Uncaught {}",
                convert::describe_value_short(&value, context)
            );
            if value.is_object() {
                let converter = host_converter(context);
                let opts = ConvertOptions {
                    max_depth: 4,
                    max_bytes: 8 * 1024,
                };
                if let Ok(c) = converter.convert(&value, opts, context) {
                    e.message = format!(
                        "Uncaught {}",
                        serde_json::to_string(&c.value).unwrap_or_default()
                    );
                }
            }
        }
    }
    e
}

/// The converter captured before user code ran (so a replaced `Object.keys` is not used).
fn host_converter(context: &mut Context) -> Rc<Converter> {
    match context.get_data::<StateHandle>() {
        Some(h) => h.0.borrow().converter.clone(),
        None => Rc::new(Converter::new(context)),
    }
}

/// First `(script.js:L:C)` frame of an error's stack.
fn position_in_stack(stack: &str) -> Option<(u32, u32)> {
    let marker = format!("{SCRIPT_NAME}:");
    for line in stack.lines() {
        if let Some(i) = line.find(&marker) {
            let rest = &line[i + marker.len()..];
            let mut parts = rest.trim_end_matches(')').split(':');
            let l = parts.next()?.parse().ok()?;
            let c = parts.next()?.trim_end_matches(')').parse().ok()?;
            return Some((l, c));
        }
    }
    None
}

/// `... at line L, col C` in a parser error message.
fn position_in_message(message: &str) -> Option<(u32, u32)> {
    let i = message.rfind("line ")?;
    let rest = &message[i + 5..];
    let (l, rest) = rest.split_once(',')?;
    let rest = rest.trim_start();
    let rest = rest
        .strip_prefix("col ")
        .or_else(|| rest.strip_prefix("column "))?;
    let c: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some((l.trim().parse().ok()?, c.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_position_parse() {
        assert_eq!(
            position_in_stack("    at f (script.js:3:7)\n    at <main> (script.js:1:1)\n"),
            Some((3, 7))
        );
        assert_eq!(
            position_in_message("unexpected token at line 4, col 12"),
            Some((4, 12))
        );
    }
}

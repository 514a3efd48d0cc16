//! The bridge between JavaScript and the host: the per-run [`State`] (queued and pending
//! `pg.*` calls, captured logs, the first limit hit) shared with the two natives the prelude
//! receives, `natives.call` ([`native_call`]) and `natives.log` ([`native_log`]), and
//! [`settle`], which resolves or rejects a call's promise with the [`Bridge`]'s answer.
//! Everything of the host a script can reach goes through this file.
//!
//! [`Bridge`]: super::Bridge

use std::{
    cell::RefCell,
    collections::{HashMap, VecDeque},
    rc::Rc,
};

use boa_engine::{
    Context, JsError, JsNativeError, JsObject, JsResult, JsString, JsValue,
    builtins::promise::ResolvingFunctions,
    error::{EngineError, RuntimeLimitError},
    js_string,
    object::builtins::{JsArray, JsPromise},
};
use serde_json::Value;

use super::{LogEntry, MAX_ARGS_BYTES, SandboxError, SandboxLimits, codes, flags};
use crate::codemode::convert::{self, ConvertOptions, Converter};

/// A `pg.*` call waiting for a slot in the in-flight window.
pub(super) struct QueuedCall {
    pub(super) id: u64,
    pub(super) tool: String,
    pub(super) args: Value,
}

/// Host state of one run, shared by the natives, the run loop and the realm.
pub(super) struct State {
    pub(super) limits: SandboxLimits,
    next_id: u64,
    pub(super) tool_calls: u32,
    pub(super) in_flight: u32,
    pub(super) queued: VecDeque<QueuedCall>,
    pub(super) pending: HashMap<u64, ResolvingFunctions>,
    pub(super) logs: Vec<LogEntry>,
    log_bytes: usize,
    logs_truncated: bool,
    /// The first limit hit recorded by the host; wins over whatever JS did afterwards.
    pub(super) abort: Option<SandboxError>,
    pub(super) converter: Rc<Converter>,
}

#[derive(Clone)]
pub(super) struct StateHandle(pub(super) Rc<RefCell<State>>);

pub(super) fn state(context: &Context) -> Rc<RefCell<State>> {
    context
        .get_data::<StateHandle>()
        .map(|h| h.0.clone())
        .expect("sandbox state is installed before any native runs")
}

/// An error user code cannot catch: unwinds JS to the job boundary. The real reason is
/// recorded in `State::abort` first.
fn uncatchable() -> JsError {
    EngineError::from(RuntimeLimitError::LoopIteration).into()
}

/// `natives.call(tool, argsJson)`: queue a call, return its promise.
pub(super) fn native_call(
    _this: &JsValue,
    args: &[JsValue],
    context: &mut Context,
) -> JsResult<JsValue> {
    let st = state(context);
    let tool = args
        .first()
        .and_then(JsValue::as_string)
        .map(|s| s.to_std_string_lossy())
        .unwrap_or_default();
    {
        let mut s = st.borrow_mut();
        if s.abort.is_some() {
            return Err(uncatchable());
        }
        if s.tool_calls >= s.limits.max_tool_calls {
            s.tool_calls = s.tool_calls.saturating_add(1);
            let max = s.limits.max_tool_calls;
            s.abort = Some(SandboxError::limit(
                codes::TOOL_CALL_LIMIT,
                format!("more than {max} pg.* calls in one run"),
                format!("max tool calls ({max}); raise with {}", flags::TOOL_CALLS),
            ));
            return Err(uncatchable());
        }
        s.tool_calls += 1;
    }
    let json = args
        .get(1)
        .and_then(JsValue::as_string)
        .map(|s| s.to_std_string_lossy())
        .unwrap_or_else(|| "{}".into());
    if json.len() > MAX_ARGS_BYTES {
        let err = JsNativeError::range()
            .with_message(format!(
                "{tool}: arguments are {} bytes of JSON; the limit is {MAX_ARGS_BYTES}",
                json.len()
            ))
            .into_opaque(context);
        return Ok(JsPromise::reject(JsError::from_opaque(err.into()), context)?.into());
    }
    let parsed: Value = match serde_json::from_str(&json) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            let err = JsNativeError::typ()
                .with_message(format!(
                    "{tool}: arguments must be an object (or a single string for the primary parameter)"
                ))
                .into_opaque(context);
            return Ok(JsPromise::reject(JsError::from_opaque(err.into()), context)?.into());
        }
    };
    let (promise, resolvers) = JsPromise::new_pending(context);
    let mut s = st.borrow_mut();
    let id = s.next_id;
    s.next_id += 1;
    s.pending.insert(id, resolvers);
    s.queued.push_back(QueuedCall {
        id,
        tool,
        args: parsed,
    });
    Ok(promise.into())
}

/// `natives.log(level, argsArray)`.
pub(super) fn native_log(
    _this: &JsValue,
    args: &[JsValue],
    context: &mut Context,
) -> JsResult<JsValue> {
    let st = state(context);
    let (remaining, max_depth, converter) = {
        let s = st.borrow();
        if s.logs_truncated || s.abort.is_some() {
            return Ok(JsValue::undefined());
        }
        (
            s.limits.max_log_bytes.saturating_sub(s.log_bytes),
            s.limits.max_depth,
            s.converter.clone(),
        )
    };
    let level = args
        .first()
        .and_then(JsValue::as_string)
        .map(|s| s.to_std_string_lossy())
        .unwrap_or_else(|| "log".into());
    let items = match args.get(1).and_then(JsValue::as_object) {
        Some(arr) => {
            let arr = JsArray::from_object(arr)?;
            let len = arr.length(context)?;
            let mut v = Vec::with_capacity(len.min(64) as usize);
            for i in 0..len {
                v.push(arr.get(i, context)?);
            }
            v
        }
        None => Vec::new(),
    };
    let mut message = String::new();
    for (i, item) in items.iter().enumerate() {
        if message.len() > remaining {
            break;
        }
        if i > 0 {
            message.push(' ');
        }
        if let Some(s) = item.as_string() {
            message.push_str(&s.to_std_string_lossy());
            continue;
        }
        if let Some(obj) = item.as_object()
            && obj.is::<boa_engine::builtins::error::Error>()
        {
            message.push_str(&convert::describe_value_short(item, context));
            continue;
        }
        let opts = ConvertOptions {
            max_depth,
            max_bytes: remaining.saturating_add(64),
        };
        let converted = converter.convert(item, opts, context)?;
        match converted.value {
            Value::String(s) => message.push_str(&s),
            v => message.push_str(&serde_json::to_string(&v).unwrap_or_default()),
        }
    }
    let mut s = st.borrow_mut();
    push_log(&mut s, level, message);
    Ok(JsValue::undefined())
}

fn push_log(s: &mut State, level: String, mut message: String) {
    if s.logs_truncated {
        return;
    }
    let remaining = s.limits.max_log_bytes.saturating_sub(s.log_bytes);
    if s.logs.len() >= s.limits.max_log_entries || message.len() > remaining {
        if s.logs.len() < s.limits.max_log_entries && remaining > 0 {
            let mut end = remaining;
            while end > 0 && !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
            s.log_bytes += message.len();
            s.logs.push(LogEntry { level, message });
        }
        s.logs_truncated = true;
        s.logs.push(LogEntry {
            level: "warn".into(),
            message: "[logs truncated]".into(),
        });
        return;
    }
    s.log_bytes += message.len();
    s.logs.push(LogEntry { level, message });
}

impl State {
    pub(super) fn new(limits: &SandboxLimits, converter: Rc<Converter>) -> State {
        State {
            limits: limits.clone(),
            next_id: 1,
            tool_calls: 0,
            in_flight: 0,
            queued: VecDeque::new(),
            pending: HashMap::new(),
            logs: Vec::new(),
            log_bytes: 0,
            logs_truncated: false,
            abort: None,
            converter,
        }
    }
}

/// Settles call `id` with a bridge result.
pub(super) fn settle(
    context: &mut Context,
    st: &Rc<RefCell<State>>,
    id: u64,
    result: Result<Value, Value>,
) -> JsResult<()> {
    let resolvers = {
        let mut s = st.borrow_mut();
        let Some(r) = s.pending.remove(&id) else {
            return Ok(());
        };
        s.in_flight = s.in_flight.saturating_sub(1);
        r
    };
    match result {
        Ok(value) => {
            let js = JsValue::from_json(&value, context)?;
            resolvers
                .resolve
                .call(&JsValue::undefined(), &[js], context)?;
        }
        Err(err) => {
            let obj = tool_error_object(&err, context)?;
            resolvers
                .reject
                .call(&JsValue::undefined(), &[obj.into()], context)?;
        }
    }
    Ok(())
}

/// A tool error as a JS `Error` named `PgError` with the tool error's fields as own
/// properties (`code`, `category`, `recoverable`, `suggestion`, `sqlstate`, ...).
fn tool_error_object(err: &Value, context: &mut Context) -> JsResult<JsObject> {
    let message = match err {
        Value::Object(m) => m
            .get("error")
            .or_else(|| m.get("message"))
            .and_then(Value::as_str)
            .map_or_else(|| "tool call failed".to_string(), str::to_string),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let obj = JsNativeError::error()
        .with_message(message)
        .into_opaque(context);
    obj.create_data_property_or_throw(js_string!("name"), js_string!("PgError"), context)?;
    if let Value::Object(m) = err {
        for (k, v) in m {
            if k == "success" || k == "error" || k == "message" || k == "name" || k == "stack" {
                continue;
            }
            let js = JsValue::from_json(v, context)?;
            obj.create_data_property_or_throw(JsString::from(k.as_str()), js, context)?;
        }
    }
    Ok(obj)
}

//! JS value → JSON conversion for Code Mode results and console output.
//!
//! The converter never panics and never hands back anything but plain JSON. It is depth- and
//! size-limited, so a hostile value (cycles, a 10-million element array, deeply nested
//! objects, throwing getters, proxies) yields a bounded, marked-up approximation instead of
//! a crash. Rules:
//!
//! | JS value | JSON |
//! | --- | --- |
//! | `undefined` | `null` at the top level and in arrays; the key is omitted in objects |
//! | `null`, booleans, strings | themselves (lone surrogates become U+FFFD) |
//! | finite numbers | numbers (`-0` → `0`) |
//! | `NaN`, `Infinity`, `-Infinity` | the strings `"NaN"`, `"Infinity"`, `"-Infinity"` |
//! | BigInt | its decimal string |
//! | Symbol | `"Symbol(description)"` |
//! | function | `"[Function name]"` / `"[Function (anonymous)]"` |
//! | Date | ISO string, or `"Invalid Date"` |
//! | Error | `{ name, message, ...own enumerable properties }` |
//! | Array | array (holes → `null`) |
//! | typed array | array of numbers (BigInt arrays: strings), capped at [`MAX_TYPED_ARRAY_ITEMS`] |
//! | ArrayBuffer / DataView | `"[ArrayBuffer N bytes]"` / `"[DataView N bytes]"` |
//! | Map | object when every key is a string, otherwise an array of `[key, value]` pairs |
//! | Set | array |
//! | Promise / WeakMap / WeakSet | `"[Promise]"` / `"[WeakMap]"` / `"[WeakSet]"` |
//! | RegExp | `"/source/flags"` |
//! | other objects (incl. proxies) | own enumerable string keys, read with `[[Get]]` (getters run) |
//! | a cycle back to an ancestor | `"[Circular]"` |
//! | nesting deeper than `max_depth` | `"[MaxDepth]"` |
//! | a getter / proxy trap that throws | `"[Thrown: Name: message]"` |
//! | output beyond `max_bytes` | conversion stops; `"[Truncated]"` marks where |
//!
//! `toJSON` methods are *not* honoured (Date aside): what you return is what is shown.
//!
//! Engine errors (instruction budget, loop/recursion limits) raised by user getters or
//! proxy traps are never swallowed: conversion stops and the error is returned.

use boa_engine::{
    Context, JsError, JsObject, JsValue, JsVariant,
    builtins::{error::Error as ErrorData, promise::Promise},
    object::builtins::{
        JsArray, JsArrayBuffer, JsDataView, JsDate, JsFunction, JsMap, JsProxy, JsRegExp, JsSet,
        JsTypedArray, JsWeakMap, JsWeakSet,
    },
    property::PropertyKey,
};
use serde_json::{Map, Number, Value};

/// Typed arrays longer than this are cut, with a final `"... N more"` marker.
pub const MAX_TYPED_ARRAY_ITEMS: usize = 10_000;
/// Map/Set entries read at most (the byte budget usually stops earlier).
const MAX_COLLECTION_ITEMS: usize = 1_000_000;

pub const MARK_CIRCULAR: &str = "[Circular]";
pub const MARK_MAX_DEPTH: &str = "[MaxDepth]";
pub const MARK_TRUNCATED: &str = "[Truncated]";

/// Limits for one conversion.
#[derive(Debug, Clone, Copy)]
pub struct ConvertOptions {
    /// Objects nested deeper than this become `"[MaxDepth]"`.
    pub max_depth: usize,
    /// Approximate serialized size after which conversion stops (`"[Truncated]"`).
    pub max_bytes: usize,
}

/// The outcome of one conversion.
#[derive(Debug, Clone)]
pub struct Converted {
    pub value: Value,
    /// Approximate serialized size in bytes (exact for plain data).
    pub approx_bytes: usize,
    /// True when `max_bytes` was reached and parts of the value were left out.
    pub truncated: bool,
}

/// Converts JS values to JSON. Holds the pristine `Object.keys` captured before user code
/// ran, so a user overriding `Object.keys` cannot change what is read.
pub struct Converter {
    object_keys: Option<JsFunction>,
    array_is_array: Option<JsFunction>,
}

impl Converter {
    /// Captures `Object.keys` from the context's intrinsics. Call before user code runs.
    pub fn new(context: &mut Context) -> Self {
        let ctor = context.intrinsics().constructors().object().constructor();
        let object_keys = ctor
            .get(PropertyKey::from(boa_engine::js_string!("keys")), context)
            .ok()
            .and_then(|v| v.as_function());
        let array_ctor = context.intrinsics().constructors().array().constructor();
        let array_is_array = array_ctor
            .get(
                PropertyKey::from(boa_engine::js_string!("isArray")),
                context,
            )
            .ok()
            .and_then(|v| v.as_function());
        Self {
            object_keys,
            array_is_array,
        }
    }

    /// Converts `value`. `Err` only for engine errors (limits) raised by user code run during
    /// conversion (getters, proxy traps); every other failure becomes a marker string.
    pub fn convert(
        &self,
        value: &JsValue,
        opts: ConvertOptions,
        context: &mut Context,
    ) -> Result<Converted, JsError> {
        let mut run = Run {
            conv: self,
            opts,
            bytes: 0,
            truncated: false,
            ancestors: Vec::new(),
        };
        let v = run.value(value, 0, context)?.unwrap_or(Value::Null);
        Ok(Converted {
            value: v,
            approx_bytes: run.bytes,
            truncated: run.truncated,
        })
    }
}

struct Run<'a> {
    conv: &'a Converter,
    opts: ConvertOptions,
    bytes: usize,
    truncated: bool,
    ancestors: Vec<JsObject>,
}

/// Is this an engine (uncatchable) error that must stop everything?
fn is_engine(err: &JsError) -> bool {
    err.as_engine().is_some()
}

/// Renders a thrown JS error without running user code beyond simple property reads.
pub fn describe_thrown(err: &JsError, context: &mut Context) -> String {
    if let Some(native) = err.as_native() {
        return format!("{}: {}", native_kind_name(native), native.message());
    }
    match err.as_opaque() {
        Some(v) => describe_value_short(v, context),
        None => "uncatchable engine error".to_string(),
    }
}

pub(crate) fn native_kind_name(err: &boa_engine::JsNativeError) -> &'static str {
    use boa_engine::JsNativeErrorKind as K;
    match err.kind() {
        K::Aggregate(_) => "AggregateError",
        K::Error => "Error",
        K::Eval => "EvalError",
        K::Range => "RangeError",
        K::Reference => "ReferenceError",
        K::Syntax => "SyntaxError",
        K::Type => "TypeError",
        K::Uri => "URIError",
        _ => "Error",
    }
}

/// `Name: message` for error objects, a short string for anything else.
pub fn describe_value_short(v: &JsValue, context: &mut Context) -> String {
    if let Some(obj) = v.as_object()
        && obj.is::<ErrorData>()
    {
        let name = get_string(&obj, "name", context).unwrap_or_else(|| "Error".into());
        let message = get_string(&obj, "message", context).unwrap_or_default();
        return if message.is_empty() {
            name
        } else {
            format!("{name}: {message}")
        };
    }
    match v.variant() {
        JsVariant::String(s) => s.to_std_string_lossy(),
        JsVariant::Object(_) => "[object]".to_string(),
        JsVariant::Symbol(s) => s.descriptive_string().to_std_string_lossy(),
        _ => v.display().to_string(),
    }
}

/// Reads a property as a string; `None` if absent, not a string or the read threw.
pub(crate) fn get_string(obj: &JsObject, key: &str, context: &mut Context) -> Option<String> {
    let v = obj
        .get(PropertyKey::from(boa_engine::JsString::from(key)), context)
        .ok()?;
    v.as_string().map(|s| s.to_std_string_lossy())
}

fn number_value(n: f64) -> Value {
    if n.is_nan() {
        Value::String("NaN".into())
    } else if n.is_infinite() {
        Value::String(if n > 0.0 { "Infinity" } else { "-Infinity" }.into())
    } else if n == 0.0 {
        Value::from(0)
    } else if n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 {
        Value::from(n as i64)
    } else {
        Number::from_f64(n).map_or(Value::Null, Value::Number)
    }
}

fn scalar_size(v: &Value) -> usize {
    match v {
        Value::Null => 4,
        Value::Bool(b) => {
            if *b {
                4
            } else {
                5
            }
        }
        Value::Number(n) => n.to_string().len(),
        Value::String(s) => s.len() + 2,
        _ => 2,
    }
}

impl Run<'_> {
    fn over_budget(&self) -> bool {
        self.bytes > self.opts.max_bytes
    }

    fn leaf(&mut self, v: Value) -> Option<Value> {
        self.bytes += scalar_size(&v);
        Some(v)
    }

    /// `None` means "undefined" (omitted in objects).
    fn value(
        &mut self,
        value: &JsValue,
        depth: usize,
        context: &mut Context,
    ) -> Result<Option<Value>, JsError> {
        if self.over_budget() {
            self.truncated = true;
            return Ok(self.leaf(Value::String(MARK_TRUNCATED.into())));
        }
        Ok(match value.variant() {
            JsVariant::Undefined => None,
            JsVariant::Null => self.leaf(Value::Null),
            JsVariant::Boolean(b) => self.leaf(Value::Bool(b)),
            JsVariant::Integer32(i) => self.leaf(Value::from(i)),
            JsVariant::Float64(f) => self.leaf(number_value(f)),
            JsVariant::String(s) => self.leaf(Value::String(s.to_std_string_lossy())),
            JsVariant::BigInt(b) => self.leaf(Value::String(b.to_string())),
            JsVariant::Symbol(s) => {
                self.leaf(Value::String(s.descriptive_string().to_std_string_lossy()))
            }
            JsVariant::Object(obj) => Some(self.object(&obj, depth, context)?),
        })
    }

    fn thrown(&mut self, err: JsError, context: &mut Context) -> Result<Value, JsError> {
        if is_engine(&err) {
            return Err(err);
        }
        let text = format!("[Thrown: {}]", describe_thrown(&err, context));
        self.bytes += text.len() + 2;
        Ok(Value::String(text))
    }

    fn object(
        &mut self,
        obj: &JsObject,
        depth: usize,
        context: &mut Context,
    ) -> Result<Value, JsError> {
        if obj.is_callable() {
            let name = obj
                .get(PropertyKey::from(boa_engine::js_string!("name")), context)
                .ok()
                .and_then(|v| v.as_string().map(|s| s.to_std_string_lossy()))
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "(anonymous)".into());
            return Ok(self
                .leaf(Value::String(format!("[Function {name}]")))
                .unwrap_or_default());
        }
        if self.ancestors.iter().any(|a| JsObject::equals(a, obj)) {
            return Ok(self
                .leaf(Value::String(MARK_CIRCULAR.into()))
                .unwrap_or_default());
        }
        if depth >= self.opts.max_depth {
            return Ok(self
                .leaf(Value::String(MARK_MAX_DEPTH.into()))
                .unwrap_or_default());
        }
        // Leaf-like built-ins first (no recursion).
        if let Ok(date) = JsDate::from_object(obj.clone()) {
            let s = match date.to_iso_string(context) {
                Ok(v) => v
                    .as_string()
                    .map_or_else(|| "Invalid Date".into(), |s| s.to_std_string_lossy()),
                Err(e) if is_engine(&e) => return Err(e),
                Err(_) => "Invalid Date".into(),
            };
            return Ok(self.leaf(Value::String(s)).unwrap_or_default());
        }
        if obj.is::<Promise>() {
            return Ok(self
                .leaf(Value::String("[Promise]".into()))
                .unwrap_or_default());
        }
        if JsWeakMap::from_object(obj.clone()).is_ok() {
            return Ok(self
                .leaf(Value::String("[WeakMap]".into()))
                .unwrap_or_default());
        }
        if JsWeakSet::from_object(obj.clone()).is_ok() {
            return Ok(self
                .leaf(Value::String("[WeakSet]".into()))
                .unwrap_or_default());
        }
        if let Ok(buf) = JsArrayBuffer::from_object(obj.clone()) {
            let s = format!("[ArrayBuffer {} bytes]", buf.byte_length());
            return Ok(self.leaf(Value::String(s)).unwrap_or_default());
        }
        if let Ok(dv) = JsDataView::from_object(obj.clone()) {
            let len = match dv.byte_length(context) {
                Ok(n) => n.to_string(),
                Err(e) if is_engine(&e) => return Err(e),
                Err(_) => "?".into(),
            };
            return Ok(self
                .leaf(Value::String(format!("[DataView {len} bytes]")))
                .unwrap_or_default());
        }
        if let Ok(re) = JsRegExp::from_object(obj.clone()) {
            let s = match re.to_string(context) {
                Ok(s) => s,
                Err(e) if is_engine(&e) => return Err(e),
                Err(_) => "[RegExp]".into(),
            };
            return Ok(self.leaf(Value::String(s)).unwrap_or_default());
        }
        if let Ok(ta) = JsTypedArray::from_object(obj.clone()) {
            return self.typed_array(&ta, context);
        }

        self.ancestors.push(obj.clone());
        let out = self.container(obj, depth, context);
        self.ancestors.pop();
        out
    }

    fn container(
        &mut self,
        obj: &JsObject,
        depth: usize,
        context: &mut Context,
    ) -> Result<Value, JsError> {
        if let Ok(map) = JsMap::from_object(obj.clone()) {
            let mut entries = Vec::new();
            let r = map.for_each_native(|k, v| {
                if entries.len() < MAX_COLLECTION_ITEMS {
                    entries.push((k, v));
                }
                Ok(())
            });
            if let Err(e) = r {
                return self.thrown(e, context);
            }
            return self.map_entries(entries, depth, context);
        }
        if let Ok(set) = JsSet::from_object(obj.clone()) {
            let mut items = Vec::new();
            let r = set.for_each_native(|v| {
                if items.len() < MAX_COLLECTION_ITEMS {
                    items.push(v);
                }
                Ok(())
            });
            if let Err(e) = r {
                return self.thrown(e, context);
            }
            self.bytes += 2;
            let mut out = Vec::with_capacity(items.len().min(1024));
            for item in items {
                if self.over_budget() {
                    self.truncated = true;
                    out.push(Value::String(MARK_TRUNCATED.into()));
                    break;
                }
                self.bytes += 1;
                out.push(
                    self.value(&item, depth + 1, context)?
                        .unwrap_or(Value::Null),
                );
            }
            return Ok(Value::Array(out));
        }
        if obj.is_array() || self.is_proxied_array(obj, context)? {
            return self.array(obj, depth, context);
        }
        self.plain_object(obj, depth, context)
    }

    fn map_entries(
        &mut self,
        entries: Vec<(JsValue, JsValue)>,
        depth: usize,
        context: &mut Context,
    ) -> Result<Value, JsError> {
        self.bytes += 2;
        if entries.iter().all(|(k, _)| k.is_string()) {
            let mut out = Map::new();
            for (k, v) in entries {
                if self.over_budget() {
                    self.truncated = true;
                    out.insert("…".into(), Value::String(MARK_TRUNCATED.into()));
                    break;
                }
                let key = k
                    .as_string()
                    .map(|s| s.to_std_string_lossy())
                    .unwrap_or_default();
                self.bytes += key.len() + 4;
                let val = self.value(&v, depth + 1, context)?.unwrap_or(Value::Null);
                out.insert(key, val);
            }
            return Ok(Value::Object(out));
        }
        let mut out = Vec::new();
        for (k, v) in entries {
            if self.over_budget() {
                self.truncated = true;
                out.push(Value::String(MARK_TRUNCATED.into()));
                break;
            }
            self.bytes += 4;
            let key = self.value(&k, depth + 2, context)?.unwrap_or(Value::Null);
            let val = self.value(&v, depth + 2, context)?.unwrap_or(Value::Null);
            out.push(Value::Array(vec![key, val]));
        }
        Ok(Value::Array(out))
    }

    fn typed_array(&mut self, ta: &JsTypedArray, context: &mut Context) -> Result<Value, JsError> {
        let len = match ta.length(context) {
            Ok(n) => n,
            Err(e) => return self.thrown(e, context),
        };
        self.bytes += 2;
        let mut out = Vec::with_capacity(len.min(MAX_TYPED_ARRAY_ITEMS));
        for i in 0..len.min(MAX_TYPED_ARRAY_ITEMS) {
            if self.over_budget() {
                self.truncated = true;
                out.push(Value::String(MARK_TRUNCATED.into()));
                return Ok(Value::Array(out));
            }
            let v = match ta.at(i as i64, context) {
                Ok(v) => v,
                Err(e) => return self.thrown(e, context),
            };
            self.bytes += 1;
            out.push(self.value(&v, 0, context)?.unwrap_or(Value::Null));
        }
        if len > MAX_TYPED_ARRAY_ITEMS {
            let more = format!("... {} more", len - MAX_TYPED_ARRAY_ITEMS);
            self.bytes += more.len() + 2;
            out.push(Value::String(more));
        }
        Ok(Value::Array(out))
    }

    fn array(
        &mut self,
        obj: &JsObject,
        depth: usize,
        context: &mut Context,
    ) -> Result<Value, JsError> {
        let len = match obj
            .get(PropertyKey::from(boa_engine::js_string!("length")), context)
            .and_then(|v| v.to_length(context))
        {
            Ok(n) => n,
            Err(e) => return self.thrown(e, context),
        };
        self.bytes += 2;
        let mut out = Vec::new();
        let mut i: u64 = 0;
        while i < len {
            if self.over_budget() {
                self.truncated = true;
                out.push(Value::String(MARK_TRUNCATED.into()));
                break;
            }
            self.bytes += 1;
            let v = match obj.get(i, context) {
                Ok(v) => self.value(&v, depth + 1, context)?.unwrap_or(Value::Null),
                Err(e) => self.thrown(e, context)?,
            };
            out.push(v);
            i += 1;
        }
        Ok(Value::Array(out))
    }

    /// `Array.isArray` sees through proxies; `JsObject::is_array` does not.
    fn is_proxied_array(&mut self, obj: &JsObject, context: &mut Context) -> Result<bool, JsError> {
        if JsProxy::from_object(obj.clone()).is_err() {
            return Ok(false);
        }
        let Some(f) = self.conv.array_is_array.clone() else {
            return Ok(false);
        };
        match f.call(&JsValue::undefined(), &[obj.clone().into()], context) {
            Ok(v) => Ok(v.to_boolean()),
            Err(e) if is_engine(&e) => Err(e),
            Err(_) => Ok(false),
        }
    }

    fn keys(&mut self, obj: &JsObject, context: &mut Context) -> Result<Vec<JsValue>, JsError> {
        let Some(keys_fn) = self.conv.object_keys.clone() else {
            return Ok(Vec::new());
        };
        let arr = keys_fn.call(&JsValue::undefined(), &[obj.clone().into()], context)?;
        let Some(arr) = arr.as_object() else {
            return Ok(Vec::new());
        };
        let arr = JsArray::from_object(arr)?;
        let len = arr.length(context)?;
        let mut out = Vec::with_capacity(len.min(4096) as usize);
        for i in 0..len {
            out.push(arr.get(i, context)?);
        }
        Ok(out)
    }

    fn plain_object(
        &mut self,
        obj: &JsObject,
        depth: usize,
        context: &mut Context,
    ) -> Result<Value, JsError> {
        let mut out = Map::new();
        self.bytes += 2;
        if obj.is::<ErrorData>() {
            // name and message live on the prototype / are non-enumerable: show them first.
            for key in ["name", "message"] {
                match obj.get(PropertyKey::from(boa_engine::JsString::from(key)), context) {
                    Ok(v) => {
                        if let Some(s) = v.as_string() {
                            let s = s.to_std_string_lossy();
                            self.bytes += key.len() + s.len() + 6;
                            out.insert(key.into(), Value::String(s));
                        }
                    }
                    Err(e) if is_engine(&e) => return Err(e),
                    Err(_) => {}
                }
            }
        }
        let keys = match self.keys(obj, context) {
            Ok(k) => k,
            Err(e) => return self.thrown(e, context),
        };
        for key in keys {
            if self.over_budget() {
                self.truncated = true;
                out.insert("…".into(), Value::String(MARK_TRUNCATED.into()));
                break;
            }
            let Some(ks) = key.as_string() else { continue };
            let key_str = ks.to_std_string_lossy();
            let v = match obj.get(PropertyKey::from(ks), context) {
                Ok(v) => self.value(&v, depth + 1, context)?,
                Err(e) => Some(self.thrown(e, context)?),
            };
            if let Some(v) = v {
                self.bytes += key_str.len() + 4;
                out.insert(key_str, v);
            }
        }
        Ok(Value::Object(out))
    }
}

/// Shrinks `value` so that its compact serialization fits in about `max_bytes`: arrays keep
/// a prefix, objects keep leading keys, long strings are cut. Used for result previews.
pub fn shrink_to_fit(value: &Value, max_bytes: usize) -> Value {
    let mut budget = max_bytes as isize;
    shrink(value, &mut budget)
}

fn json_len(v: &Value) -> usize {
    serde_json::to_string(v).map(|s| s.len()).unwrap_or(0)
}

fn cut_str(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

fn shrink(value: &Value, budget: &mut isize) -> Value {
    let full = json_len(value) as isize;
    if full <= *budget {
        *budget -= full;
        return value.clone();
    }
    match value {
        Value::Array(items) => {
            *budget -= 2;
            let mut out = Vec::new();
            for item in items {
                if *budget <= 16 {
                    break;
                }
                let need = json_len(item) as isize + 1;
                if need <= *budget {
                    *budget -= need;
                    out.push(item.clone());
                } else {
                    // One partially shrunk element, then stop.
                    out.push(shrink(item, budget));
                    break;
                }
            }
            Value::Array(out)
        }
        Value::Object(map) => {
            *budget -= 2;
            let mut out = Map::new();
            for (k, v) in map {
                let key_cost = k.len() as isize + 4;
                if *budget <= key_cost + 16 {
                    break;
                }
                *budget -= key_cost;
                let need = json_len(v) as isize;
                if need <= *budget {
                    *budget -= need;
                    out.insert(k.clone(), v.clone());
                } else {
                    out.insert(k.clone(), shrink(v, budget));
                    break;
                }
            }
            Value::Object(out)
        }
        Value::String(s) => {
            let keep = (*budget - 8).max(0) as usize;
            let out = cut_str(s, keep);
            *budget -= out.len() as isize + 2;
            Value::String(out)
        }
        other => {
            *budget -= full;
            other.clone()
        }
    }
}

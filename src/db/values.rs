//! Faithful conversion of PostgreSQL values into JSON.
//!
//! tokio-postgres always asks the server for the BINARY result format, so
//! every value arrives as the output of the type's `send` function. This
//! module decodes those bytes itself (instead of going through typed
//! `FromSql` impls) so that *every* type can be rendered, including ones the
//! driver knows nothing about, and so that no precision is lost.
//!
//! # Mapping
//!
//! | PostgreSQL | JSON |
//! |---|---|
//! | `NULL` | `null` |
//! | `bool` | boolean |
//! | `int2`, `int4`, `oid`, `xid`, `cid`, `reg*` (the OID, not the name) | number |
//! | `int8`, `xid8` | number when within ±2^53 (exact in every JSON reader), otherwise a string with the exact digits |
//! | `float4`, `float8` | number; `NaN`, `Infinity`, `-Infinity` become those strings |
//! | `numeric` | string, exactly PostgreSQL's text output (`"1.50"`, `"NaN"`, `"-Infinity"`) |
//! | `money` | string such as `"-12.34"`: the raw cents with **two** fractional digits assumed (the binary form carries no currency or `lc_monetary` information) |
//! | `text`, `varchar`, `char(n)`, `name`, `"char"`, `xml`, enums, `citext`, ... | string |
//! | `uuid` | string, lowercase hyphenated |
//! | `json`, `jsonb` | the parsed JSON document |
//! | `bytea` | string in PostgreSQL's `bytea_output = hex` text form: `"\x"` followed by lowercase hex (so `'\x0aff'::bytea` → `"\\x0aff"` in JSON source) |
//! | `date` | `"YYYY-MM-DD"` |
//! | `time` | `"HH:MM:SS[.ffffff]"` (fraction without trailing zeros) |
//! | `timetz` | `"HH:MM:SS[.ffffff]+HH:MM[:SS]"` |
//! | `timestamp` | `"YYYY-MM-DDTHH:MM:SS[.ffffff]"` |
//! | `timestamptz` | `"YYYY-MM-DDTHH:MM:SS[.ffffff]Z"` (always UTC) |
//! | `interval` | ISO 8601 duration, identical to PostgreSQL's `intervalstyle = iso_8601` output: `"P1Y2M3DT4H5M6.5S"`, `"PT0S"`, `"P-1DT-0.5S"` |
//! | `inet`, `cidr` | PostgreSQL text form (`"10.0.0.1"`, `"10.0.0.0/8"`, `"::1"`) |
//! | `macaddr`, `macaddr8` | `"08:00:2b:01:02:03"` |
//! | `bit`, `varbit` | string of `0`/`1` |
//! | `point`, `lseg`, `box`, `path`, `polygon`, `line`, `circle`, `tid`, `pg_lsn`, `pg_snapshot`, `tsvector` | string in PostgreSQL's text form |
//! | arrays | (nested) JSON arrays; lower bounds other than 1 are ignored |
//! | composites, `record` | object keyed by field name (`f1`, `f2`, ... for anonymous records) |
//! | ranges, multiranges | string in PostgreSQL's range text form (`"[1,10)"`, `"empty"`, `"{[1,3),[5,7)}"`); bounds are rendered with this module's own conventions, e.g. timestamps in ISO 8601 |
//! | domains | as the base type |
//! | `hstore` | object of string → string or `null` |
//! | `ltree`, `lquery`, `ltxtquery`, `jsonpath` | string |
//! | `geometry`, `geography` (PostGIS) | uppercase hex EWKB, which is PostGIS's own text output |
//! | `vector` (pgvector) | array of numbers |
//!
//! Dates and timestamps outside years 0000..=9999 use ISO 8601 *expanded*
//! years with an explicit sign and astronomical numbering (1 BC is year
//! `0000`, 2 BC is `-0001`, year 10000 is `+10000`); `±infinity` becomes
//! `"infinity"` / `"-infinity"`.
//!
//! # Fallbacks
//!
//! Any other type (e.g. `tsquery`, `halfvec`, `sparsevec`, user-defined base
//! types): when the bytes are valid UTF-8 without control characters other
//! than tab/CR/LF they are returned as a string (many extension types' binary
//! form *is* their text), otherwise as `{"$type": "<type name>", "base64":
//! "<standard base64>"}`.
//!
//! Bytes that do not form a valid value of their declared type never cause a
//! panic: they become `{"$type": ..., "base64": ..., "error": "<why>"}`, so
//! the raw data is still available to the caller.

use std::error::Error;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use base64::Engine as _;
use postgres_protocol::types as wire;
use serde_json::{Map, Number, Value};
use tokio_postgres::Row;
use tokio_postgres::fallible_iterator::FallibleIterator as _;
use tokio_postgres::types::{Field, FromSql, Kind, Type};

/// Raw bytes of one column, whatever its type.
///
/// Its [`FromSql`] impl accepts every type, so `row.try_get::<_,
/// Option<RawValue>>(i)` never fails on a type mismatch; SQL `NULL` comes out
/// as `None`.
#[derive(Debug, Clone)]
pub struct RawValue<'a> {
    /// The column's type, as resolved by tokio-postgres.
    pub ty: Type,
    /// The value in PostgreSQL's binary format.
    pub bytes: &'a [u8],
}

impl RawValue<'_> {
    /// Converts this value to JSON; see the module documentation.
    pub fn to_json(&self) -> Value {
        decode(&self.ty, Some(self.bytes))
    }
}

impl<'a> FromSql<'a> for RawValue<'a> {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn Error + Sync + Send>> {
        Ok(RawValue {
            ty: ty.clone(),
            bytes: raw,
        })
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }
}

/// Converts a whole row into a JSON object keyed by column name.
///
/// Column names need not be unique in SQL (`select 1 as a, 2 as a`), JSON
/// keys must: the first occurrence keeps its name and later ones get the
/// smallest suffix `_2`, `_3`, ... that is not taken yet (`a`, `a_2`, `a_3`).
pub fn row_to_json(row: &Row) -> Map<String, Value> {
    row_to_json_with(row, |idx, _| column_to_json(row, idx))
}

fn row_to_json_with(row: &Row, mut value: impl FnMut(usize, &str) -> Value) -> Map<String, Value> {
    let mut out = Map::new();
    for (idx, column) in row.columns().iter().enumerate() {
        let name = column.name();
        let key = if out.contains_key(name) {
            (2u64..)
                .map(|n| format!("{name}_{n}"))
                .find(|candidate| !out.contains_key(candidate))
                .unwrap_or_else(|| name.to_owned())
        } else {
            name.to_owned()
        };
        let v = value(idx, &key);
        out.insert(key, v);
    }
    out
}

/// The size of a row's values as PostgreSQL sent them (binary format), without decoding.
pub fn row_wire_bytes(row: &Row) -> usize {
    (0..row.len())
        .map(|i| match row.try_get::<_, Option<RawValue<'_>>>(i) {
            Ok(Some(raw)) => raw.bytes.len(),
            _ => 0,
        })
        .sum()
}

/// Like [`row_to_json`] for a row whose values add up to more than `max_bytes`: values
/// within an equal share of `max_bytes` are kept whole, and the rest of `max_bytes` is split
/// evenly among the larger ones; a value larger than its part is cut (text-like values to
/// their longest prefix that fits, others to `null`). Returns the cut columns with their
/// original sizes. Only the kept prefixes are ever copied.
pub fn row_to_json_cut(row: &Row, max_bytes: usize) -> (Map<String, Value>, Vec<(String, usize)>) {
    let sizes: Vec<usize> = (0..row.len())
        .map(|i| match row.try_get::<_, Option<RawValue<'_>>>(i) {
            Ok(Some(raw)) => raw.bytes.len(),
            _ => 0,
        })
        .collect();
    let share = max_bytes / sizes.len().max(1);
    let small: usize = sizes.iter().filter(|&&n| n <= share).sum();
    let large = sizes.iter().filter(|&&n| n > share).count().max(1);
    let max_value_bytes = max_bytes.saturating_sub(small) / large;
    let mut cut = Vec::new();
    let obj = row_to_json_with(row, |idx, key| {
        match row.try_get::<_, Option<RawValue<'_>>>(idx) {
            Ok(Some(raw)) if raw.bytes.len() > max_value_bytes => {
                cut.push((key.to_owned(), raw.bytes.len()));
                text_prefix(&raw.ty, raw.bytes, max_value_bytes)
            }
            Ok(Some(raw)) => raw.to_json(),
            Ok(None) | Err(_) => Value::Null,
        }
    });
    (obj, cut)
}

/// The first at most `max` bytes of a text-like value, on a character boundary.
fn text_prefix(ty: &Type, bytes: &[u8], max: usize) -> Value {
    let body = match *ty {
        Type::TEXT
        | Type::VARCHAR
        | Type::BPCHAR
        | Type::NAME
        | Type::JSON
        | Type::XML
        | Type::UNKNOWN => bytes,
        // jsonb's binary format is a version byte before the text.
        Type::JSONB => bytes.get(1..).unwrap_or_default(),
        _ => return Value::Null,
    };
    let head = &body[..max.min(body.len())];
    let valid = match std::str::from_utf8(head) {
        Ok(s) => s,
        Err(e) => std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or_default(),
    };
    Value::String(valid.to_owned())
}

/// Converts column `idx` of `row` to JSON; `null` for SQL `NULL` and for an
/// out-of-range index.
pub fn column_to_json(row: &Row, idx: usize) -> Value {
    match row.try_get::<_, Option<RawValue<'_>>>(idx) {
        Ok(Some(raw)) => raw.to_json(),
        // `RawValue` accepts every type, so an error can only mean a bad index.
        Ok(None) | Err(_) => Value::Null,
    }
}

/// Converts one value in binary format (`None` = SQL `NULL`) to JSON.
pub fn decode(ty: &Type, bytes: Option<&[u8]>) -> Value {
    match bytes {
        None => Value::Null,
        Some(bytes) => decode_at(ty, bytes, 0),
    }
}

/// Limits recursion through nested arrays/composites/ranges/domains. Real
/// types are far shallower; the limit only stops crafted or corrupt anonymous
/// records (whose nesting is driven by the bytes) from overflowing the stack.
const MAX_DEPTH: usize = 64;

type DecodeError = Box<dyn Error + Sync + Send>;
type DecodeResult = Result<Value, DecodeError>;

fn decode_at(ty: &Type, bytes: &[u8], depth: usize) -> Value {
    if depth > MAX_DEPTH {
        return undecodable(ty, bytes, "nesting too deep");
    }
    match decode_checked(ty, bytes, depth) {
        Ok(value) => value,
        Err(err) => undecodable(ty, bytes, &err.to_string()),
    }
}

fn decode_checked(ty: &Type, buf: &[u8], depth: usize) -> DecodeResult {
    match ty.kind() {
        Kind::Array(member) => return decode_array(Some(member), buf, depth),
        Kind::Domain(base) => return Ok(decode_at(base, buf, depth + 1)),
        // The binary form of an enum value is its label.
        Kind::Enum(_) => return text(buf),
        Kind::Composite(fields) => return decode_composite(Some(fields), buf, depth),
        Kind::Range(subtype) => return decode_range(subtype, buf, depth).map(Value::String),
        Kind::Multirange(subtype) => return decode_multirange(subtype, buf, depth),
        _ => {}
    }

    match *ty {
        Type::BOOL => Ok(Value::Bool(wire::bool_from_sql(buf)?)),
        Type::INT2 => Ok(wire::int2_from_sql(buf)?.into()),
        Type::INT4 => Ok(wire::int4_from_sql(buf)?.into()),
        Type::INT8 => Ok(int8_json(wire::int8_from_sql(buf)?)),
        Type::OID
        | Type::XID
        | Type::CID
        | Type::REGPROC
        | Type::REGPROCEDURE
        | Type::REGOPER
        | Type::REGOPERATOR
        | Type::REGCLASS
        | Type::REGTYPE
        | Type::REGCONFIG
        | Type::REGDICTIONARY
        | Type::REGNAMESPACE
        | Type::REGROLE
        | Type::REGCOLLATION => Ok(wire::oid_from_sql(buf)?.into()),
        Type::XID8 => Ok(u64_json(wire::lsn_from_sql(buf)?)),
        Type::FLOAT4 => Ok(float4_json(wire::float4_from_sql(buf)?)),
        Type::FLOAT8 => Ok(float8_json(wire::float8_from_sql(buf)?)),
        Type::NUMERIC => numeric_text(buf).map(Value::String),
        Type::MONEY => Ok(Value::String(money_text(wire::int8_from_sql(buf)?))),

        Type::TEXT
        | Type::VARCHAR
        | Type::BPCHAR
        | Type::NAME
        | Type::UNKNOWN
        | Type::XML
        | Type::REFCURSOR
        | Type::CSTRING => text(buf),
        Type::CHAR => Ok(Value::String(char_text(wire::char_from_sql(buf)?))),
        Type::UUID => Ok(Value::String(
            uuid::Uuid::from_bytes(wire::uuid_from_sql(buf)?).to_string(),
        )),
        Type::JSON => parse_json(buf),
        Type::JSONB => match buf {
            [1, rest @ ..] => parse_json(rest),
            _ => Err("unsupported jsonb version".into()),
        },
        Type::JSONPATH => versioned_text(buf),
        Type::BYTEA => Ok(Value::String(bytea_text(buf))),

        Type::DATE => Ok(Value::String(date_text(wire::date_from_sql(buf)?))),
        Type::TIME => time_text(wire::time_from_sql(buf)?).map(Value::String),
        Type::TIMETZ => timetz_text(buf).map(Value::String),
        Type::TIMESTAMP => Ok(Value::String(timestamp_text(
            wire::timestamp_from_sql(buf)?,
            "",
        ))),
        Type::TIMESTAMPTZ => Ok(Value::String(timestamp_text(
            wire::timestamp_from_sql(buf)?,
            "Z",
        ))),
        Type::INTERVAL => interval_text(buf).map(Value::String),

        Type::INET => Ok(Value::String(inet_text(wire::inet_from_sql(buf)?, false))),
        Type::CIDR => Ok(Value::String(inet_text(wire::inet_from_sql(buf)?, true))),
        Type::MACADDR => Ok(Value::String(hex_join(&wire::macaddr_from_sql(buf)?, ":"))),
        Type::MACADDR8 => match buf.len() {
            8 => Ok(Value::String(hex_join(buf, ":"))),
            _ => Err("macaddr8 must be 8 bytes".into()),
        },
        Type::BIT | Type::VARBIT => bits_text(buf).map(Value::String),

        Type::POINT
        | Type::LSEG
        | Type::BOX
        | Type::PATH
        | Type::POLYGON
        | Type::LINE
        | Type::CIRCLE => geometric_text(ty, buf).map(Value::String),
        Type::TID => tid_text(buf).map(Value::String),
        Type::PG_LSN => {
            let lsn = wire::lsn_from_sql(buf)?;
            Ok(Value::String(format!(
                "{:X}/{:X}",
                lsn >> 32,
                lsn & 0xFFFF_FFFF
            )))
        }
        Type::PG_SNAPSHOT | Type::TXID_SNAPSHOT => snapshot_text(buf).map(Value::String),
        Type::TS_VECTOR => tsvector_text(buf).map(Value::String),
        // Anonymous `record` (e.g. `select row(1, 'a')`): field types come
        // from the OIDs on the wire.
        Type::RECORD => decode_composite(None, buf, depth),
        // Arrays whose element type is only known from the OID in the array
        // header (`record[]`, `anyarray` columns such as pg_stats'
        // `most_common_vals`).
        Type::RECORD_ARRAY | Type::ANYARRAY | Type::ANYCOMPATIBLEARRAY => {
            decode_array(None, buf, depth)
        }
        // Complex binary layouts we deliberately don't interpret.
        Type::TSQUERY => Ok(base64_object(ty, buf)),
        _ => decode_by_name(ty, buf),
    }
}

/// Extension types have no fixed OID, so they are recognised by name.
fn decode_by_name(ty: &Type, buf: &[u8]) -> DecodeResult {
    match ty.name() {
        "citext" => text(buf),
        // Binary form is a version byte (1) followed by the text form.
        "ltree" | "lquery" | "ltxtquery" => versioned_text(buf),
        "hstore" => {
            let mut out = Map::new();
            let mut entries = wire::hstore_from_sql(buf)?;
            while let Some((key, value)) = entries.next()? {
                let value = value.map_or(Value::Null, |v| Value::String(v.to_owned()));
                out.insert(key.to_owned(), value);
            }
            Ok(Value::Object(out))
        }
        // PostGIS sends EWKB; its text output is that EWKB in uppercase hex.
        "geometry" | "geography" => Ok(Value::String(hex_upper(buf))),
        "vector" => vector_json(buf),
        "halfvec" | "sparsevec" => Ok(base64_object(ty, buf)),
        _ => Ok(fallback(ty, buf)),
    }
}

// ---------------------------------------------------------------------------
// Fallbacks

fn base64_string(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn base64_object(ty: &Type, bytes: &[u8]) -> Value {
    let mut out = Map::new();
    out.insert("$type".into(), Value::String(ty.name().to_owned()));
    out.insert("base64".into(), Value::String(base64_string(bytes)));
    Value::Object(out)
}

/// For bytes that are not a valid value of their type: keep the data (as
/// base64) and say why, rather than guessing or panicking.
fn undecodable(ty: &Type, bytes: &[u8], error: &str) -> Value {
    let mut out = base64_object(ty, bytes);
    if let Value::Object(map) = &mut out {
        map.insert("error".into(), Value::String(error.to_owned()));
    }
    out
}

/// Unknown types: many extension types send their text form, so printable
/// UTF-8 is shown as is; anything else is opaque and goes out as base64.
fn fallback(ty: &Type, bytes: &[u8]) -> Value {
    match std::str::from_utf8(bytes) {
        Ok(s)
            if !s
                .chars()
                .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')) =>
        {
            Value::String(s.to_owned())
        }
        _ => base64_object(ty, bytes),
    }
}

// ---------------------------------------------------------------------------
// Scalars

/// Largest integer magnitude that every JSON consumer (notably JavaScript's
/// doubles) represents exactly.
const MAX_SAFE_INT: u64 = 1 << 53;

fn int8_json(v: i64) -> Value {
    if v.unsigned_abs() <= MAX_SAFE_INT {
        v.into()
    } else {
        Value::String(v.to_string())
    }
}

fn u64_json(v: u64) -> Value {
    if v <= MAX_SAFE_INT {
        v.into()
    } else {
        Value::String(v.to_string())
    }
}

fn non_finite_text(v: f64) -> Value {
    let s = if v.is_nan() {
        "NaN"
    } else if v > 0.0 {
        "Infinity"
    } else {
        "-Infinity"
    };
    Value::String(s.to_owned())
}

fn float8_json(v: f64) -> Value {
    Number::from_f64(v).map_or_else(|| non_finite_text(v), Value::Number)
}

/// Widening an `f32` directly would print `0.1f32` as `0.10000000149011612`;
/// going through the shortest `f32` decimal keeps PostgreSQL's `0.1`.
fn float4_json(v: f32) -> Value {
    match v.to_string().parse::<f64>() {
        Ok(wide) if v.is_finite() => float8_json(wide),
        _ => non_finite_text(f64::from(v)),
    }
}

fn text(buf: &[u8]) -> DecodeResult {
    Ok(Value::String(std::str::from_utf8(buf)?.to_owned()))
}

/// `jsonpath`, `ltree` & co: a version byte (1) followed by the text form.
fn versioned_text(buf: &[u8]) -> DecodeResult {
    match buf {
        [1, rest @ ..] => text(rest),
        _ => Err("unsupported binary format version".into()),
    }
}

fn parse_json(buf: &[u8]) -> DecodeResult {
    Ok(serde_json::from_slice(buf)?)
}

/// Matches PostgreSQL 15's `charout`: high-bit bytes are written as `\ooo`
/// octal escapes, the zero byte as the empty string.
fn char_text(c: i8) -> String {
    let byte = u8::from_ne_bytes(c.to_ne_bytes());
    match byte {
        0 => String::new(),
        b if b >= 0x80 => format!("\\{b:03o}"),
        b => char::from(b).to_string(),
    }
}

fn bytea_text(buf: &[u8]) -> String {
    let mut out = String::with_capacity(2 + buf.len() * 2);
    out.push_str("\\x");
    for b in buf {
        let _ = write!(out, "{b:02x}");
    }
    out
}

fn hex_upper(buf: &[u8]) -> String {
    let mut out = String::with_capacity(buf.len() * 2);
    for b in buf {
        let _ = write!(out, "{b:02X}");
    }
    out
}

fn hex_join(buf: &[u8], sep: &str) -> String {
    buf.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(sep)
}

fn money_text(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

fn bits_text(buf: &[u8]) -> Result<String, DecodeError> {
    let varbit = wire::varbit_from_sql(buf)?;
    let bits = varbit
        .bytes()
        .iter()
        .flat_map(|byte| (0..8).rev().map(move |i| (byte >> i) & 1))
        .take(varbit.len())
        .map(|bit| if bit == 1 { '1' } else { '0' })
        .collect();
    Ok(bits)
}

fn vector_json(buf: &[u8]) -> DecodeResult {
    let mut r = Reader::new(buf);
    let dim = usize::try_from(r.i16()?).map_err(|_| "negative vector dimension")?;
    r.i16()?; // reserved ("unused") field
    let mut out = Vec::new();
    for _ in 0..dim {
        out.push(float4_json(f32::from_bits(r.u32()?)));
    }
    r.finish()?;
    Ok(Value::Array(out))
}

// ---------------------------------------------------------------------------
// numeric

const NUMERIC_POS: u16 = 0x0000;
const NUMERIC_NEG: u16 = 0x4000;
const NUMERIC_NAN: u16 = 0xC000;
const NUMERIC_PINF: u16 = 0xD000;
const NUMERIC_NINF: u16 = 0xF000;
/// Decimal digits per base-10000 digit.
const DEC_DIGITS: i32 = 4;

/// Decodes `numeric_send` output (ndigits, weight, sign, dscale, then
/// base-10000 digits, most significant first; the value is
/// `sum(digit[i] * 10000^(weight - i))`) into exactly the string
/// `numeric_out` would produce.
fn numeric_text(buf: &[u8]) -> Result<String, DecodeError> {
    let mut r = Reader::new(buf);
    let ndigits = r.i16()?;
    let weight = i32::from(r.i16()?);
    let sign = r.u16()?;
    let dscale = r.i16()?;
    let ndigits = usize::try_from(ndigits).map_err(|_| "negative digit count")?;
    let dscale = i32::from(dscale);
    if dscale < 0 {
        return Err("negative display scale".into());
    }
    let mut digits = Vec::with_capacity(ndigits);
    for _ in 0..ndigits {
        let digit = r.i16()?;
        if !(0..10000).contains(&digit) {
            return Err("numeric digit out of range".into());
        }
        digits.push(digit);
    }
    r.finish()?;

    match sign {
        NUMERIC_NAN => return Ok("NaN".into()),
        NUMERIC_PINF => return Ok("Infinity".into()),
        NUMERIC_NINF => return Ok("-Infinity".into()),
        NUMERIC_POS | NUMERIC_NEG => {}
        _ => return Err("invalid numeric sign".into()),
    }

    let digit_at = |d: i32| -> i16 {
        usize::try_from(d)
            .ok()
            .and_then(|d| digits.get(d).copied())
            .unwrap_or(0)
    };

    let mut out = String::new();
    if sign == NUMERIC_NEG {
        out.push('-');
    }
    // Integer part: base-10000 digits 0..=weight, the first without leading
    // zeros.
    let mut d: i32 = 0;
    if weight < 0 {
        out.push('0');
        d = weight + 1;
    } else {
        while d <= weight {
            let digit = digit_at(d);
            if d == 0 {
                let _ = write!(out, "{digit}");
            } else {
                let _ = write!(out, "{digit:04}");
            }
            d += 1;
        }
    }
    // Fraction: exactly `dscale` decimal digits, zero-filled past the stored
    // digits, truncated inside the last base-10000 digit.
    if dscale > 0 {
        out.push('.');
        let mut fraction = String::new();
        let mut emitted = 0;
        while emitted < dscale {
            let _ = write!(fraction, "{:04}", digit_at(d));
            d += 1;
            emitted += DEC_DIGITS;
        }
        fraction.truncate(dscale as usize); // dscale > 0 checked above
        out.push_str(&fraction);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Dates and times

const USECS_PER_SEC: i64 = 1_000_000;
const USECS_PER_MINUTE: i64 = 60 * USECS_PER_SEC;
const USECS_PER_HOUR: i64 = 60 * USECS_PER_MINUTE;
const USECS_PER_DAY: i64 = 24 * USECS_PER_HOUR;
/// Days from 1970-01-01 to PostgreSQL's epoch, 2000-01-01.
const PG_EPOCH_UNIX_DAYS: i64 = 10_957;

/// Proleptic Gregorian date for a day count relative to 1970-01-01 (Howard
/// Hinnant's `civil_from_days`), valid for any `i64` input that the callers
/// can produce, unlike chrono whose range is smaller than PostgreSQL's.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// ISO 8601 calendar date; years outside 0000..=9999 use the expanded form
/// with a sign (astronomical numbering: 1 BC = 0000).
fn iso_date(pg_days: i64) -> String {
    let (year, month, day) = civil_from_days(pg_days + PG_EPOCH_UNIX_DAYS);
    let year = match year {
        0..=9999 => format!("{year:04}"),
        y if y > 9999 => format!("+{y}"),
        y => format!("-{:04}", y.unsigned_abs()),
    };
    format!("{year}-{month:02}-{day:02}")
}

fn date_text(days: i32) -> String {
    match days {
        i32::MAX => "infinity".into(),
        i32::MIN => "-infinity".into(),
        d => iso_date(i64::from(d)),
    }
}

/// `HH:MM:SS[.ffffff]` for a non-negative microsecond count, trailing zeros of
/// the fraction removed as PostgreSQL does. Hours may exceed 23 (`24:00:00` is
/// a valid `time`).
fn clock_text(usecs: i64) -> String {
    let hours = usecs / USECS_PER_HOUR;
    let minutes = usecs % USECS_PER_HOUR / USECS_PER_MINUTE;
    let seconds = usecs % USECS_PER_MINUTE / USECS_PER_SEC;
    let mut out = format!("{hours:02}:{minutes:02}:{seconds:02}");
    push_fraction(&mut out, usecs % USECS_PER_SEC);
    out
}

/// Appends `.ffffff` without trailing zeros, or nothing for zero.
fn push_fraction(out: &mut String, usecs: i64) {
    if usecs != 0 {
        let fraction = format!("{:06}", usecs.unsigned_abs());
        out.push('.');
        out.push_str(fraction.trim_end_matches('0'));
    }
}

fn time_text(usecs: i64) -> Result<String, DecodeError> {
    if !(0..=USECS_PER_DAY).contains(&usecs) {
        return Err("time of day out of range".into());
    }
    Ok(clock_text(usecs))
}

fn timetz_text(buf: &[u8]) -> Result<String, DecodeError> {
    let mut r = Reader::new(buf);
    let usecs = r.i64()?;
    // PostgreSQL stores the zone as seconds *west* of UTC.
    let offset = -i64::from(r.i32()?);
    r.finish()?;
    let mut out = time_text(usecs)?;
    let sign = if offset < 0 { '-' } else { '+' };
    let abs = offset.unsigned_abs();
    let _ = write!(out, "{sign}{:02}:{:02}", abs / 3600, abs % 3600 / 60);
    if abs % 60 != 0 {
        let _ = write!(out, ":{:02}", abs % 60);
    }
    Ok(out)
}

fn timestamp_text(usecs: i64, suffix: &str) -> String {
    match usecs {
        i64::MAX => "infinity".into(),
        i64::MIN => "-infinity".into(),
        us => {
            let days = us.div_euclid(USECS_PER_DAY);
            let time = us.rem_euclid(USECS_PER_DAY);
            format!("{}T{}{suffix}", iso_date(days), clock_text(time))
        }
    }
}

/// Mirrors PostgreSQL's `EncodeInterval` for `intervalstyle = iso_8601`:
/// each field carries its own sign, months split into years and months and
/// the time into hours/minutes/seconds by truncating division.
fn interval_text(buf: &[u8]) -> Result<String, DecodeError> {
    let mut r = Reader::new(buf);
    let time = r.i64()?;
    let days = r.i32()?;
    let months = r.i32()?;
    r.finish()?;

    // PostgreSQL 17+ encodes infinite intervals with every field saturated.
    if (time, days, months) == (i64::MAX, i32::MAX, i32::MAX) {
        return Ok("infinity".into());
    }
    if (time, days, months) == (i64::MIN, i32::MIN, i32::MIN) {
        return Ok("-infinity".into());
    }

    let years = months / 12;
    let months = months % 12;
    let hours = time / USECS_PER_HOUR;
    let minutes = time % USECS_PER_HOUR / USECS_PER_MINUTE;
    let seconds = time % USECS_PER_MINUTE / USECS_PER_SEC;
    let fraction = time % USECS_PER_SEC;

    if years == 0 && months == 0 && days == 0 && time == 0 {
        return Ok("PT0S".into());
    }
    let mut out = String::from("P");
    let part = |out: &mut String, value: i64, unit: char| {
        if value != 0 {
            let _ = write!(out, "{value}{unit}");
        }
    };
    part(&mut out, years.into(), 'Y');
    part(&mut out, months.into(), 'M');
    part(&mut out, days.into(), 'D');
    if time != 0 {
        out.push('T');
    }
    part(&mut out, hours, 'H');
    part(&mut out, minutes, 'M');
    if seconds != 0 || fraction != 0 {
        if seconds < 0 || fraction < 0 {
            out.push('-');
        }
        let _ = write!(out, "{}", seconds.unsigned_abs());
        push_fraction(&mut out, fraction);
        out.push('S');
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Network addresses

/// PostgreSQL's text form: `inet` omits a full-length mask, `cidr` never does.
fn inet_text(inet: wire::Inet, is_cidr: bool) -> String {
    let (mut out, full_mask) = match inet.addr() {
        std::net::IpAddr::V4(addr) => (addr.to_string(), 32),
        std::net::IpAddr::V6(addr) => (ipv6_text(addr), 128),
    };
    if is_cidr || inet.netmask() != full_mask {
        let _ = write!(out, "/{}", inet.netmask());
    }
    out
}

/// IPv6 text as PostgreSQL's `inet_net_ntop` writes it. This differs from
/// Rust's `Display` for IPv4-compatible addresses (`::1.2.3.4`, which Rust
/// prints as `::102:304`).
fn ipv6_text(addr: Ipv6Addr) -> String {
    let words = addr.segments();
    // Longest run (first one on ties) of at least two zero words.
    let mut best: Option<(usize, usize)> = None;
    let mut i = 0;
    while i < words.len() {
        if words[i] == 0 {
            let start = i;
            while i < words.len() && words[i] == 0 {
                i += 1;
            }
            let len = i - start;
            if len >= 2 && best.is_none_or(|(_, best_len)| len > best_len) {
                best = Some((start, len));
            }
        } else {
            i += 1;
        }
    }

    let mut out = String::new();
    for (i, word) in words.iter().enumerate() {
        if let Some((start, len)) = best
            && (start..start + len).contains(&i)
        {
            if i == start {
                out.push(':');
            }
            continue;
        }
        if i != 0 {
            out.push(':');
        }
        // IPv4-compatible (::a.b.c.d) or IPv4-mapped (::ffff:a.b.c.d).
        let embedded_v4 = i == 6
            && match best {
                Some((0, 6)) => true,
                Some((0, 5)) => words[5] == 0xffff,
                _ => false,
            };
        if embedded_v4 {
            let octets = addr.octets();
            let _ = write!(
                out,
                "{}",
                Ipv4Addr::new(octets[12], octets[13], octets[14], octets[15])
            );
            return out;
        }
        let _ = write!(out, "{word:x}");
    }
    if let Some((start, len)) = best
        && start + len == words.len()
    {
        out.push(':');
    }
    out
}

// ---------------------------------------------------------------------------
// Geometric and miscellaneous system types

/// `float8out`'s shortest round-trip format: plain notation for decimal
/// exponents in -4..15, otherwise `1.5e+20` / `1e-05` style.
fn pg_float8_text(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let sci = format!("{v:e}");
    let Some((mantissa, exponent)) = sci.split_once('e') else {
        return v.to_string();
    };
    match exponent.parse::<i32>() {
        Ok(exp) if (-4..15).contains(&exp) => v.to_string(),
        Ok(exp) => {
            let sign = if exp < 0 { '-' } else { '+' };
            format!("{mantissa}e{sign}{:02}", exp.unsigned_abs())
        }
        Err(_) => v.to_string(),
    }
}

fn point_text(r: &mut Reader<'_>) -> Result<String, DecodeError> {
    let x = r.f64()?;
    let y = r.f64()?;
    Ok(format!("({},{})", pg_float8_text(x), pg_float8_text(y)))
}

fn points_text(r: &mut Reader<'_>) -> Result<Vec<String>, DecodeError> {
    let count = usize::try_from(r.i32()?).map_err(|_| "negative point count")?;
    let mut points = Vec::new();
    for _ in 0..count {
        points.push(point_text(r)?);
    }
    Ok(points)
}

fn geometric_text(ty: &Type, buf: &[u8]) -> Result<String, DecodeError> {
    let mut r = Reader::new(buf);
    let out = match *ty {
        Type::POINT => point_text(&mut r)?,
        Type::LSEG => format!("[{},{}]", point_text(&mut r)?, point_text(&mut r)?),
        // Sent as the upper-right corner, then the lower-left one.
        Type::BOX => format!("{},{}", point_text(&mut r)?, point_text(&mut r)?),
        Type::PATH => {
            let closed = r.u8()? != 0;
            let points = points_text(&mut r)?.join(",");
            if closed {
                format!("({points})")
            } else {
                format!("[{points}]")
            }
        }
        Type::POLYGON => format!("({})", points_text(&mut r)?.join(",")),
        Type::LINE => {
            let (a, b, c) = (r.f64()?, r.f64()?, r.f64()?);
            let [a, b, c] = [a, b, c].map(pg_float8_text);
            format!("{{{a},{b},{c}}}")
        }
        Type::CIRCLE => {
            let center = point_text(&mut r)?;
            format!("<{center},{}>", pg_float8_text(r.f64()?))
        }
        _ => return Err("not a geometric type".into()),
    };
    r.finish()?;
    Ok(out)
}

fn tid_text(buf: &[u8]) -> Result<String, DecodeError> {
    let mut r = Reader::new(buf);
    let block = r.u32()?;
    let offset = r.u16()?;
    r.finish()?;
    Ok(format!("({block},{offset})"))
}

/// `pg_snapshot` / `txid_snapshot`: `xmin:xmax:xip1,xip2,...`.
fn snapshot_text(buf: &[u8]) -> Result<String, DecodeError> {
    let mut r = Reader::new(buf);
    let nxip = usize::try_from(r.i32()?).map_err(|_| "negative xip count")?;
    let xmin = r.i64()?;
    let xmax = r.i64()?;
    let mut xips = Vec::new();
    for _ in 0..nxip {
        xips.push(r.i64()?.to_string());
    }
    r.finish()?;
    Ok(format!("{xmin}:{xmax}:{}", xips.join(",")))
}

/// `tsvector` as `tsvectorout` writes it: `'lexeme':1A,2 'other'`.
fn tsvector_text(buf: &[u8]) -> Result<String, DecodeError> {
    let mut r = Reader::new(buf);
    let count = usize::try_from(r.i32()?).map_err(|_| "negative lexeme count")?;
    let mut lexemes = Vec::new();
    for _ in 0..count {
        let lexeme = std::str::from_utf8(r.cstring()?)?;
        let mut out = String::from("'");
        for c in lexeme.chars() {
            if c == '\'' || c == '\\' {
                out.push(c);
            }
            out.push(c);
        }
        out.push('\'');
        let npos = r.u16()?;
        let mut positions = Vec::new();
        for _ in 0..npos {
            let pos = r.u16()?;
            let weight = match pos >> 14 {
                3 => "A",
                2 => "B",
                1 => "C",
                _ => "",
            };
            positions.push(format!("{}{weight}", pos & 0x3FFF));
        }
        if !positions.is_empty() {
            out.push(':');
            out.push_str(&positions.join(","));
        }
        lexemes.push(out);
    }
    r.finish()?;
    Ok(lexemes.join(" "))
}

// ---------------------------------------------------------------------------
// Containers

/// PostgreSQL's MAXDIM; also keeps corrupt dimension counts from driving deep
/// recursion.
const MAX_ARRAY_DIMS: usize = 6;

/// `member` is the element type the driver resolved; `None` means "use the
/// element OID from the array header".
fn decode_array(member: Option<&Type>, buf: &[u8], depth: usize) -> DecodeResult {
    let array = wire::array_from_sql(buf)?;
    let member = match member {
        Some(member) => member.clone(),
        None => type_from_oid(array.element_type()),
    };
    let member = &member;
    let dims = array
        .dimensions()
        .map(|dim| Ok(usize::try_from(dim.len).unwrap_or(0)))
        .collect::<Vec<_>>()?;
    if dims.len() > MAX_ARRAY_DIMS {
        return Err("too many array dimensions".into());
    }
    let mut values = array.values();
    // PostgreSQL sends empty arrays with zero dimensions; a zero-length
    // dimension is treated the same rather than building empty sub-arrays.
    let result = if dims.is_empty() || dims.contains(&0) {
        Value::Array(Vec::new())
    } else {
        build_array(member, &dims, &mut values, depth)?
    };
    if values.next()?.is_some() {
        return Err("more array elements than dimensions allow".into());
    }
    Ok(result)
}

/// Rebuilds the nesting from the flat, row-major element list.
fn build_array(
    member: &Type,
    dims: &[usize],
    values: &mut wire::ArrayValues<'_>,
    depth: usize,
) -> DecodeResult {
    let Some((&len, inner)) = dims.split_first() else {
        return Err("array without dimensions".into());
    };
    let mut out = Vec::new();
    for _ in 0..len {
        if inner.is_empty() {
            let element = values
                .next()?
                .ok_or("fewer array elements than dimensions")?;
            out.push(element.map_or(Value::Null, |bytes| decode_at(member, bytes, depth + 1)));
        } else {
            out.push(build_array(member, inner, values, depth)?);
        }
    }
    Ok(Value::Array(out))
}

/// A built-in type by OID; anything else gets a placeholder named `oid:N`,
/// which decodes through the generic fallback.
fn type_from_oid(oid: u32) -> Type {
    Type::from_oid(oid)
        .unwrap_or_else(|| Type::new(format!("oid:{oid}"), oid, Kind::Simple, String::new()))
}

/// `record_send` format: field count, then per field its type OID, a length
/// (-1 for NULL) and the field's own binary value.
fn decode_composite(fields: Option<&[Field]>, buf: &[u8], depth: usize) -> DecodeResult {
    let mut r = Reader::new(buf);
    let count = usize::try_from(r.i32()?).map_err(|_| "negative field count")?;
    let mut out = Map::new();
    for i in 0..count {
        let oid = r.u32()?;
        let len = r.i32()?;
        let value = match usize::try_from(len) {
            Ok(len) => Some(r.bytes(len)?),
            Err(_) => None,
        };
        let field = fields.and_then(|fields| fields.get(i));
        let name = field.map_or_else(|| format!("f{}", i + 1), |f| f.name().to_owned());
        let ty = match field {
            Some(field) => field.type_().clone(),
            None => type_from_oid(oid),
        };
        let value = value.map_or(Value::Null, |bytes| decode_at(&ty, bytes, depth + 1));
        out.insert(name, value);
    }
    r.finish()?;
    Ok(Value::Object(out))
}

fn decode_range(subtype: &Type, buf: &[u8], depth: usize) -> Result<String, DecodeError> {
    let (lower, upper) = match wire::range_from_sql(buf)? {
        wire::Range::Empty => return Ok("empty".into()),
        wire::Range::Nonempty(lower, upper) => (lower, upper),
    };
    let bound = |bound: &wire::RangeBound<Option<&[u8]>>| -> (bool, String) {
        match bound {
            wire::RangeBound::Inclusive(v) => (true, range_bound_text(subtype, *v, depth)),
            wire::RangeBound::Exclusive(v) => (false, range_bound_text(subtype, *v, depth)),
            wire::RangeBound::Unbounded => (false, String::new()),
        }
    };
    let (lower_inclusive, lower) = bound(&lower);
    let (upper_inclusive, upper) = bound(&upper);
    Ok(format!(
        "{}{lower},{upper}{}",
        if lower_inclusive { '[' } else { '(' },
        if upper_inclusive { ']' } else { ')' },
    ))
}

/// One bound, quoted like PostgreSQL's `range_bound_escape` when it is empty
/// or contains characters that are special in range syntax.
fn range_bound_text(subtype: &Type, bytes: Option<&[u8]>, depth: usize) -> String {
    let value = bytes.map_or(Value::Null, |bytes| decode_at(subtype, bytes, depth + 1));
    let raw = match value {
        Value::Null => return String::new(),
        Value::String(s) => s,
        other => other.to_string(),
    };
    let needs_quotes = raw.is_empty()
        || raw
            .chars()
            .any(|c| matches!(c, '"' | '\\' | '(' | ')' | '[' | ']' | ',') || c.is_whitespace());
    if !needs_quotes {
        return raw;
    }
    let mut out = String::from("\"");
    for c in raw.chars() {
        if c == '"' || c == '\\' {
            out.push(c);
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// `multirange_send`: range count, then length-prefixed ranges.
fn decode_multirange(subtype: &Type, buf: &[u8], depth: usize) -> DecodeResult {
    let mut r = Reader::new(buf);
    let count = usize::try_from(r.i32()?).map_err(|_| "negative range count")?;
    let mut ranges = Vec::new();
    for _ in 0..count {
        let len = usize::try_from(r.i32()?).map_err(|_| "negative range length")?;
        ranges.push(decode_range(subtype, r.bytes(len)?, depth + 1)?);
    }
    r.finish()?;
    Ok(Value::String(format!("{{{}}}", ranges.join(","))))
}

// ---------------------------------------------------------------------------

/// Bounds-checked big-endian reader: every read reports truncation as an
/// error instead of panicking.
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    fn bytes(&mut self, len: usize) -> Result<&'a [u8], DecodeError> {
        let (head, tail) = self.buf.split_at_checked(len).ok_or("value truncated")?;
        self.buf = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let bytes = self.bytes(N)?;
        Ok(bytes.try_into()?)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(u8::from_be_bytes(self.array()?))
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    fn i16(&mut self) -> Result<i16, DecodeError> {
        Ok(i16::from_be_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn i32(&mut self) -> Result<i32, DecodeError> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    fn i64(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    fn f64(&mut self) -> Result<f64, DecodeError> {
        Ok(f64::from_bits(u64::from_be_bytes(self.array()?)))
    }

    /// A NUL-terminated string; the terminator is consumed.
    fn cstring(&mut self) -> Result<&'a [u8], DecodeError> {
        let end = self
            .buf
            .iter()
            .position(|&b| b == 0)
            .ok_or("unterminated string")?;
        let s = self.bytes(end)?;
        self.u8()?;
        Ok(s)
    }

    /// Trailing bytes mean the value was not what its type says it is.
    fn finish(&self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err("trailing bytes after value".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ext(name: &str) -> Type {
        Type::new(name.into(), 90_000, Kind::Simple, "public".into())
    }

    /// numeric_send bytes from (weight, sign, dscale, base-10000 digits).
    fn numeric_bytes(weight: i16, sign: u16, dscale: i16, digits: &[i16]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend((digits.len() as i16).to_be_bytes());
        out.extend(weight.to_be_bytes());
        out.extend(sign.to_be_bytes());
        out.extend(dscale.to_be_bytes());
        for d in digits {
            out.extend(d.to_be_bytes());
        }
        out
    }

    #[test]
    fn null_is_null() {
        assert_eq!(decode(&Type::INT4, None), Value::Null);
        assert_eq!(decode(&ext("whatever"), None), Value::Null);
    }

    #[test]
    fn numeric_from_handmade_bytes() {
        let cases: &[(i16, u16, i16, &[i16], &str)] = &[
            (0, NUMERIC_POS, 2, &[1, 5000], "1.50"),
            (-1, NUMERIC_POS, 6, &[1, 2300], "0.000123"),
            (0, NUMERIC_NEG, 0, &[42], "-42"),
            (0, NUMERIC_POS, 0, &[], "0"),
            (0, NUMERIC_POS, 3, &[], "0.000"),
            (2, NUMERIC_POS, 0, &[12, 3456, 7890], "1234567890"),
            (2, NUMERIC_POS, 0, &[1], "100000000"),
            (0, NUMERIC_NAN, 0, &[], "NaN"),
            (0, NUMERIC_PINF, 0, &[], "Infinity"),
            (0, NUMERIC_NINF, 0, &[], "-Infinity"),
        ];
        for (weight, sign, dscale, digits, expected) in cases {
            let bytes = numeric_bytes(*weight, *sign, *dscale, digits);
            assert_eq!(
                decode(&Type::NUMERIC, Some(&bytes)),
                json!(expected),
                "{expected}"
            );
        }
    }

    #[test]
    fn postgis_geometry_is_uppercase_hex_ewkb() {
        // SELECT 'POINT(1 2)'::geometry sends this little-endian WKB.
        let wkb = [
            0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x3f, 0x00,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40,
        ];
        let expected = json!("0101000000000000000000F03F0000000000000040");
        assert_eq!(decode(&ext("geometry"), Some(&wkb)), expected);
        assert_eq!(decode(&ext("geography"), Some(&wkb)), expected);
    }

    #[test]
    fn pgvector_and_opaque_extension_types() {
        let mut bytes = Vec::new();
        bytes.extend(3i16.to_be_bytes());
        bytes.extend(0i16.to_be_bytes());
        for v in [1.0f32, -0.5, 0.1] {
            bytes.extend(v.to_be_bytes());
        }
        assert_eq!(
            decode(&ext("vector"), Some(&bytes)),
            json!([1.0, -0.5, 0.1])
        );
        assert_eq!(
            decode(&ext("halfvec"), Some(&[0, 1, 0, 0, 0x3c, 0])),
            json!({"$type": "halfvec", "base64": "AAEAADwA"})
        );
        // Unknown types: printable UTF-8 is shown, anything else is base64.
        assert_eq!(decode(&ext("mytype"), Some(b"a\tb\n")), json!("a\tb\n"));
        assert_eq!(
            decode(&ext("mytype"), Some(&[0, 1, 2])),
            json!({"$type": "mytype", "base64": "AAEC"})
        );
    }

    #[test]
    fn ipv6_like_postgres() {
        let cases = [
            ("::1", "::1"),
            ("::", "::"),
            ("1:0:0:1:0:0:0:1", "1:0:0:1::1"),
            ("1:0:0:2:3:0:0:4", "1::2:3:0:0:4"),
            ("2001:db8::", "2001:db8::"),
            ("1:2:3:4:5:6:7:0", "1:2:3:4:5:6:7:0"),
            ("::1.2.3.4", "::1.2.3.4"),
            ("::ffff:1.2.3.4", "::ffff:1.2.3.4"),
            ("::fffe:102:304", "::fffe:102:304"),
        ];
        for (input, expected) in cases {
            let addr: Ipv6Addr = input.parse().expect("test address");
            assert_eq!(ipv6_text(addr), expected, "{input}");
        }
    }

    #[test]
    fn dates_across_eras() {
        assert_eq!(date_text(0), "2000-01-01");
        assert_eq!(date_text(-1), "1999-12-31");
        assert_eq!(date_text(-10_957), "1970-01-01");
        assert_eq!(date_text(i32::MAX), "infinity");
        assert_eq!(date_text(i32::MIN), "-infinity");
        // 0001-01-01 minus one day is 1 BC, i.e. astronomical year 0.
        assert_eq!(date_text(-730_119), "0001-01-01");
        assert_eq!(date_text(-730_120), "0000-12-31");
        assert_eq!(date_text(-730_119 - 366 - 365), "-0001-01-01");
        assert_eq!(date_text(2_921_940), "+10000-01-01");
        assert_eq!(timestamp_text(-1, "Z"), "1999-12-31T23:59:59.999999Z");
        assert_eq!(
            timestamp_text(i64::MIN + 1, ""),
            "-290278-12-22T19:59:05.224193"
        );
    }

    #[test]
    fn float8_text_like_postgres() {
        assert_eq!(pg_float8_text(1.0), "1");
        assert_eq!(pg_float8_text(-0.0), "-0");
        assert_eq!(pg_float8_text(0.0001), "0.0001");
        assert_eq!(pg_float8_text(0.00001), "1e-05");
        assert_eq!(pg_float8_text(1.5e15), "1.5e+15");
        assert_eq!(pg_float8_text(123456789012345.0), "123456789012345");
        assert_eq!(pg_float8_text(f64::NEG_INFINITY), "-Infinity");
    }

    /// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
    fn garbage(seed: u64, len: usize) -> Vec<u8> {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 24) as u8
            })
            .collect()
    }

    #[test]
    fn garbage_never_panics() {
        let mut types: Vec<Type> = (0..6000).filter_map(Type::from_oid).collect();
        for name in [
            "citext",
            "ltree",
            "lquery",
            "ltxtquery",
            "hstore",
            "geometry",
            "geography",
            "vector",
            "halfvec",
            "sparsevec",
            "mystery",
        ] {
            types.push(ext(name));
        }
        let fields = vec![
            Field::new("a".into(), Type::INT4),
            Field::new("b".into(), Type::TEXT_ARRAY),
        ];
        types.push(Type::new(
            "comp".into(),
            90_001,
            Kind::Composite(fields),
            "public".into(),
        ));
        types.push(Type::new(
            "dom".into(),
            90_002,
            Kind::Domain(Type::NUMERIC),
            "public".into(),
        ));
        types.push(Type::new(
            "mood".into(),
            90_003,
            Kind::Enum(vec![]),
            "public".into(),
        ));
        types.push(Type::new(
            "r".into(),
            90_004,
            Kind::Range(Type::TIMESTAMPTZ),
            "public".into(),
        ));

        let mut inputs: Vec<Vec<u8>> = vec![
            vec![],
            vec![0],
            vec![1],
            vec![0xff; 3],
            vec![0xff; 8],
            vec![0xff; 24],
            vec![0x7f; 16],
            vec![0x80; 16],
            // Array header claiming 2^31-1 x 0 elements, then 7 dimensions.
            [
                &[0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 23][..],
                &[0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 1],
                &[0; 8],
            ]
            .concat(),
            [
                &[0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 23][..],
                &[0, 0, 0, 1, 0, 0, 0, 1].repeat(7),
            ]
            .concat(),
        ];
        // Records nested far deeper than MAX_DEPTH.
        let mut nested = Vec::new();
        for _ in 0..500 {
            let mut outer = vec![0, 0, 0, 1];
            outer.extend(2249u32.to_be_bytes());
            outer.extend((nested.len() as i32).to_be_bytes());
            outer.extend(nested);
            nested = outer;
        }
        inputs.push(nested);
        for seed in 0..40u64 {
            inputs.push(garbage(seed, (seed as usize * 7) % 64));
        }

        for ty in &types {
            for input in &inputs {
                let value = decode(ty, Some(input));
                // Serializing must work too (no NaN numbers etc.).
                assert!(serde_json::to_string(&value).is_ok(), "{ty}");
            }
        }
        assert_eq!(
            decode(&Type::INT4, Some(&[1, 2])),
            json!({"$type": "int4", "base64": "AQI=", "error": "failed to fill whole buffer"})
        );
    }
}

//! `pgmcp::db::values` against a real PostgreSQL server: every value is
//! produced by the server itself (binary format, as tokio-postgres requests
//! it) and compared with the expected JSON or with PostgreSQL's own text
//! output.
//!
//! Each test works in a schema of its own so the tests can run in parallel
//! against one database.

use crate::support;

use pgmcp::db::values::{RawValue, column_to_json, decode, row_to_json};
use serde_json::{Value, json};
use tokio_postgres::Client;

/// A connection whose `search_path` starts with a fresh schema, dropped on
/// `finish`.
struct TestDb {
    client: Client,
    schema: String,
    _db: support::TestDb,
}

impl TestDb {
    async fn new() -> TestDb {
        let db = support::test_db().await;
        let client = support::connect(&db.url).await;
        let schema = format!("values_{}", uuid::Uuid::new_v4().simple());
        client
            .batch_execute(&format!(
                "create schema {schema}; set search_path = {schema}, public; set timezone = 'UTC'"
            ))
            .await
            .expect("create test schema");
        TestDb {
            client,
            schema,
            _db: db,
        }
    }

    async fn exec(&self, sql: &str) {
        self.client
            .batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    async fn rows(&self, sql: &str) -> Vec<tokio_postgres::Row> {
        self.client
            .query(sql, &[])
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// The first row of `sql` as a JSON object.
    async fn row(&self, sql: &str) -> Value {
        let rows = self.rows(sql).await;
        Value::Object(row_to_json(rows.first().expect("one row")))
    }

    /// The first column of the first row of `sql`.
    async fn one(&self, sql: &str) -> Value {
        let rows = self.rows(sql).await;
        column_to_json(rows.first().expect("one row"), 0)
    }

    /// For every row of `sql`, column 0 must decode to the text in column 1.
    async fn assert_decodes_to_text(&self, sql: &str) -> usize {
        let rows = self.rows(sql).await;
        for row in &rows {
            let text: String = row.get(1);
            assert_eq!(column_to_json(row, 0), Value::String(text), "{sql}");
        }
        rows.len()
    }

    async fn finish(self) {
        let _ = self
            .client
            .batch_execute(&format!("drop schema {} cascade", self.schema))
            .await;
    }
}

#[tokio::test]
async fn scalars() {
    let db = TestDb::new().await;
    let got = db
        .row(
            "select true as t, false as f, null::int4 as n,
                 (-32768)::int2 as i2, 2147483647::int4 as i4, 4294967295::oid as oid,
                 9007199254740992::int8 as i8_safe, -9007199254740992::int8 as i8_safe_neg,
                 9007199254740993::int8 as i8_big, (-9223372036854775808)::int8 as i8_min,
                 0.1::float4 as f4, 3.4e38::float4 as f4_big, 1.5::float8 as f8,
                 1e-300::float8 as f8_small, 'NaN'::float8 as nan, 'Infinity'::float4 as inf,
                 '-Infinity'::float8 as ninf,
                 'héllo'::text as text, 'v'::varchar(5) as varchar, 'ab'::char(4) as bpchar,
                 'pg_class'::name as name, 'x'::\"char\" as ch, ''::\"char\" as ch_empty,
                 '<a>b</a>'::xml as xml,
                 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid as uuid,
                 '{\"a\": [1, 2.5, null, \"x\"], \"a\": true}'::json as json,
                 '{\"b\": {\"c\": [1, 2.5, null, \"x\"]}, \"a\": true}'::jsonb as jsonb,
                 '\"just a string\"'::jsonb as jsonb_scalar,
                 '\\x00ff10'::bytea as bytea, ''::bytea as bytea_empty,
                 12.34::money as money, (-0.05)::money as money_neg,
                 B'10110' as bit, B'1'::varbit(8) as varbit, B''::varbit as varbit_empty,
                 '$.a[*] ? (@ > 1)'::jsonpath as jsonpath,
                 '16/B374D848'::pg_lsn as lsn, '(3,7)'::tid as tid,
                 '18446744073709551615'::xid8 as xid8_big, '42'::xid8 as xid8",
        )
        .await;
    let expected = json!({
        "t": true, "f": false, "n": null,
        "i2": -32768, "i4": 2147483647, "oid": 4294967295u32,
        "i8_safe": 9007199254740992i64, "i8_safe_neg": -9007199254740992i64,
        "i8_big": "9007199254740993", "i8_min": "-9223372036854775808",
        "f4": 0.1, "f4_big": 3.4e38, "f8": 1.5, "f8_small": 1e-300,
        "nan": "NaN", "inf": "Infinity", "ninf": "-Infinity",
        "text": "héllo", "varchar": "v", "bpchar": "ab  ",
        "name": "pg_class", "ch": "x", "ch_empty": "",
        "xml": "<a>b</a>",
        "uuid": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        // json keeps duplicate keys textually; the last one wins once parsed.
        "json": {"a": true},
        "jsonb": {"a": true, "b": {"c": [1, 2.5, null, "x"]}},
        "jsonb_scalar": "just a string",
        "bytea": "\\x00ff10", "bytea_empty": "\\x",
        "money": "12.34", "money_neg": "-0.05",
        "bit": "10110", "varbit": "1", "varbit_empty": "",
        "jsonpath": "$.\"a\"[*]?(@ > 1)",
        "lsn": "16/B374D848", "tid": "(3,7)",
        "xid8_big": "18446744073709551615", "xid8": 42,
    });
    assert_eq!(got, expected);

    // reg* types arrive as their OID.
    assert_eq!(db.one("select 'pg_class'::regclass").await, json!(1259));
    assert_eq!(db.one("select 'int4'::regtype").await, json!(23));

    // A high-bit "char" is shown as PostgreSQL 15 shows it: an octal escape.
    db.assert_decodes_to_text("select v, v::text from (values ('\\351'::\"char\")) t(v)")
        .await;
    db.finish().await;
}

#[tokio::test]
async fn floats_round_trip() {
    let db = TestDb::new().await;
    let rows = db
        .rows(
            "select v, v::text from unnest(array[0, -0.0, 1.1, 3.14159265358979,
                 1e-310, 1.7976931348623157e308, 123456789.123, -2.5e-7, 1e15, 1e16]::float8[]) v",
        )
        .await;
    for row in &rows {
        let text: String = row.get(1);
        let expected: f64 = text.parse().expect("float8 text");
        assert_eq!(column_to_json(row, 0), json!(expected), "{text}");
    }
    // float4 must not show widening noise (0.1f32 is not 0.10000000149011612).
    let rows = db
        .rows("select v, v::text from unnest(array[0.1, 1.1, 16777217, 1e-40, 3.3e38]::float4[]) v")
        .await;
    for row in &rows {
        let text: String = row.get(1);
        let expected: f64 = text.parse().expect("float4 text");
        assert_eq!(column_to_json(row, 0), json!(expected), "{text}");
    }
    db.finish().await;
}

#[tokio::test]
async fn numeric_matches_postgres_text() {
    let db = TestDb::new().await;
    let tricky = [
        "0",
        "0.0",
        "0.00",
        "-0",
        "-0.000",
        "1",
        "-1",
        "1.50",
        "0.000123",
        "123.456",
        "9999",
        "10000",
        "10001",
        "99999999",
        "100000000",
        "100000001",
        "0.0001",
        "0.00001",
        "0.1",
        "0.12",
        "0.123",
        "0.1234",
        "0.12345",
        "1.0000",
        "1e-20",
        "1e20",
        "-1e20",
        "1e-1000",
        "1e1000",
        "12345678901234567890.123456789",
        "-12345678901234567890.123456789",
        "123456.7890",
        "0.00000001000",
        "-0.5",
        "1000000.000001",
        "9999.9999",
        "0.99999999",
        "1234.5678e10",
        "5e-324",
        "NaN",
        "Infinity",
        "-Infinity",
    ];
    let values = tricky
        .iter()
        .map(|v| format!("('{v}'::numeric)"))
        .collect::<Vec<_>>()
        .join(",");
    let checked = db
        .assert_decodes_to_text(&format!(
            "select v, v::text from (values {values},
                 (1/3::numeric), (round(1/3::numeric, 30)), (2::numeric ^ 200), (sqrt(2::numeric)),
                 (exp(1::numeric)), (-exp(-30::numeric)), (3.14159::numeric(10,4)),
                 (42::numeric(10,3)), (-42::numeric(5,0)), (10::numeric ^ -25)) t(v)"
        ))
        .await;
    assert_eq!(checked, tricky.len() + 10);

    // A few hundred more from arithmetic across scales and signs.
    let checked = db
        .assert_decodes_to_text(
            "select v, v::text from (
                 select (i * 7919.31337 - 100000)::numeric / (10::numeric ^ (i % 13)) as v
                 from generate_series(0, 199) i
                 union all select round(i::numeric / 7, i % 9) from generate_series(-50, 50) i
                 union all select i from generate_series(-5, 5, 0.37) i) t",
        )
        .await;
    assert!(checked > 300);
    assert_eq!(db.one("select 1.50::numeric").await, json!("1.50"));
    db.finish().await;
}

#[tokio::test]
async fn dates_and_times() {
    let db = TestDb::new().await;
    let got = db
        .row(
            "select '2024-02-29'::date as d, 'infinity'::date as d_inf, '-infinity'::date as d_ninf,
                 '0044-03-15 BC'::date as d_bc, '4713-01-01 BC'::date as d_min,
                 '5874897-12-31'::date as d_max, '12345-06-07'::date as d_big,
                 '04:05:06.789'::time as t, '00:00:00'::time as t0, '24:00:00'::time as t24,
                 '23:59:59.999999'::time as t_max,
                 '04:05:06+02'::timetz as tz1, '04:05:06.5-05:30'::timetz as tz2,
                 '04:05:06+00'::timetz as tz0,
                 '2024-01-02 03:04:05.123456'::timestamp as ts,
                 '2024-01-02 03:04:05'::timestamp as ts_whole,
                 '2024-01-02 03:04:05.5+02'::timestamptz as tstz,
                 'infinity'::timestamp as ts_inf, '-infinity'::timestamptz as tstz_ninf,
                 '0044-03-15 12:00:00 BC'::timestamp as ts_bc,
                 '294276-12-31 23:59:59.999999'::timestamp as ts_max,
                 '1999-12-31 23:59:59.999999+00'::timestamptz as tstz_pre_epoch",
        )
        .await;
    let expected = json!({
        "d": "2024-02-29", "d_inf": "infinity", "d_ninf": "-infinity",
        "d_bc": "-0043-03-15", "d_min": "-4712-01-01",
        "d_max": "+5874897-12-31", "d_big": "+12345-06-07",
        "t": "04:05:06.789", "t0": "00:00:00", "t24": "24:00:00", "t_max": "23:59:59.999999",
        "tz1": "04:05:06+02:00", "tz2": "04:05:06.5-05:30", "tz0": "04:05:06+00:00",
        "ts": "2024-01-02T03:04:05.123456", "ts_whole": "2024-01-02T03:04:05",
        "tstz": "2024-01-02T01:04:05.5Z",
        "ts_inf": "infinity", "tstz_ninf": "-infinity",
        "ts_bc": "-0043-03-15T12:00:00",
        "ts_max": "+294276-12-31T23:59:59.999999",
        "tstz_pre_epoch": "1999-12-31T23:59:59.999999Z",
    });
    assert_eq!(got, expected);

    // For AD years 1..=9999 the ISO form is PostgreSQL's ISO text with a 'T'
    // (and 'Z' for '+00' in UTC).
    let n = db
        .assert_decodes_to_text(
            "select v, v::text from generate_series('0001-01-01'::date, '9999-12-31', '997 days') g,
                 lateral (select g::date as v) d",
        )
        .await;
    assert!(n > 3000);
    let n = db
        .assert_decodes_to_text(
            "select v, replace(v::text, ' ', 'T') from generate_series(
                 '1899-12-25 00:00:00'::timestamp, '2100-03-01', '12345678.901234 seconds') v",
        )
        .await;
    assert!(n > 500);
    db.assert_decodes_to_text(
        "select v, replace(replace(v::text, ' ', 'T'), '+00', 'Z') from generate_series(
             '1969-12-25 00:00:00+00'::timestamptz, '2040-03-01', '7654321.000123 seconds') v",
    )
    .await;
    db.assert_decodes_to_text(
        "select v, v::text from generate_series('2000-01-01'::timestamp,
             '2000-01-02', '1234.567 seconds') g, lateral (select g::time as v) t",
    )
    .await;
    db.finish().await;
}

#[tokio::test]
async fn intervals_are_iso_8601() {
    let db = TestDb::new().await;
    assert_eq!(
        db.one("select '1 year 2 months 3 days 04:05:06.5'::interval")
            .await,
        json!("P1Y2M3DT4H5M6.5S")
    );
    assert_eq!(db.one("select '0'::interval").await, json!("PT0S"));
    assert_eq!(db.one("select '-1 day'::interval").await, json!("P-1D"));
    // PostgreSQL's own iso_8601 style is the reference for the rest.
    db.exec("set intervalstyle = iso_8601").await;
    let n = db
        .assert_decodes_to_text(
            "select v, v::text from unnest(array[
                 '1 year', '-1 year -2 mons', '13 months', '-13 months', '1 day -1 second',
                 '-0.5 seconds', '0.000001 seconds', '-1 day -0.5 sec', '25 hours',
                 '100 years 11 months 30 days 23:59:59.999999', '-3 days 04:00',
                 '1 minute', '-1 hour -1 minute', '2147483647 days', '-178000000 years',
                 '2562047788 hours', '6 days 12:00:00.25', '00:00:01.1'
             ]::interval[]) v",
        )
        .await;
    assert_eq!(n, 18);
    db.finish().await;
}

#[tokio::test]
async fn network_and_geometric_types_match_postgres_text() {
    let db = TestDb::new().await;
    assert_eq!(
        db.one("select '192.168.0.1'::inet").await,
        json!("192.168.0.1")
    );
    assert_eq!(
        db.one("select '10.0.0.0/8'::cidr").await,
        json!("10.0.0.0/8")
    );
    assert_eq!(db.one("select '::1'::inet").await, json!("::1"));
    assert_eq!(
        db.one("select '08:00:2b:01:02:03'::macaddr").await,
        json!("08:00:2b:01:02:03")
    );
    // concat() uses the output function; inet's ::text cast always adds the
    // mask length.
    db.assert_decodes_to_text(
        "select v, concat(v) from unnest(array['192.168.0.1', '192.168.0.1/24', '192.168.0.1/32',
             '0.0.0.0/0', '::1', '::', '::1.2.3.4', '::ffff:1.2.3.4', '::ffff:0.0.0.0',
             '1:0:0:1:0:0:0:1', '1:0:0:2:3:0:0:4', '2001:db8::/32', '2001:db8::1/128',
             'fe80::1:2:3:4', '1:2:3:4:5:6:7:8', '0:0:1::', '::fffe:1.2.3.4']::inet[]) v",
    )
    .await;
    db.assert_decodes_to_text(
        "select v, v::text from unnest(array['10.0.0.0/8', '192.168.1.1/32', '0.0.0.0/0',
             '2001:db8::/32', '::1/128', '::ffff:1.2.3.0/120']::cidr[]) v",
    )
    .await;
    db.assert_decodes_to_text(
        "select v, v::text from (values ('08:00:2b:01:02:03'::macaddr8),
             ('08002b0102030405'::macaddr8)) t(v)",
    )
    .await;
    for (ty, literals) in [
        ("point", "'(1,2)', '(-1.5,1e-05)', '(1e+20,NaN)'"),
        ("lseg", "'[(0,0),(1.25,-3)]'"),
        ("box", "'(1,1),(0,0)'"),
        ("path", "'[(0,0),(1,1),(2,0)]', '((0,0),(1,1),(2,0))'"),
        ("polygon", "'((0,0),(1,1),(2,0))'"),
        ("line", "'{1,-1,0.5}'"),
        ("circle", "'<(1,2),3.5>'"),
        (
            "tsvector",
            "'a fat cat:3A,1B sat on a mat:7C and ate a fat rat', '''it''''s'' ''back\\\\slash'':1', ''",
        ),
        ("pg_snapshot", "'10:20:10,14,15', '5:5:'"),
        ("txid_snapshot", "'10:20:10,14,15'"),
    ] {
        db.assert_decodes_to_text(&format!(
            "select v, v::text from unnest(array[{literals}]::{ty}[]) v"
        ))
        .await;
    }
    // tsquery's binary form is a tree; it goes out as opaque base64.
    let tsquery = db.one("select 'fat & rat'::tsquery").await;
    assert_eq!(tsquery["$type"], json!("tsquery"));
    assert!(tsquery["base64"].is_string());
    db.finish().await;
}

#[tokio::test]
async fn arrays() {
    let db = TestDb::new().await;
    let got = db
        .row(
            "select array[1, null, 3]::int4[] as ints, array[[1,2],[3,null]]::int4[] as matrix,
                 '{}'::int4[] as empty, array['a', null, 'c d']::text[] as texts,
                 array[1.50, null, 'NaN']::numeric[] as nums,
                 array['2024-01-01'::date, 'infinity'] as dates,
                 '[2:3]={7,8}'::int4[] as lower_bound,
                 '{{{1,2},{3,4}},{{5,6},{7,8}}}'::int8[] as cube,
                 array['\\x01'::bytea, '\\x'] as byteas,
                 array[row(1, 'a'), row(2, null)] as records,
                 array['{\"a\":1}'::jsonb, null] as jsonbs,
                 '1 2 3'::int2vector as int2vector, '{\"(1,2)\"}'::point[] as points,
                 array[int4range(1, 5), 'empty'] as ranges",
        )
        .await;
    let expected = json!({
        "ints": [1, null, 3], "matrix": [[1, 2], [3, null]], "empty": [],
        "texts": ["a", null, "c d"], "nums": ["1.50", null, "NaN"],
        "dates": ["2024-01-01", "infinity"],
        "lower_bound": [7, 8],
        "cube": [[[1, 2], [3, 4]], [[5, 6], [7, 8]]],
        "byteas": ["\\x01", "\\x"],
        "records": [{"f1": 1, "f2": "a"}, {"f1": 2, "f2": null}],
        "jsonbs": [{"a": 1}, null],
        "int2vector": [1, 2, 3], "points": ["(1,2)"],
        "ranges": ["[1,5)", "empty"],
    });
    assert_eq!(got, expected);

    // `anyarray` columns carry their element type only in the array header.
    db.exec(
        "create table stats_src (v text);
         insert into stats_src select 'common' from generate_series(1, 50)
             union all select 'rare' || g from generate_series(1, 5) g;
         analyze stats_src",
    )
    .await;
    let common = db
        .one(&format!(
            "select most_common_vals from pg_stats
             where schemaname = '{}' and tablename = 'stats_src' and attname = 'v'",
            db.schema
        ))
        .await;
    assert_eq!(common.get(0), Some(&json!("common")), "{common}");
    db.finish().await;
}

#[tokio::test]
async fn user_defined_types() {
    let db = TestDb::new().await;
    db.exec(
        "create type mood as enum ('sad', 'ok', 'happy');
         create type inner_t as (x int4, y text);
         create type comp as (a int4, b text, c numeric[], d mood, e inner_t);
         create domain posint as int4 check (value > 0);
         create domain short_text as text;
         create type floatrange as range (subtype = float8);
         create type textrange as range (subtype = text);
         create table t (id int4, label text)",
    )
    .await;
    let got = db
        .row(
            "select 'happy'::mood as mood, array['sad', 'ok']::mood[] as moods,
                 row(1, 'a', null) as rec, row(1, row(2.5, true)) as nested_rec,
                 (1, 'x', array[1.5], 'ok', (7, 'y'))::comp as comp,
                 (null, null, null, null, null)::comp as comp_nulls,
                 (select t from (select 1 as id, 'one' as label) t) as subrow,
                 5::posint as dom, array[1, 2]::posint[] as dom_arr, 'hi'::short_text as dom_text,
                 int4range(1, 10) as r, '[1,10]'::int4range as r_closed,
                 'empty'::int4range as r_empty, numrange(1.5, null) as r_half,
                 '(,)'::int4range as r_unbounded, daterange('2024-01-01', '2024-02-01') as r_date,
                 tsrange('2020-01-01', '2020-01-02 12:00') as r_ts,
                 '[1.5,2.5]'::floatrange as r_float, '[\"a b\",c)'::textrange as r_text,
                 '{[1,3), [5,7)}'::int4multirange as mr, '{}'::nummultirange as mr_empty",
        )
        .await;
    let expected = json!({
        "mood": "happy", "moods": ["sad", "ok"],
        "rec": {"f1": 1, "f2": "a", "f3": null},
        "nested_rec": {"f1": 1, "f2": {"f1": "2.5", "f2": true}},
        "comp": {"a": 1, "b": "x", "c": ["1.5"], "d": "ok", "e": {"x": 7, "y": "y"}},
        "comp_nulls": {"a": null, "b": null, "c": null, "d": null, "e": null},
        "subrow": {"f1": 1, "f2": "one"},
        "dom": 5, "dom_arr": [1, 2], "dom_text": "hi",
        "r": "[1,10)", "r_closed": "[1,11)", "r_empty": "empty", "r_half": "[1.5,)",
        "r_unbounded": "(,)", "r_date": "[2024-01-01,2024-02-01)",
        "r_ts": "[2020-01-01T00:00:00,2020-01-02T12:00:00)",
        "r_float": "[1.5,2.5]", "r_text": "[\"a b\",c)",
        "mr": "{[1,3),[5,7)}", "mr_empty": "{}",
    });
    assert_eq!(got, expected);

    // Table row types are composites with named fields.
    db.exec("insert into t values (1, 'x')").await;
    assert_eq!(
        db.one("select t from t").await,
        json!({"id": 1, "label": "x"})
    );

    // Range text for integer/numeric/date/text subtypes is PostgreSQL's own.
    db.assert_decodes_to_text(
        "select v, v::text from unnest(array['[1,2)', '(,5]', '[-3,)', 'empty']::int4range[]) v",
    )
    .await;
    db.assert_decodes_to_text(
        "select v, v::text from unnest(array['[\"\",\"a\"\"b\")', '[\"x\\\\\\\\y\",z]',
             '(,\"(\")']::textrange[]) v",
    )
    .await;
    db.finish().await;
}

#[tokio::test]
async fn extension_types() {
    let db = TestDb::new().await;
    // Extensions are per database, so install them once, in `public`; the
    // test's own schema stays disposable.
    db.exec(
        "create extension if not exists citext schema public;
         create extension if not exists ltree schema public;
         create extension if not exists hstore schema public",
    )
    .await;
    let got = db
        .row(
            "select 'MiXeD'::citext as citext, array['a', null]::citext[] as citexts,
                 'top.science.astronomy'::ltree as ltree, '*.science.*'::lquery as lquery,
                 'science & astronomy'::ltxtquery as ltxtquery,
                 'a=>1, b=>NULL, \"c d\"=>\"x\"'::hstore as hstore, ''::hstore as hstore_empty",
        )
        .await;
    let expected = json!({
        "citext": "MiXeD", "citexts": ["a", null],
        "ltree": "top.science.astronomy", "lquery": "*.science.*",
        "ltxtquery": "science & astronomy",
        "hstore": {"a": "1", "b": null, "c d": "x"}, "hstore_empty": {},
    });
    assert_eq!(got, expected);

    // PostGIS is optional on this machine; its decode is unit-tested on
    // known bytes in the module itself.
    if db
        .client
        .batch_execute("create extension if not exists postgis schema public")
        .await
        .is_ok()
    {
        assert_eq!(
            db.one("select 'POINT(1 2)'::geometry").await,
            db.one("select 'POINT(1 2)'::geometry::text").await
        );
    }
    db.finish().await;
}

#[tokio::test]
async fn row_to_json_names_and_raw_values() {
    let db = TestDb::new().await;
    assert_eq!(
        db.row("select 1 as a, 2 as a, 3 as a").await,
        json!({"a": 1, "a_2": 2, "a_3": 3})
    );
    // A later real column named like a generated suffix is itself renamed.
    assert_eq!(
        db.row("select 1 as a, 2 as a, 3 as a_2").await,
        json!({"a": 1, "a_2": 2, "a_2_2": 3})
    );

    let rows = db.rows("select 42::int4, null::text").await;
    let row = rows.first().expect("one row");
    assert_eq!(column_to_json(row, 5), Value::Null);
    let raw: RawValue<'_> = row.get(0);
    assert_eq!(raw.bytes, &[0, 0, 0, 42]);
    assert_eq!(decode(&raw.ty, Some(raw.bytes)), json!(42));
    let null: Option<RawValue<'_>> = row.get(1);
    assert!(null.is_none());
    db.finish().await;
}

//! The read-only statement policy, catalog half: resolving the names a read uses against the
//! database, and refusing every function the policy cannot show is safe.
//!
//! The parse half (`read_policy.rs`) knows the statement's text; only the catalog knows what
//! `c.side_effect`, `a === b`, `app.v` or an implicit cast resolves to. So inside the read's
//! own READ ONLY transaction, before the statement runs, one query lists every object through
//! which PostgreSQL could execute a function that is not already known to be safe (the
//! *candidates*, see [`CANDIDATES_SQL`]):
//!
//! - functions with a called name, outside the allowed built-ins (a user function may carry
//!   a built-in's name and win resolution for its argument types);
//! - one-argument functions on a composite or pseudo type named in field notation;
//! - the functions behind operators with a used name (explicit or implicit comparisons);
//! - the types in play: those named in casts, the column and row types of the relations
//!   read, and (recursively) their domain base and array element types; for them, the
//!   functions of casts that are not built in (casts also apply implicitly) and domain CHECK
//!   constraints (a value is checked when coerced to the domain);
//! - the rewrite rules of views read (a view executes its query), the row-security policies
//!   of tables read, and the column defaults of tables an EXPLAIN plans a write into
//!   (planning folds them).
//!
//! Each candidate is keyed by its OID and `xmin`, so `CREATE OR REPLACE` makes it a new
//! candidate. A candidate is *examined* once ([`Policy::examine`]): built-ins by the reviewed
//! classification, extension functions by their extension's rule, user functions only when
//! IMMUTABLE/STABLE and either `LANGUAGE sql` with a body that passes the parse policy or
//! vouched for by the operator (`--read-only-allow-function`); views, policies and
//! constraints by the functions, operators and views they depend on (`pg_depend`). Names
//! found on the way (a SQL body's calls, a nested view) join the statement's names, and the
//! candidates are listed again until nothing is left: the statement's *plan*.
//!
//! A statement seen before sends its plan's names and keys along, so on the common path the
//! check is one prepared query that returns no row, pipelined with `BEGIN` ([`GUARD_SQL`]).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use serde_json::json;

use crate::db::function_policy::{Builtin, CLASSIFICATION};
use crate::db::read_policy::{
    Names, ReadCheck, check_function_body, denied, refusal, unclassified_builtin,
};
use crate::error::{Code, ToolError, ToolResult};

/// OIDs below this are assigned by initdb: built-in objects, immutable for the server's life.
const FIRST_NORMAL_OID: u32 = 16384;
/// Rounds of "list candidates, examine them" before a statement is called too entangled.
const MAX_ROUNDS: usize = 16;
const MAX_PLANS: usize = 1024;
const MAX_VERDICTS: usize = 16 * 1024;

/// What examining one candidate found: the names and further candidates it depends on.
#[derive(Debug, Clone, Default)]
struct Found {
    names: Names,
    keys: Vec<String>,
}

/// A statement's resolved policy: every name it depends on, transitively, and the keys of
/// the candidates that were examined and found safe.
#[derive(Debug, Default)]
struct Plan {
    names: Names,
    keys: BTreeSet<String>,
}

/// The catalog policy of one database (one per pool: OIDs are per cluster and database).
pub struct Policy {
    /// `name` or `schema.name`, from `--read-only-allow-function`.
    vouched: HashSet<String>,
    plans: Mutex<HashMap<String, Arc<Plan>>>,
    verdicts: Mutex<HashMap<String, Result<Found, ToolError>>>,
}

impl Policy {
    pub fn new(vouched: &[String]) -> Policy {
        Policy {
            vouched: vouched.iter().cloned().collect(),
            plans: Mutex::default(),
            verdicts: Mutex::default(),
        }
    }

    fn plan(&self, sql: &str) -> Option<Arc<Plan>> {
        self.plans.lock().ok()?.get(sql).cloned()
    }

    /// The names and known-safe keys to check `sql` with: its plan's when there is one.
    fn scope(&self, sql: &str, check: &ReadCheck) -> (Names, BTreeSet<String>) {
        match self.plan(sql) {
            Some(plan) if plan.names.covers(&check.names) => {
                (plan.names.clone(), plan.keys.clone())
            }
            _ => ((*check.names).clone(), BTreeSet::new()),
        }
    }

    /// The parameters of [`CANDIDATES_SQL`] / [`GUARD_SQL`] for `sql`: its plan's names and
    /// known-safe keys when it has one. (On every read: built from the plan by reference.)
    pub fn args(&self, sql: &str, check: &ReadCheck) -> Args {
        match self.plan(sql) {
            Some(plan) if plan.names.covers(&check.names) => Args::new(&plan.names, &plan.keys),
            _ => Args::new(&check.names, &BTreeSet::new()),
        }
    }

    /// Examines the candidates `pending` (from [`CANDIDATES_SQL`], run in the read's
    /// transaction on `client`), lists candidates again with whatever names they add, and so
    /// on until none is left. Refuses the first unsafe one; otherwise remembers the plan.
    pub async fn verify(
        &self,
        client: &tokio_postgres::Client,
        sql: &str,
        check: &ReadCheck,
        mut pending: Vec<String>,
    ) -> ToolResult<()> {
        let (mut names, mut keys) = self.scope(sql, check);
        for _ in 0..MAX_ROUNDS {
            if pending.is_empty() {
                self.remember(sql, names, keys);
                return Ok(());
            }
            while let Some(key) = pending.pop() {
                if keys.contains(&key) {
                    continue;
                }
                let found = self.examine(client, &key).await?;
                names.extend(&found.names);
                pending.extend(found.keys);
                keys.insert(key);
            }
            let args = Args::new(&names, &keys);
            let rows = client
                .query(CANDIDATES_SQL, &args.refs())
                .await
                .map_err(ToolError::from)?;
            pending = rows.iter().map(|r| r.get::<_, String>(0)).collect();
        }
        Err(refusal(
            "read-only mode could not finish checking this statement: it reaches too many nested views and functions",
        )
        .suggest("Query the underlying tables directly, or run it in unrestricted mode.")
        .with_details(json!({ "reason": "too many nested objects" })))
    }

    fn remember(&self, sql: &str, names: Names, keys: BTreeSet<String>) {
        if let Ok(mut plans) = self.plans.lock() {
            if plans.len() >= MAX_PLANS {
                plans.clear();
            }
            plans.insert(sql.to_string(), Arc::new(Plan { names, keys }));
        }
    }

    /// The verdict on one candidate, cached by key (OID and xmin: a new version of the object
    /// is a new key).
    async fn examine(&self, client: &tokio_postgres::Client, key: &str) -> ToolResult<Found> {
        if let Some(hit) = self.verdicts.lock().ok().and_then(|v| v.get(key).cloned()) {
            return hit;
        }
        let verdict = match examine_key(key) {
            Some(('f', oid)) => self.examine_function(client, oid).await,
            Some((kind, oid)) => self.examine_object(client, kind, oid).await,
            None => Err(ToolError::internal(format!("bad policy key {key}"))),
        };
        // A failed lookup (connection trouble, a catalog change) is not a verdict.
        if verdict
            .as_ref()
            .map_or_else(|e| e.code == "READ_ONLY_VIOLATION", |_| true)
            && let Ok(mut v) = self.verdicts.lock()
        {
            if v.len() >= MAX_VERDICTS {
                v.clear();
            }
            v.insert(key.to_string(), verdict.clone());
        }
        verdict
    }

    async fn examine_function(
        &self,
        client: &tokio_postgres::Client,
        oid: u32,
    ) -> ToolResult<Found> {
        let row = client
            .query_opt(FUNCTION_SQL, &[&oid])
            .await
            .map_err(ToolError::from)?
            .ok_or_else(catalog_changed)?;
        let name: String = row.get("proname");
        let schema: String = row.get("nspname");
        let shown = format!("{schema}.{name}");
        let volatility: i8 = row.get("provolatile");
        let volatility = volatility as u8 as char;
        let language: String = row.get("lanname");
        let extension: Option<String> = row.get("extname");
        let security_definer: bool = row.get("prosecdef");
        let kind: i8 = row.get("prokind");
        let has_sql_body: bool = row.get("has_sql_body");
        let refuse = |reason: &str, why: String, suggestion: String| {
            Err(refusal(format!("read-only mode refuses {shown}(): {why}"))
                .suggest(suggestion)
                .with_details(json!({ "function": shown, "reason": reason })))
        };
        let vouch = format!(
            "If it only reads, the server's operator can vouch for it with --read-only-allow-function {shown} (docs/SECURITY.md)."
        );
        if oid < FIRST_NORMAL_OID {
            return match CLASSIFICATION.builtin(&name) {
                Some(Builtin::Allowed { .. }) => Ok(Found::default()),
                _ => Err(builtin_refusal(&name)),
            };
        }
        if volatility == 'v' {
            if let Some(rule) = extension
                .as_deref()
                .and_then(|e| CLASSIFICATION.extension(e))
                && rule.allow.contains(name.as_str())
            {
                return Ok(Found::default());
            }
            return refuse(
                "volatile",
                "it is a VOLATILE function, which may change data or state".into(),
                "Declare it STABLE or IMMUTABLE if it only reads (a LANGUAGE sql body is then checked by this policy), or call it through a write tool in unrestricted mode.".into(),
            );
        }
        if let Some(ext) = extension.as_deref()
            && let Some(rule) = CLASSIFICATION.extension(ext)
        {
            if rule.deny.contains(name.as_str()) {
                return refuse(
                    "extension-denied",
                    format!("the read-only policy refuses this function of the {ext} extension"),
                    "Call it through a write tool in unrestricted mode.".into(),
                );
            }
            if rule.stable || rule.allow.contains(name.as_str()) {
                return Ok(Found::default());
            }
        }
        if self.vouched.contains(&shown) || self.vouched.contains(&name) {
            return Ok(Found::default());
        }
        if security_definer {
            return refuse(
                "security-definer",
                "it is SECURITY DEFINER: it runs with its owner's privileges, beyond the read-only role".into(),
                vouch,
            );
        }
        if kind == b'a' as i8 {
            // An aggregate is its support functions.
            let support: Vec<u32> = row.get("support");
            return self.functions_by_oid(client, &support, &shown).await;
        }
        if language != "sql" {
            return refuse(
                "not-provably-read-only",
                format!(
                    "it is a LANGUAGE {language} function, whose body the read-only policy cannot check"
                ),
                vouch,
            );
        }
        let body: String = if has_sql_body {
            // A SQL-standard body (BEGIN ATOMIC … END / RETURN expr) has no source text;
            // PostgreSQL deparses it.
            let deparsed: Option<String> = client
                .query_one("SELECT pg_catalog.pg_get_function_sqlbody($1)", &[&oid])
                .await
                .map_err(ToolError::from)?
                .get(0);
            standard_body_statements(&deparsed.unwrap_or_default())
        } else {
            row.get("prosrc")
        };
        match check_function_body(&body) {
            Ok(mut names) => {
                // Its own name stays watched too: a replacement is a new key anyway.
                names.funcs.insert(name);
                Ok(Found {
                    names,
                    keys: Vec::new(),
                })
            }
            Err(e) => Err(refusal(format!(
                "read-only mode refuses {shown}(): its body does not pass the read-only policy ({})",
                e.error
            ))
            .suggest(vouch)
            .with_details(json!({ "function": shown, "reason": "body", "body": e.error }))),
        }
    }

    /// Built-ins among `oids` by classification; the others become candidates, watched by name.
    async fn functions_by_oid(
        &self,
        client: &tokio_postgres::Client,
        oids: &[u32],
        via: &str,
    ) -> ToolResult<Found> {
        let rows = client
            .query(FUNCTIONS_BY_OID_SQL, &[&oids])
            .await
            .map_err(ToolError::from)?;
        let mut found = Found::default();
        for row in rows {
            let name: String = row.get(0);
            let builtin: bool = row.get(1);
            let key: String = row.get(2);
            if builtin {
                if !CLASSIFICATION.builtin_allowed(&name) {
                    return Err(used_by(builtin_refusal(&name), via));
                }
            } else {
                found.names.funcs.insert(name);
                found.keys.push(key);
            }
        }
        Ok(found)
    }

    /// A view, policy, domain constraint or column default: what it executes is in its
    /// definition, which PostgreSQL deparses to SQL that the parse policy then checks like a
    /// statement. (`pg_depend` cannot be used: it records no dependency on built-in, pinned
    /// objects, so a view over `pg_read_file` depends on nothing there.)
    async fn examine_object(
        &self,
        client: &tokio_postgres::Client,
        kind: char,
        oid: u32,
    ) -> ToolResult<Found> {
        let (catalog, definition) = match kind {
            'r' => (
                "pg_rewrite",
                "SELECT pg_catalog.pg_get_viewdef(r.ev_class) FROM pg_catalog.pg_rewrite r WHERE r.oid = $1",
            ),
            'p' => (
                "pg_policy",
                "SELECT 'SELECT ' || coalesce(pg_catalog.pg_get_expr(p.polqual, p.polrelid), 'true') || ', ' \
                        || coalesce(pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid), 'true') \
                   FROM pg_catalog.pg_policy p WHERE p.oid = $1",
            ),
            'c' => (
                "pg_constraint",
                "SELECT 'SELECT ' || pg_catalog.pg_get_expr(c.conbin, c.conrelid) FROM pg_catalog.pg_constraint c WHERE c.oid = $1",
            ),
            'd' => (
                "pg_attrdef",
                "SELECT 'SELECT ' || pg_catalog.pg_get_expr(d.adbin, d.adrelid) FROM pg_catalog.pg_attrdef d WHERE d.oid = $1",
            ),
            _ => return Err(ToolError::internal(format!("bad policy key kind {kind}"))),
        };
        let row = client
            .query_opt(
                &format!(
                    "SELECT ({definition}), pg_catalog.pg_describe_object('pg_catalog.{catalog}'::pg_catalog.regclass, $1, 0)"
                ),
                &[&oid],
            )
            .await
            .map_err(ToolError::from)?
            .ok_or_else(catalog_changed)?;
        let text: Option<String> = row.get(0);
        let what: Option<String> = row.get(1);
        let what = what.unwrap_or_else(|| format!("{catalog} {oid}"));
        let Some(text) = text else {
            return Ok(Found::default());
        };
        match check_function_body(&text) {
            Ok(names) => Ok(Found {
                names,
                keys: Vec::new(),
            }),
            // Planning an INSERT folds column defaults, and only IMMUTABLE functions fold:
            // every denied built-in is VOLATILE (nextval above all), so it cannot run there.
            Err(e)
                if kind == 'd'
                    && e.details
                        .as_ref()
                        .is_some_and(|d| d.get("category").is_some()) =>
            {
                Ok(Found::default())
            }
            Err(e) => Err(used_by(e, &what)),
        }
    }
}

/// The statements of a deparsed SQL-standard function body: `BEGIN ATOMIC s1; s2; END` or
/// `RETURN expr` (the two forms `pg_get_function_sqlbody` produces).
fn standard_body_statements(deparsed: &str) -> String {
    let body = deparsed.trim();
    if let Some(expr) = body.strip_prefix("RETURN ") {
        return format!("SELECT {expr}");
    }
    body.strip_prefix("BEGIN ATOMIC")
        .and_then(|b| b.trim_end().strip_suffix("END"))
        .unwrap_or(body)
        .to_string()
}

/// The refusal of a built-in function that is denied or unclassified.
fn builtin_refusal(name: &str) -> ToolError {
    match denied(name) {
        Some((category, reason)) => refusal(format!("read-only mode refuses {name}(): it {reason}"))
            .suggest("This function is never available to reads (docs/SECURITY.md, \"The function policy\").")
            .with_details(json!({ "function": name, "reason": reason, "category": category })),
        None => unclassified_builtin(name),
    }
}

/// Adds what used a refused function to its refusal ("… used by view v").
fn used_by(mut err: ToolError, via: &str) -> ToolError {
    err.error = format!("{} (used by {via})", err.error);
    if let Some(d) = err.details.as_mut() {
        d["via"] = json!(via);
    }
    err
}

fn catalog_changed() -> ToolError {
    ToolError::new(
        crate::error::Category::Database,
        Code::CatalogChanged,
        "an object this read uses changed while the read-only policy checked it",
    )
    .suggest("Retry the call.")
}

/// `f:1234:567` → `('f', 1234)`.
fn examine_key(key: &str) -> Option<(char, u32)> {
    let mut parts = key.split(':');
    let kind = parts.next()?.chars().next()?;
    let oid = parts.next()?.parse().ok()?;
    Some((kind, oid))
}

const FUNCTION_SQL: &str = "\
SELECT p.proname::text AS proname, n.nspname::text AS nspname, p.provolatile, l.lanname::text AS lanname, p.prosecdef, p.prokind, p.prosrc,
       (pg_catalog.to_jsonb(p) ->> 'prosqlbody') IS NOT NULL AS has_sql_body,
       (SELECT e.extname::text FROM pg_catalog.pg_depend d
          JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid
         WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND d.objid = p.oid
           AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass AND d.deptype = 'e') AS extname,
       ARRAY(SELECT f FROM unnest(ARRAY[a.aggtransfn, a.aggfinalfn, a.aggcombinefn, a.aggserialfn,
                                        a.aggdeserialfn, a.aggmtransfn, a.aggminvtransfn, a.aggmfinalfn]::oid[]) f
              WHERE f <> 0) AS support
  FROM pg_catalog.pg_proc p
  JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
  JOIN pg_catalog.pg_language l ON l.oid = p.prolang
  LEFT JOIN pg_catalog.pg_aggregate a ON a.aggfnoid = p.oid
 WHERE p.oid = $1";

const FUNCTIONS_BY_OID_SQL: &str = "\
SELECT p.proname::text, p.oid < 16384, 'f:' || p.oid || ':' || p.xmin
  FROM pg_catalog.pg_proc p WHERE p.oid = ANY ($1)";

/// The candidate query's text, with the names and keys as parameters (see [`Args`]), so a
/// connection prepares it once: planning this query costs several times its execution.
/// Every lookup is driven by the names (`unnest`) through an index, in subqueries kept from
/// being flattened (`OFFSET 0`), so that its *generic* plan, which knows nothing of the
/// arrays' sizes, is as good as a custom one; see [`GENERIC_PLAN_SQL`].
macro_rules! candidates_sql {
    () => {
        "WITH RECURSIVE rel AS (
  SELECT c.oid, c.reltype, c.relkind, c.relrowsecurity
    FROM unnest($5::pg_catalog.name[]) AS n(name),
         LATERAL (SELECT c.oid, c.reltype, c.relkind, c.relrowsecurity FROM pg_catalog.pg_class c
                   WHERE c.relname = n.name OFFSET 0) AS c
), ty(oid) AS (
  SELECT t.oid FROM unnest($7::pg_catalog.name[]) AS n(name),
         LATERAL (SELECT t.oid FROM pg_catalog.pg_type t WHERE t.typname = n.name OFFSET 0) AS t
  UNION SELECT a.atttypid FROM rel,
         LATERAL (SELECT a.atttypid FROM pg_catalog.pg_attribute a
                   WHERE a.attrelid = rel.oid AND a.attnum > 0 OFFSET 0) AS a
  UNION SELECT rel.reltype FROM rel
  UNION SELECT b.oid FROM ty,
         LATERAL (SELECT t.typbasetype, t.typelem FROM pg_catalog.pg_type t WHERE t.oid = ty.oid OFFSET 0) AS t,
         LATERAL (VALUES (t.typbasetype), (t.typelem)) AS b(oid)
   WHERE b.oid <> 0
)
SELECT s.k FROM (
  SELECT 'f:' || p.oid || ':' || p.xmin AS k, p.oid AS fn
    FROM unnest($1::pg_catalog.name[]) AS n(name),
         LATERAL (SELECT p.oid, p.xmin FROM pg_catalog.pg_proc p WHERE p.proname = n.name
                     AND (p.oid >= 16384 OR p.proname = ANY ($3::pg_catalog.name[])) OFFSET 0) AS p
  UNION ALL
  SELECT 'f:' || p.oid || ':' || p.xmin, p.oid
    FROM unnest($2::pg_catalog.name[]) AS n(name),
         LATERAL (SELECT p.oid, p.xmin FROM pg_catalog.pg_proc p WHERE p.proname = n.name
                     AND p.pronargs = 1 AND (p.oid >= 16384 OR p.proname = ANY ($3::pg_catalog.name[]))
                     AND (SELECT t.typtype FROM pg_catalog.pg_type t WHERE t.oid = p.proargtypes[0]) IN ('c', 'p', 'd')
                  OFFSET 0) AS p
  UNION ALL
  SELECT 'f:' || p.oid || ':' || p.xmin, p.oid FROM pg_catalog.pg_operator o
    JOIN pg_catalog.pg_proc p ON p.oid = o.oprcode
   WHERE o.oid >= 16384 AND o.oprname = ANY ($4::pg_catalog.name[])
  UNION ALL
  SELECT 'f:' || p.oid || ':' || p.xmin, p.oid FROM pg_catalog.pg_cast c
    JOIN pg_catalog.pg_proc p ON p.oid = c.castfunc
   WHERE c.oid >= 16384 AND c.castsource IN (SELECT oid FROM ty)
  UNION ALL
  SELECT 'r:' || r.oid || ':' || r.xmin, NULL FROM rel,
         LATERAL (SELECT r.oid, r.xmin FROM pg_catalog.pg_rewrite r WHERE r.ev_class = rel.oid OFFSET 0) AS r
   WHERE rel.relkind = 'v'
  UNION ALL
  SELECT 'p:' || pol.oid || ':' || pol.xmin, NULL FROM rel,
         LATERAL (SELECT pol.oid, pol.xmin FROM pg_catalog.pg_policy pol WHERE pol.polrelid = rel.oid OFFSET 0) AS pol
   WHERE rel.relrowsecurity
  UNION ALL
  SELECT 'c:' || con.oid || ':' || con.xmin, NULL FROM ty,
         LATERAL (SELECT con.oid, con.xmin FROM pg_catalog.pg_constraint con
                   WHERE con.contypid = ty.oid AND con.contype = 'c' OFFSET 0) AS con
  UNION ALL
  SELECT 'd:' || ad.oid || ':' || ad.xmin, NULL
    FROM unnest($6::pg_catalog.name[]) AS n(name),
         LATERAL (SELECT c.oid FROM pg_catalog.pg_class c WHERE c.relname = n.name OFFSET 0) AS c,
         LATERAL (SELECT ad.oid, ad.xmin FROM pg_catalog.pg_attrdef ad WHERE ad.adrelid = c.oid OFFSET 0) AS ad
) s
WHERE s.k <> ALL ($8::pg_catalog.text[])
  AND NOT EXISTS (
    SELECT 1 FROM pg_catalog.pg_depend d
      JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid
      JOIN pg_catalog.pg_proc p ON p.oid = d.objid
     WHERE s.fn IS NOT NULL AND d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
       AND d.objid = s.fn AND d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
       AND d.deptype = 'e' AND e.extname = ANY ($9::pg_catalog.name[]) AND p.provolatile <> 'v'
       AND p.proname <> ALL ($10::pg_catalog.name[]))"
    };
}

/// Every object through which the statement could execute a function (see the module
/// documentation), minus those known safe and the IMMUTABLE/STABLE functions of trusted
/// extensions (decided here, to spare a round trip), one key per row. Built-in operators and
/// casts (OID below 16384) only ever use built-in functions, which the parse half judged.
pub const CANDIDATES_SQL: &str = candidates_sql!();

/// One statement that fails (division by zero, SQLSTATE 22012) exactly when
/// [`CANDIDATES_SQL`] would return a row. Sent in the read's transaction ahead of a statement
/// pipelined behind it, its failure aborts the transaction, so the statement cannot run
/// (`tools::exec`).
pub const GUARD_SQL: &str = concat!("SELECT 1 / (NOT EXISTS (", candidates_sql!(), "))::int");

/// Sent ahead of [`CANDIDATES_SQL`] / [`GUARD_SQL`] in the read's transaction: their generic
/// plan, without JIT. PostgreSQL would otherwise plan them afresh on every execution (their
/// generic plan's estimated cost looks high, so it keeps choosing custom plans: ~0.7 ms of
/// planning each time), and a high estimate can also start JIT compilation (~30 ms).
/// [`RESTORE_PLAN_SQL`] follows before the caller's statement, which must plan as usual.
pub const GENERIC_PLAN_SQL: &str =
    "SET LOCAL plan_cache_mode = force_generic_plan; SET LOCAL jit = off";
pub const RESTORE_PLAN_SQL: &str = "SET LOCAL plan_cache_mode TO DEFAULT; SET LOCAL jit TO DEFAULT";

/// The parameters of [`CANDIDATES_SQL`] and [`GUARD_SQL`]: `$1`–`$8` from the statement,
/// `$9`/`$10` the trusted extensions and their exceptions.
pub struct Args {
    names: [Vec<String>; 8],
    trusted: &'static [&'static str],
    ext_denied: &'static [&'static str],
}

impl Args {
    fn new(names: &Names, keys: &BTreeSet<String>) -> Args {
        let owned = |it: &mut dyn Iterator<Item = &String>| it.cloned().collect::<Vec<_>>();
        let (trusted, ext_denied) = CLASSIFICATION.trusted_extensions();
        Args {
            names: [
                owned(&mut names.funcs.iter()),
                owned(&mut names.fields.iter()),
                owned(
                    &mut names
                        .funcs
                        .iter()
                        .chain(&names.fields)
                        .filter(|n| !CLASSIFICATION.builtin_allowed(n)),
                ),
                owned(&mut names.ops.iter()),
                owned(&mut names.rels.iter()),
                owned(&mut names.targets.iter()),
                // A function-style cast (`mydomain(1)`) is a call by the target type's name.
                owned(&mut names.types.iter().chain(&names.funcs)),
                owned(&mut keys.iter()),
            ],
            trusted,
            ext_denied,
        }
    }

    pub fn refs(&self) -> Vec<&(dyn tokio_postgres::types::ToSql + Sync)> {
        let mut refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = self
            .names
            .iter()
            .map(|v| v as &(dyn tokio_postgres::types::ToSql + Sync))
            .collect();
        refs.push(&self.trusted);
        refs.push(&self.ext_denied);
        refs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse() {
        assert_eq!(examine_key("f:16400:789"), Some(('f', 16400)));
        assert_eq!(examine_key("r:12:1"), Some(('r', 12)));
        assert_eq!(examine_key("nonsense"), None);
    }

    #[test]
    fn args_bind_names_as_values() {
        let mut names = Names::default();
        names.funcs.insert("it's".into());
        names.funcs.insert("lower".into());
        names.rels.insert("a\"b".into());
        let args = Args::new(&names, &BTreeSet::new());
        assert_eq!(args.names[0], ["it's", "lower"]);
        // Only names that are not allowed built-ins make built-ins candidates.
        assert_eq!(args.names[2], ["it's"]);
        assert_eq!(args.names[4], ["a\"b"]);
        assert_eq!(args.names[6], ["it's", "lower"]);
        assert!(CANDIDATES_SQL.contains("$10"));
    }
}

//! Tables: list, describe, columns, create, drop, truncate.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::super::catalog::{Listing, PageInfo, decode, default_limit};
use super::super::exec::{execute_ddl, read_rows};
use super::super::relsize;
use super::super::{Ctx, DESTRUCTIVE, READ, Shortcut, Spec, WRITE};
use super::{Created, Dropped, check_expression, resolve_relation};
use crate::db::ident::{check_type_name, parse_qualified, quote_ident};
use crate::error::{Code, ToolError, ToolResult};

// ---------------------------------------------------------------------------
// pg_list_tables

pub(super) const LIST_TABLES: Spec = Spec {
    name: "pg_list_tables",
    title: "List tables",
    description: "List tables with schema, estimated rows, total size and comment.\nSystem schemas are hidden unless includeSystem; page with limit/offset.",
    hints: READ,
    shortcuts: &[Shortcut {
        name: "listTables",
        positional: &["schema"],
        shape: Some("tables"),
    }],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ListTablesArgs {
    /// Only this schema.
    pub schema: Option<String>,
    /// Case-insensitive LIKE pattern on the table name, e.g. `%order%`.
    pub pattern: Option<String>,
    /// Include PostgreSQL's own schemas (pg_catalog, information_schema).
    #[serde(default)]
    pub include_system: bool,
    #[serde(default = "default_limit")]
    pub limit: u32,
    #[serde(default)]
    pub offset: u32,
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TableRow {
    pub schema: String,
    pub name: String,
    /// `partitioned` or `foreign`; absent for an ordinary table.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Estimated rows from the last ANALYZE; absent when never analyzed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row_estimate: Option<i64>,
    /// Total size with indexes and TOAST, e.g. `1234 kB`; absent while the table is locked
    /// (another session holds or waits for an ACCESS EXCLUSIVE lock on it or its indexes, and
    /// reading its size would wait).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct TableList {
    pub tables: Vec<TableRow>,
    #[serde(flatten)]
    pub page: PageInfo,
}

pub(super) async fn list_tables(ctx: Ctx, a: ListTablesArgs) -> ToolResult<TableList> {
    let page = Listing::new(
        format!(
            "n.nspname AS schema, c.relname AS name,
             CASE c.relkind WHEN 'p' THEN 'partitioned' WHEN 'f' THEN 'foreign' END AS kind,
             CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint END AS \"rowEstimate\",
             pg_size_pretty({}) AS size,
             obj_description(c.oid, 'pg_class') AS comment",
            relsize::size("pg_total_relation_size", "c.oid")
        ),
        "pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace",
    )
    .condition("c.relkind IN ('r', 'p', 'f') AND NOT c.relispartition")
    .schema("n.nspname", a.schema.as_deref())
    .pattern("c.relname", a.pattern.as_deref())
    // An explicitly named schema is shown even when it is a system schema.
    .hide_system_schemas("n.nspname", a.include_system || a.schema.is_some())
    .order_by("1, 2")
    .page(&ctx, a.limit, a.offset)
    .await?;
    Ok(TableList {
        tables: page.items,
        page: page.info,
    })
}

// ---------------------------------------------------------------------------
// pg_describe_table, pg_get_columns

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TableArgs {
    /// Table name, optionally `schema.table`. Names are used exactly as given (case-sensitive).
    pub table: String,
    /// Schema; when given, `table` is taken literally.
    pub schema: Option<String>,
}

/// A column of a table or view.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct Column {
    pub name: String,
    /// The type as PostgreSQL writes it, e.g. `character varying(50)`.
    #[serde(rename = "type")]
    pub ty: String,
    pub nullable: bool,
    /// Default value, as a SQL expression.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// Expression of a generated (stored) column.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generated: Option<String>,
    /// `always` or `by default` for an identity column.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// Columns of a relation: name, type, nullable, default, generated, identity, comment.
async fn table_columns(ctx: &Ctx, oid: i64) -> ToolResult<Vec<Column>> {
    Listing::new(
        "a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
         NOT a.attnotnull AS nullable,
         CASE WHEN a.attgenerated = '' THEN pg_get_expr(d.adbin, d.adrelid) END AS default,
         CASE WHEN a.attgenerated = 's' THEN pg_get_expr(d.adbin, d.adrelid) END AS generated,
         CASE a.attidentity WHEN 'a' THEN 'always' WHEN 'd' THEN 'by default' END AS identity,
         col_description(a.attrelid, a.attnum) AS comment",
        "pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum",
    )
    .filter("a.attrelid = {}::oid", oid)
    .condition("a.attnum > 0 AND NOT a.attisdropped")
    .order_by("a.attnum")
    .all(ctx)
    .await
}

pub(super) const GET_COLUMNS: Spec = Spec {
    name: "pg_get_columns",
    title: "List a table's columns",
    description: "The columns of a table or view: name, type, nullable, default, generated, identity, comment.",
    hints: READ,
    shortcuts: &[Shortcut {
        name: "getColumns",
        positional: &["table", "schema"],
        shape: Some("columns"),
    }],
};

#[derive(Serialize, JsonSchema)]
pub struct ColumnList {
    /// In column order.
    pub columns: Vec<Column>,
}

pub(super) async fn get_columns(ctx: Ctx, a: TableArgs) -> ToolResult<ColumnList> {
    let q = parse_qualified(&a.table, a.schema.as_deref())?;
    let oid = resolve_relation(&ctx, &q, "table").await?;
    Ok(ColumnList {
        columns: table_columns(&ctx, oid).await?,
    })
}

pub(super) const DESCRIBE_TABLE: Spec = Spec {
    name: "pg_describe_table",
    title: "Describe a table",
    description: "Describe a table: columns (type, nullable, default), primary key, foreign keys, indexes, constraints, row estimate, size and comments.",
    hints: READ,
    shortcuts: &[Shortcut {
        name: "describeTable",
        positional: &["table", "schema"],
        shape: None,
    }],
};

/// A constraint of a table (a foreign key names what it references).
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Constraint {
    pub name: String,
    /// `primary key`, `foreign key`, `unique`, `check` or `exclusion`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The constrained columns, in order.
    pub columns: Vec<String>,
    /// The referenced table of a foreign key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub references_table: Option<String>,
    /// The referenced columns of a foreign key, in order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub references_columns: Option<Vec<String>>,
    /// As PostgreSQL writes it, e.g. `CHECK ((price > 0))`.
    pub definition: String,
}

/// An index of a described table.
#[derive(Serialize, Deserialize, JsonSchema)]
pub struct TableIndex {
    pub name: String,
    /// The CREATE INDEX statement.
    pub definition: String,
    pub unique: bool,
    pub primary: bool,
    /// `true` when the index is invalid (a failed concurrent build); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invalid: Option<bool>,
    /// e.g. `16 kB`; absent while the index is locked (another session holds or waits for an
    /// ACCESS EXCLUSIVE lock on it, and reading its size would wait).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
}

/// Identity and size of a relation.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TableInfo {
    pub schema: String,
    pub name: String,
    /// `table`, `partitioned table`, `view`, `materialized view` or `foreign table`.
    pub kind: String,
    /// Estimated rows from the last ANALYZE; absent when never analyzed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row_estimate: Option<i64>,
    /// Total size with indexes and TOAST, in bytes; absent while the table is locked (another
    /// session holds or waits for an ACCESS EXCLUSIVE lock on it or its indexes, and reading
    /// its size would wait).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<i64>,
    /// The same, e.g. `1234 kB`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TableDescription {
    #[serde(flatten)]
    pub info: TableInfo,
    pub columns: Vec<Column>,
    /// Primary key columns, in order; absent without a primary key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_key: Option<Vec<String>>,
    /// Absent when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub foreign_keys: Vec<Constraint>,
    /// Unique, check and exclusion constraints; absent when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<Constraint>,
    /// Absent when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub indexes: Vec<TableIndex>,
}

pub(super) async fn describe_table(ctx: Ctx, a: TableArgs) -> ToolResult<TableDescription> {
    let q = parse_qualified(&a.table, a.schema.as_deref())?;
    let oid = resolve_relation(&ctx, &q, "table").await?;
    let oid_param = [json!(oid)];
    let info = read_rows(
        &ctx,
        &format!("SELECT n.nspname AS schema, c.relname AS name,
                CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned table' WHEN 'v' THEN 'view'
                     WHEN 'm' THEN 'materialized view' WHEN 'f' THEN 'foreign table' ELSE c.relkind::text END AS kind,
                CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint END AS \"rowEstimate\",
                {size} AS \"sizeBytes\",
                pg_size_pretty({size}) AS size,
                obj_description(c.oid, 'pg_class') AS comment
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1::oid",
            size = relsize::size("pg_total_relation_size", "c.oid")),
        &oid_param,
    )
    .await?;
    let info: TableInfo = decode(info)?.into_iter().next().ok_or_else(|| {
        // Dropped between the name's resolution and this read.
        ToolError::not_found(Code::NotFound, format!("table '{q}' does not exist"))
    })?;
    let columns = table_columns(&ctx, oid).await?;
    let constraints: Vec<Constraint> = decode(read_rows(
        &ctx,
        "SELECT con.conname AS name,
                CASE con.contype WHEN 'p' THEN 'primary key' WHEN 'f' THEN 'foreign key' WHEN 'u' THEN 'unique'
                     WHEN 'c' THEN 'check' WHEN 'x' THEN 'exclusion' ELSE con.contype::text END AS type,
                ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(n, i)
                        JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.i) AS columns,
                CASE WHEN con.contype = 'f' THEN con.confrelid::regclass::text END AS \"referencesTable\",
                CASE WHEN con.contype = 'f' THEN ARRAY(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(n, i)
                        JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.i) END AS \"referencesColumns\",
                pg_get_constraintdef(con.oid) AS definition
           FROM pg_constraint con WHERE con.conrelid = $1::oid ORDER BY con.contype, con.conname",
        &oid_param,
    )
    .await?)?;
    let indexes = decode(
        read_rows(
            &ctx,
            &format!(
                "SELECT ic.relname AS name, pg_get_indexdef(i.indexrelid) AS definition,
                i.indisunique AS unique, i.indisprimary AS primary,
                NULLIF(NOT i.indisvalid, false) AS invalid,
                pg_size_pretty({}) AS size
           FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
          WHERE i.indrelid = $1::oid ORDER BY ic.relname",
                relsize::size("pg_relation_size", "i.indexrelid")
            ),
            &oid_param,
        )
        .await?,
    )?;

    let mut out = TableDescription {
        info,
        columns,
        primary_key: None,
        foreign_keys: Vec::new(),
        constraints: Vec::new(),
        indexes,
    };
    for c in constraints {
        match c.kind.as_str() {
            "primary key" => out.primary_key = Some(c.columns),
            "foreign key" => out.foreign_keys.push(c),
            _ => out.constraints.push(c),
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// pg_create_table, pg_drop_table, pg_truncate

pub(super) const CREATE_TABLE: Spec = Spec {
    name: "pg_create_table",
    title: "Create a table",
    description: "Create a table from column definitions (name, type, nullable, default, primaryKey, unique, references).",
    hints: WRITE,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ColumnDef {
    /// Column name (used exactly as given).
    pub name: String,
    /// SQL type, e.g. `integer`, `text`, `varchar(50)`, `numeric(10,2)`, `timestamptz`, `jsonb`.
    #[serde(rename = "type")]
    pub ty: String,
    /// Allow NULL (default true).
    pub nullable: Option<bool>,
    /// Default value as a SQL expression, e.g. `now()` or `0` or `'pending'`.
    pub default: Option<String>,
    /// Make this column the primary key.
    #[serde(default)]
    pub primary_key: bool,
    #[serde(default)]
    pub unique: bool,
    /// Foreign key target as `table` or `table(column)` or `schema.table(column)`.
    pub references: Option<String>,
    /// ON DELETE action for `references`.
    pub on_delete: Option<FkAction>,
}

#[derive(Deserialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum FkAction {
    Cascade,
    Restrict,
    SetNull,
    SetDefault,
    NoAction,
}

impl FkAction {
    fn sql(self) -> &'static str {
        match self {
            FkAction::Cascade => "CASCADE",
            FkAction::Restrict => "RESTRICT",
            FkAction::SetNull => "SET NULL",
            FkAction::SetDefault => "SET DEFAULT",
            FkAction::NoAction => "NO ACTION",
        }
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateTableArgs {
    /// Table name, optionally `schema.table`.
    pub table: String,
    pub schema: Option<String>,
    pub columns: Vec<ColumnDef>,
    /// Composite primary key (instead of `primaryKey` on one column).
    #[serde(default)]
    pub primary_key: Vec<String>,
    #[serde(default)]
    pub if_not_exists: bool,
    /// Table comment.
    pub comment: Option<String>,
}

#[allow(clippy::result_large_err)] // ToolError is large crate-wide; see error.rs
fn parse_reference(r: &str) -> ToolResult<String> {
    let (table, column) = match r.trim().strip_suffix(')').and_then(|s| s.split_once('(')) {
        Some((t, c)) => (t.trim(), Some(c.trim())),
        None => (r.trim(), None),
    };
    let q = parse_qualified(table, None)?;
    Ok(match column {
        Some(c) => format!("{}({})", q.quoted(), quote_ident(c)),
        None => q.quoted(),
    })
}

pub(super) async fn create_table(ctx: Ctx, a: CreateTableArgs) -> ToolResult<Created> {
    let q = parse_qualified(&a.table, a.schema.as_deref())?;
    if a.columns.is_empty() {
        return Err(ToolError::invalid(
            "columns is empty; a table needs at least one column",
        ));
    }
    let mut defs = Vec::new();
    for c in &a.columns {
        check_type_name(&c.ty)?;
        let mut d = format!("{} {}", quote_ident(&c.name), c.ty.trim());
        if c.nullable == Some(false) {
            d.push_str(" NOT NULL");
        }
        if let Some(def) = &c.default {
            check_expression("default", def)?;
            d.push_str(&format!(" DEFAULT {def}"));
        }
        if c.primary_key {
            d.push_str(" PRIMARY KEY");
        }
        if c.unique {
            d.push_str(" UNIQUE");
        }
        if let Some(r) = &c.references {
            d.push_str(&format!(" REFERENCES {}", parse_reference(r)?));
            if let Some(action) = c.on_delete {
                d.push_str(&format!(" ON DELETE {}", action.sql()));
            }
        }
        defs.push(d);
    }
    if !a.primary_key.is_empty() {
        let cols: Vec<String> = a.primary_key.iter().map(|c| quote_ident(c)).collect();
        defs.push(format!("PRIMARY KEY ({})", cols.join(", ")));
    }
    let sql = format!(
        "CREATE TABLE {}{} ({})",
        if a.if_not_exists {
            "IF NOT EXISTS "
        } else {
            ""
        },
        q.quoted(),
        defs.join(", ")
    );
    execute_ddl(&ctx, &sql).await?;
    if let Some(comment) = &a.comment {
        execute_ddl(
            &ctx,
            &format!(
                "COMMENT ON TABLE {} IS {}",
                q.quoted(),
                quote_literal(comment)
            ),
        )
        .await?;
    }
    Ok(Created {
        created: q.to_string(),
        sql,
    })
}

/// A SQL string literal; only for COMMENT, which cannot take a bind parameter.
fn quote_literal(s: &str) -> String {
    format!("E'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}

pub(super) const DROP_TABLE: Spec = Spec {
    name: "pg_drop_table",
    title: "Drop a table",
    description: "Drop a table (optionally IF EXISTS, CASCADE). Its data is lost.",
    hints: DESTRUCTIVE,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DropArgs {
    /// Name, optionally `schema.name`.
    pub table: String,
    pub schema: Option<String>,
    #[serde(default)]
    pub if_exists: bool,
    /// Also drop objects that depend on it.
    #[serde(default)]
    pub cascade: bool,
}

pub(super) async fn drop_table(ctx: Ctx, a: DropArgs) -> ToolResult<Dropped> {
    let q = parse_qualified(&a.table, a.schema.as_deref())?;
    let sql = format!(
        "DROP TABLE {}{}{}",
        if a.if_exists { "IF EXISTS " } else { "" },
        q.quoted(),
        if a.cascade { " CASCADE" } else { "" }
    );
    execute_ddl(&ctx, &sql).await?;
    Ok(Dropped {
        dropped: q.to_string(),
    })
}

pub(super) const TRUNCATE: Spec = Spec {
    name: "pg_truncate",
    title: "Empty a table",
    description: "Remove every row of a table (TRUNCATE), optionally restarting identities and cascading.",
    hints: DESTRUCTIVE,
    shortcuts: &[],
};

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TruncateArgs {
    /// Table name, optionally `schema.table`.
    pub table: String,
    pub schema: Option<String>,
    /// Also truncate tables that reference this one.
    #[serde(default)]
    pub cascade: bool,
    /// Reset sequences owned by the table's columns.
    #[serde(default)]
    pub restart_identity: bool,
}

/// The table emptied.
#[derive(Serialize, JsonSchema)]
pub struct Truncated {
    /// As `schema.table` when a schema was named, else as given.
    pub truncated: String,
}

pub(super) async fn truncate(ctx: Ctx, a: TruncateArgs) -> ToolResult<Truncated> {
    let q = parse_qualified(&a.table, a.schema.as_deref())?;
    let sql = format!(
        "TRUNCATE TABLE {}{}{}",
        q.quoted(),
        if a.restart_identity {
            " RESTART IDENTITY"
        } else {
            ""
        },
        if a.cascade { " CASCADE" } else { "" }
    );
    execute_ddl(&ctx, &sql).await?;
    Ok(Truncated {
        truncated: q.to_string(),
    })
}

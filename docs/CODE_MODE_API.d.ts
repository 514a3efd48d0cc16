// pgmcp Code Mode API — generated from the tool registry; do not edit.
// Every method returns a Promise: await it. A failing call throws a PgError.

type Row = Record<string, any>;
interface Column { name: string; type: string; nullable: boolean; default?: string; generated?: string; identity?: string; comment?: string }
interface Table { schema: string; name: string; type: string; kind?: string; rowEstimate?: number; size: string; comment?: string }
interface Index { schema: string; table: string; name: string; definition: string; method: string; unique: boolean; primary: boolean; invalid?: boolean; size: string; scans?: number }
interface TableStats { schema: string; table: string; seq_scan: number; seq_tup_read: number; idx_scan: number; idx_tup_fetch: number; n_live_tup: number; n_dead_tup: number; [k: string]: any }
interface QueryResult { rows: Row[]; rowCount: number; columns?: string[]; truncated?: boolean; maxRows?: number; maxBytes?: number; hint?: string }
interface PgError extends Error { code: string; category: string; recoverable: boolean; suggestion?: string; sqlstate?: string; details?: any }

declare const pg: {
  /** Run one SELECT (or other read-only statement) and return its rows. (shortcut for pg_read_query) */
  query(sql: string, params?: unknown[]): Promise<{ rowCount: number; columns?: string[]; cutValues?: Record<string, number>; truncated?: boolean; maxRows?: number; maxBytes?: number; hint?: string; rows: Array<Record<string, unknown>>; }>;
  /** Run one INSERT, UPDATE, DELETE, DDL or other statement and return rows affected (and rows, with RETURNING). (shortcut for pg_write_query) */
  execute(sql: string, params?: unknown[]): Promise<{ rowCount?: number; columns?: string[]; cutValues?: Record<string, number>; truncated?: boolean; maxRows?: number; maxBytes?: number; hint?: string; rows?: Array<Record<string, unknown>>; rowsAffected: number; }>;
  /** List tables with schema, estimated rows, total size and comment. (shortcut for pg_list_tables) */
  listTables(schema?: string): Promise<Table[]>;
  /** Describe a table: columns (type, nullable, default), primary key, foreign keys, indexes, constraints, row estimate, size and comments. (shortcut for pg_describe_table) */
  describeTable(table: string, schema?: string): Promise<{ schema: string; name: string; kind: string; rowEstimate?: number; sizeBytes: number; size: string; comment?: string; columns: Array<{ name: string; type: string; nullable: boolean; default?: string; generated?: string; identity?: string; comment?: string; }>; primaryKey?: string[]; foreignKeys?: Array<{ name: string; type: string; columns: string[]; referencesTable?: string; referencesColumns?: string[]; definition: string; }>; constraints?: Array<{ name: string; type: string; columns: string[]; referencesTable?: string; referencesColumns?: string[]; definition: string; }>; indexes?: Array<{ name: string; definition: string; unique: boolean; primary: boolean; invalid?: boolean; size: string; }>; }>;
  /** The columns of a table or view: name, type, nullable, default, generated, identity, comment. (shortcut for pg_get_columns) */
  getColumns(table: string, schema?: string): Promise<Column[]>;
  /** Access statistics of tables from pg_stat_all_tables: sequential vs index scans, live/dead tuples, writes, vacuum and analyze times, size. (shortcut for pg_table_stats) */
  getTableStats(table?: string, schema?: string): Promise<TableStats /* with a table; TableStats[] without */>;
  /** List indexes with definition, method, uniqueness, size and scan count; for one table or all user tables. (shortcut for pg_get_indexes) */
  getIndexes(table?: string, schema?: string): Promise<Index[]>;
  /** Create an index on columns of a table (unique, partial, method, concurrently). (shortcut for pg_create_index) */
  createIndex(args: { table: string; schema?: string; columns: string[]; name?: string; unique?: boolean; method?: "btree" | "hash" | "gin" | "gist" | "spgist" | "brin"; where?: string; concurrently?: boolean; ifNotExists?: boolean; }): Promise<{ created: string; sql: string; }>;
  /** Show PostgreSQL's plan for a statement (EXPLAIN), optionally with real timings (analyze, read-only). (shortcut for pg_explain) */
  explain(sql: string, params?: unknown[]): Promise<{ plan: unknown; totalCost?: number; estimatedRows?: number; planningTimeMs?: number; executionTimeMs?: number; seqScans?: Array<{ table: string; filter: string | null; rows: number; }>; }>;
  /** Count the rows of a table, optionally matching a SQL condition with $n parameters. (shortcut for pg_count) */
  count(table: string, where_?: string, params?: unknown[]): Promise<{ count: number; }>;
  /** The index of every method by group; pg.help('core') one group's declarations. */
  help(group?: string): string;
  /** One method's declaration and full description: pg.describe('core.readQuery'). */
  describe(method: string): string;
  /** Methods matching the words, best first, by name and description. */
  search(text: string): { method: string; summary: string }[];
  /** Runs fn on one connection inside BEGIN/COMMIT; rolls back if it throws. */
  transaction<T>(fn: (tx: typeof pg) => Promise<T>): Promise<T>;
  core: {
    /** Run one SELECT (or other read-only statement) and return its rows. [pg_read_query] */
    readQuery(args: { sql: string; params?: unknown[]; transactionId?: string; } | string /* sql */): Promise<{ rowCount: number; columns?: string[]; cutValues?: Record<string, number>; truncated?: boolean; maxRows?: number; maxBytes?: number; hint?: string; rows: Array<Record<string, unknown>>; }>;
    /** Run one INSERT, UPDATE, DELETE, DDL or other statement and return rows affected (and rows, with RETURNING). [pg_write_query] */
    writeQuery(args: { sql: string; params?: unknown[]; transactionId?: string; } | string /* sql */): Promise<{ rowCount?: number; columns?: string[]; cutValues?: Record<string, number>; truncated?: boolean; maxRows?: number; maxBytes?: number; hint?: string; rows?: Array<Record<string, unknown>>; rowsAffected: number; }>;
    /** List tables with schema, estimated rows, total size and comment. [pg_list_tables] */
    listTables(args?: { schema?: string; pattern?: string; includeSystem?: boolean; limit?: number; offset?: number; }): Promise<{ tables: Array<{ schema: string; name: string; kind?: string; rowEstimate?: number; size: string; comment?: string; }>; total?: number; nextOffset?: number; }>;
    /** Describe a table: columns (type, nullable, default), primary key, foreign keys, indexes, constraints, row estimate, size and comments. [pg_describe_table] */
    describeTable(args: { table: string; schema?: string; } | string /* table */): Promise<{ schema: string; name: string; kind: string; rowEstimate?: number; sizeBytes: number; size: string; comment?: string; columns: Array<{ name: string; type: string; nullable: boolean; default?: string; generated?: string; identity?: string; comment?: string; }>; primaryKey?: string[]; foreignKeys?: Array<{ name: string; type: string; columns: string[]; referencesTable?: string; referencesColumns?: string[]; definition: string; }>; constraints?: Array<{ name: string; type: string; columns: string[]; referencesTable?: string; referencesColumns?: string[]; definition: string; }>; indexes?: Array<{ name: string; definition: string; unique: boolean; primary: boolean; invalid?: boolean; size: string; }>; }>;
    /** The columns of a table or view: name, type, nullable, default, generated, identity, comment. [pg_get_columns] */
    getColumns(args: { table: string; schema?: string; } | string /* table */): Promise<{ columns: Array<{ name: string; type: string; nullable: boolean; default?: string; generated?: string; identity?: string; comment?: string; }>; }>;
    /** Create a table from column definitions (name, type, nullable, default, primaryKey, unique, references). [pg_create_table] */
    createTable(args: { table: string; schema?: string; columns: Array<{ name: string; type: string; nullable?: boolean; default?: string; primaryKey?: boolean; unique?: boolean; references?: string; onDelete?: "cascade" | "restrict" | "set_null" | "set_default" | "no_action"; }>; primaryKey?: string[]; ifNotExists?: boolean; comment?: string; }): Promise<{ created: string; sql: string; }>;
    /** Drop a table (optionally IF EXISTS, CASCADE). Its data is lost. [pg_drop_table] */
    dropTable(args: { table: string; schema?: string; ifExists?: boolean; cascade?: boolean; } | string /* table */): Promise<{ dropped: string; }>;
    /** List indexes with definition, method, uniqueness, size and scan count; for one table or all user tables. [pg_get_indexes] */
    getIndexes(args?: { table?: string; schema?: string; includeSystem?: boolean; }): Promise<{ indexes: Array<{ schema: string; table: string; name: string; definition: string; method: string; unique: boolean; primary: boolean; invalid?: boolean; size: string; scans?: number; }>; }>;
    /** Create an index on columns of a table (unique, partial, method, concurrently). [pg_create_index] */
    createIndex(args: { table: string; schema?: string; columns: string[]; name?: string; unique?: boolean; method?: "btree" | "hash" | "gin" | "gist" | "spgist" | "brin"; where?: string; concurrently?: boolean; ifNotExists?: boolean; }): Promise<{ created: string; sql: string; }>;
    /** Drop an index (optionally IF EXISTS, CASCADE, CONCURRENTLY). [pg_drop_index] */
    dropIndex(args: { name: string; schema?: string; ifExists?: boolean; cascade?: boolean; concurrently?: boolean; } | string /* name */): Promise<{ dropped: string; }>;
    /** List tables, views, materialized views, sequences, indexes, functions, procedures and types, filtered by schema, kind and name pattern. [pg_list_objects] */
    listObjects(args?: { schema?: string; types?: Array<"table" | "view" | "materialized_view" | "sequence" | "index" | "foreign_table" | "function" | "procedure" | "type">; pattern?: string; includeSystem?: boolean; limit?: number; offset?: number; }): Promise<{ objects: Array<{ schema: string; name: string; type: string; arguments?: string; }>; total?: number; nextOffset?: number; }>;
    /** Details of a table, view, sequence, index, function (with definition) or type (enum labels, domain base, composite attributes). [pg_object_details] */
    objectDetails(args: { name: string; schema?: string; type?: "table" | "view" | "materialized_view" | "sequence" | "index" | "foreign_table" | "function" | "procedure" | "type"; } | string /* name */): Promise<{ schema: string; name: string; kind: string; rowEstimate?: number; sizeBytes: number; size: string; comment?: string; columns: Array<{ name: string; type: string; nullable: boolean; default?: string; generated?: string; identity?: string; comment?: string; }>; primaryKey?: string[]; foreignKeys?: Array<{ name: string; type: string; columns: string[]; referencesTable?: string; referencesColumns?: string[]; definition: string; }>; constraints?: Array<{ name: string; type: string; columns: string[]; referencesTable?: string; referencesColumns?: string[]; definition: string; }>; indexes?: Array<{ name: string; definition: string; unique: boolean; primary: boolean; invalid?: boolean; size: string; }>; type: string; } | { schema: string; name: string; type: string; definition: string; columns?: Array<{ name: string; type: string; }>; comment?: string; } | { schema: string; name: string; type: string; dataType: string; start: number | string; increment: number | string; minValue: number | string; maxValue: number | string; cycle: boolean; lastValue?: number | string; } | { schema: string; name: string; type: string; table: string; definition: string; unique: boolean; primary: boolean; size: string; } | { schema: string; name: string; type: string; arguments: string; returns?: string; language: string; volatility: string; definition?: string; comment?: string; } | { name: string; type: string; overloads: Array<{ schema: string; name: string; type: string; arguments: string; returns?: string; language: string; volatility: string; definition?: string; comment?: string; }>; } | { schema: string; name: string; type: string; kind: string; labels?: string[]; baseType?: string; attributes?: Array<{ name: string; type: string; }>; comment?: string; } | { name: string; relkind: string; }>;
    /** List installed extensions with version and schema, or with available=true every extension the server can install. [pg_list_extensions] */
    listExtensions(args?: { available?: boolean; }): Promise<{ extensions: Array<{ name: string; version: string; schema: string; comment?: string; }> | Array<{ name: string; defaultVersion?: string; installedVersion?: string; comment?: string; }>; }>;
    /** Count the rows of a table, optionally matching a SQL condition with $n parameters. [pg_count] */
    count(args: { table: string; schema?: string; where?: string; params?: unknown[]; } | string /* table */): Promise<{ count: number; }>;
    /** Whether any row of a table matches an optional SQL condition (stops at the first match). [pg_exists] */
    exists(args: { table: string; schema?: string; where?: string; params?: unknown[]; } | string /* table */): Promise<{ exists: boolean; }>;
    /** Insert a row, or update it when it conflicts on conflictColumns (INSERT … ON CONFLICT). Returns the row and whether it was inserted. [pg_upsert] */
    upsert(args: { table: string; schema?: string; data: Record<string, unknown>; conflictColumns: string[]; updateColumns?: string[]; returning?: boolean; }): Promise<{ rowsAffected: number; inserted?: boolean; row?: Record<string, unknown>; }>;
    /** Insert many rows (objects of column → value) atomically, chunked under PostgreSQL's parameter limit. [pg_batch_insert] */
    batchInsert(args: { table: string; schema?: string; rows: Array<Record<string, unknown>>; returning?: boolean; onConflictDoNothing?: boolean; }): Promise<{ inserted: number; truncated?: boolean; rows?: Array<Record<string, unknown>>; }>;
    /** Remove every row of a table (TRUNCATE), optionally restarting identities and cascading. [pg_truncate] */
    truncate(args: { table: string; schema?: string; cascade?: boolean; restartIdentity?: boolean; } | string /* table */): Promise<{ truncated: string; }>;
  };
  schema: {
    /** List schemas with owner, number of tables and views, total size and comment. [pg_list_schemas] */
    listSchemas(args?: { pattern?: string; includeSystem?: boolean; limit?: number; offset?: number; }): Promise<{ schemas: Array<{ name: string; owner: string; tables: number; views: number; size: string; comment?: string; }>; total?: number; nextOffset?: number; }>;
    /** Create a schema (optionally IF NOT EXISTS, owned by another role via `authorization`). [pg_create_schema] */
    createSchema(args: { name: string; ifNotExists?: boolean; authorization?: string; } | string /* name */): Promise<{ created: string; sql: string; }>;
    /** Drop a schema (optionally IF EXISTS). Fails if it is not empty unless cascade, which drops every object in it: their data is lost. [pg_drop_schema] */
    dropSchema(args: { name: string; ifExists?: boolean; cascade?: boolean; } | string /* name */): Promise<{ dropped: string; }>;
    /** List views and materialized views with schema, type (view or materialized_view) and comment; materialized views also show size and populated:false when never refreshed. [pg_list_views] */
    listViews(args?: { schema?: string; pattern?: string; includeMaterialized?: boolean; includeDefinition?: boolean; includeSystem?: boolean; limit?: number; offset?: number; }): Promise<{ views: Array<{ schema: string; name: string; type: "view" | "materialized_view"; populated?: boolean; size?: string; definition?: string; comment?: string; }>; total?: number; nextOffset?: number; }>;
    /** Create a view, or a materialized view, from a SELECT query; returns the view's columns. [pg_create_view] */
    createView(args: { name: string; schema?: string; sql: string; orReplace?: boolean; materialized?: boolean; withData?: boolean; }): Promise<{ created: string; type: "view" | "materialized_view"; columns: Array<{ name: string; type: string; }>; populated?: boolean; }>;
    /** Drop a view or materialized view (optionally IF EXISTS, CASCADE). Whether it is materialized is looked up unless `materialized` is given. [pg_drop_view] */
    dropView(args: { name: string; schema?: string; ifExists?: boolean; cascade?: boolean; materialized?: boolean; } | string /* name */): Promise<{ dropped: string; type: "view" | "materialized_view"; }>;
    /** List sequences with data type, start, increment, minValue, maxValue, cycle, lastValue and ownedBy (the schema.table.column a serial or identity column uses it for). [pg_list_sequences] */
    listSequences(args?: { schema?: string; pattern?: string; includeSystem?: boolean; limit?: number; offset?: number; }): Promise<{ sequences: Array<{ schema: string; name: string; dataType: string; start: number | string; increment: number | string; minValue: number | string; maxValue: number | string; cache?: number | string; cycle: boolean; lastValue?: number | string; ownedBy?: string; identity?: boolean; comment?: string; }>; total?: number; nextOffset?: number; }>;
    /** Create a sequence with optional data type, start, increment, minValue, maxValue, cache and cycle. [pg_create_sequence] */
    createSequence(args: { name: string; schema?: string; dataType?: "smallint" | "integer" | "bigint"; start?: number; increment?: number; minValue?: number; maxValue?: number; cache?: number; cycle?: boolean; ifNotExists?: boolean; } | string /* name */): Promise<{ created: string; sql: string; }>;
    /** Drop a sequence (optionally IF EXISTS, CASCADE). A serial column's sequence needs cascade (which drops the column default); an identity column's sequence goes only with its column. [pg_drop_sequence] */
    dropSequence(args: { name: string; schema?: string; ifExists?: boolean; cascade?: boolean; } | string /* name */): Promise<{ dropped: string; }>;
    /** List functions, procedures, aggregates and window functions with schema, kind, arguments, return type, language and volatility. [pg_list_functions] */
    listFunctions(args?: { schema?: string; pattern?: string; kind?: "function" | "procedure" | "aggregate" | "window"; includeExtensions?: boolean; includeSystem?: boolean; limit?: number; offset?: number; }): Promise<{ functions: Array<{ schema: string; name: string; kind: "function" | "procedure" | "aggregate" | "window"; arguments: string; returns?: string; language: string; volatility?: "immutable" | "stable" | "volatile"; securityDefiner?: boolean; extension?: string; comment?: string; }>; total?: number; nextOffset?: number; }>;
    /** List user triggers with table, timing (BEFORE/AFTER/INSTEAD OF), events, level (ROW/STATEMENT), trigger function, enabled and the CREATE TRIGGER definition. [pg_list_triggers] */
    listTriggers(args?: { table?: string; schema?: string; limit?: number; offset?: number; }): Promise<{ triggers: Array<{ schema: string; table: string; name: string; timing: "BEFORE" | "AFTER" | "INSTEAD OF"; events: Array<"INSERT" | "UPDATE" | "DELETE" | "TRUNCATE">; level: "ROW" | "STATEMENT"; function: string; enabled: boolean; firesOn?: "replica" | "always"; constraintTrigger?: boolean; definition: string; }>; total?: number; nextOffset?: number; }>;
    /** List table constraints: primary_key, foreign_key, unique, check and exclusion, with columns, definition and, for foreign keys, referencesTable and referencesColumns. [pg_list_constraints] */
    listConstraints(args?: { table?: string; schema?: string; type?: "primary_key" | "foreign_key" | "unique" | "check" | "exclusion" | "not_null"; includeSystem?: boolean; limit?: number; offset?: number; }): Promise<{ constraints: Array<{ schema: string; table: string; name?: string; type: "primary_key" | "foreign_key" | "unique" | "check" | "exclusion" | "not_null"; columns?: string[]; definition: string; referencesTable?: string; referencesColumns?: string[]; deferrable?: boolean; notValid?: boolean; }>; total?: number; nextOffset?: number; }>;
  };
  transactions: {
    /** Start a transaction that spans several calls and return its transactionId. [pg_transaction_begin] */
    begin(args?: { isolationLevel?: "read_committed" | "repeatable_read" | "serializable"; readOnly?: boolean; deferrable?: boolean; }): Promise<{ transactionId: string; isolationLevel: string; readOnly: boolean; idleTimeoutSeconds: number; deferrable?: boolean; note?: string; }>;
    /** Commit an open transaction and release its connection. [pg_transaction_commit] */
    commit(args: { transactionId: string; } | string /* transactionId */): Promise<{ transactionId: string; committed: boolean; }>;
    /** Roll back an open transaction, discarding its changes, and release its connection. [pg_transaction_rollback] */
    rollback(args: { transactionId: string; } | string /* transactionId */): Promise<{ transactionId: string; rolledBack: boolean; warning?: string; }>;
    /** Create a savepoint in an open transaction; pg_transaction_rollback_to can later undo what followed it, even after an error. [pg_transaction_savepoint] */
    savepoint(args: { transactionId: string; name: string; }): Promise<{ transactionId: string; savepoint: string; savepoints: string[]; }>;
    /** Release (forget) a savepoint and every savepoint made after it, keeping their changes. [pg_transaction_release] */
    release(args: { transactionId: string; name: string; }): Promise<{ transactionId: string; released: string; savepoints: string[]; }>;
    /** Undo everything done after a savepoint, including an error that aborted the transaction; the savepoint remains and the transaction stays open. [pg_transaction_rollback_to] */
    rollbackTo(args: { transactionId: string; name: string; }): Promise<{ transactionId: string; rolledBackTo: string; savepoints: string[]; }>;
    /** Show one transaction (state: active, aborted or busy; isolation, read-only, savepoints, age, idle time) or, without transactionId, list every open transaction. [pg_transaction_status] */
    status(args: { transactionId?: string; } | string /* transactionId */): Promise<{ transactionId: string; readOnly?: boolean; isolationLevel?: string; savepoints?: string[]; ageMs?: number; idleMs?: number; state: "active" | "aborted" | "ended" | "busy"; rollsBackInMs?: number; hint?: string; } | { count: number; transactions: Array<{ transactionId: string; readOnly?: boolean; isolationLevel?: string; savepoints?: string[]; ageMs?: number; idleMs?: number; busy: boolean; }>; idleTimeoutSeconds: number; }>;
    /** Run several statements atomically: all take effect or none. [pg_transaction_execute] */
    execute(args: { statements: Array<string | { sql: string; params?: unknown[]; }>; transactionId?: string; isolationLevel?: "read_committed" | "repeatable_read" | "serializable"; readOnly?: boolean; }): Promise<{ transactionId?: string; committed: boolean; statementCount: number; results: Array<{ rowsAffected: number; rowCount?: number; columns?: string[]; cutValues?: Record<string, number>; truncated?: boolean; maxRows?: number; maxBytes?: number; hint?: string; rows?: Array<Record<string, unknown>>; }>; }>;
  };
  performance: {
    /** Show PostgreSQL's plan for a statement (EXPLAIN), optionally with real timings (analyze, read-only). [pg_explain] */
    explain(args: { sql: string; params?: unknown[]; analyze?: boolean; buffers?: boolean; verbose?: boolean; format?: "json" | "text"; } | string /* sql */): Promise<{ plan: unknown; totalCost?: number; estimatedRows?: number; planningTimeMs?: number; executionTimeMs?: number; seqScans?: Array<{ table: string; filter: string | null; rows: number; }>; }>;
    /** Access statistics of tables from pg_stat_all_tables: sequential vs index scans, live/dead tuples, writes, vacuum and analyze times, size. [pg_table_stats] */
    tableStats(args?: { table?: string; schema?: string; includeSystem?: boolean; }): Promise<{ schema: string; table: string; seq_scan: number; seq_tup_read: number; idx_scan?: number; idx_tup_fetch?: number; n_live_tup: number; n_dead_tup: number; n_tup_ins: number; n_tup_upd: number; n_tup_del: number; n_tup_hot_upd: number; n_mod_since_analyze: number; last_vacuum?: string; last_autovacuum?: string; last_analyze?: string; last_autoanalyze?: string; vacuum_count: number; autovacuum_count: number; analyze_count: number; autoanalyze_count: number; total_bytes: number; size: string; } | { tables: Array<{ schema: string; table: string; seq_scan: number; seq_tup_read: number; idx_scan?: number; idx_tup_fetch?: number; n_live_tup: number; n_dead_tup: number; n_tup_ins: number; n_tup_upd: number; n_tup_del: number; n_tup_hot_upd: number; n_mod_since_analyze: number; last_vacuum?: string; last_autovacuum?: string; last_analyze?: string; last_autoanalyze?: string; vacuum_count: number; autovacuum_count: number; analyze_count: number; autoanalyze_count: number; total_bytes: number; size: string; }>; }>;
  };
  admin: {
    /** VACUUM one table (or, without `table`, every table of the current database the role may vacuum), with optional FULL, FREEZE, ANALYZE and SKIP_LOCKED. [pg_vacuum] */
    vacuum(args?: { table?: string; schema?: string; full?: boolean; freeze?: boolean; analyze?: boolean; skipLocked?: boolean; columns?: string[]; }): Promise<{ statement: string; target: string; durationMs: number; sizeBefore?: number | string; sizeAfter?: number | string; }>;
    /** VACUUM (ANALYZE) one table (or, without `table`, the whole current database): reclaims dead rows and refreshes planner statistics in one pass. SHARE UPDATE EXCLUSIVE lock (reads and writes continue); pass full: true for VACUUM FULL, which holds an ACCESS EXCLUSIVE lock for the whole rewrite. [pg_vacuum_analyze] */
    vacuumAnalyze(args?: { table?: string; schema?: string; full?: boolean; freeze?: boolean; columns?: string[]; }): Promise<{ statement: string; target: string; durationMs: number; sizeBefore?: number | string; sizeAfter?: number | string; }>;
    /** ANALYZE one table (optionally some of its columns) or, without `table`, the whole current database: samples the rows and replaces the planner statistics (pg_statistic) with fresh ones. Takes a SHARE UPDATE EXCLUSIVE lock; reads and writes continue. [pg_analyze] */
    analyze(args?: { table?: string; schema?: string; columns?: string[]; skipLocked?: boolean; }): Promise<{ statement: string; target: string; durationMs: number; sizeBefore?: number | string; sizeAfter?: number | string; }>;
    /** Rebuild indexes: one index, every index of a table, of a schema, or of the current database (`target`). [pg_reindex] */
    reindex(args: { target: "index" | "table" | "schema" | "database"; name?: string; schema?: string; concurrently?: boolean; } | string /* target */): Promise<{ statement: string; target: string; durationMs: number; sizeBefore?: number | string; sizeAfter?: number | string; }>;
    /** Rewrite a table in the order of one of its indexes (CLUSTER … USING), which also remembers that index for later runs; with `table` alone, re-cluster it on its remembered index; with neither, re-cluster every table of the current database that has one. [pg_cluster] */
    cluster(args?: { table?: string; schema?: string; index?: string; }): Promise<{ statement: string; target: string; durationMs: number; sizeBefore?: number | string; sizeAfter?: number | string; }>;
    /** Cancel the statement a server process (`pid`, from pg_stat_activity) is running (pg_cancel_backend): the statement fails with QUERY_CANCELED, the session stays connected and its transaction, if any, is aborted. [pg_cancel_backend] */
    cancelBackend(args: { pid: number; }): Promise<{ pid: number; signalled: boolean; user?: string; database?: string; applicationName?: string; backendType?: string; state?: string; query?: string; }>;
    /** Terminate a server process (`pid`, from pg_stat_activity) with pg_terminate_backend: its connection is closed and its open transaction rolled back, so uncommitted work of that session is lost. [pg_terminate_backend] */
    terminateBackend(args: { pid: number; }): Promise<{ pid: number; signalled: boolean; user?: string; database?: string; applicationName?: string; backendType?: string; state?: string; query?: string; }>;
    /** Signal the server to re-read its configuration files (pg_reload_conf(); as SIGHUP): changed settings of context sighup or user take effect in every session shortly after, asynchronously; settings of context postmaster wait for a restart (pg_show_settings with pendingRestartOnly lists them). Needs superuser or EXECUTE on pg_reload_conf. [pg_reload_conf] */
    reloadConf(args?: { }): Promise<{ reloaded: boolean; }>;
    /** Set (or with reset: true, remove) a configuration parameter persistently, in one of three scopes. A session-level SET would be meaningless here: pgmcp's pooled connections are reset after every call. [pg_set_config] */
    setConfig(args: { name: string; value?: string; scope?: "database" | "role" | "system"; role?: string; inCurrentDatabase?: boolean; reset?: boolean; } | string /* name */): Promise<{ statement: string; scope: "database" | "role" | "system"; name: string; value?: string; previous?: string; context?: string; reloaded: boolean; restartRequired: boolean; }>;
    /** Reset the cumulative statistics counters of the current database (pg_stat_reset(): pg_stat_database, pg_stat_user_tables, pg_stat_user_indexes, pg_statio_* of this database) or, with `table`, of one table and its indexes (pg_stat_reset_single_table_counters). The numbers are lost: usage counts, scan counts, dead-row counts and the last (auto)vacuum/analyze times that autovacuum and tools like pg_unused_indexes rely on. Other databases and cluster-wide views (pg_stat_bgwriter, pg_stat_statements) are not touched. Needs superuser or EXECUTE on the function. [pg_reset_stats] */
    resetStats(args?: { table?: string; schema?: string; }): Promise<{ statement: string; target: string; }>;
    /** Append a timestamped note (a finding, a decision, a follow-up) to the table pgmcp.insights in the current database, so that it can be read back in a later session with pg_read_query (`SELECT * FROM pgmcp.insights ORDER BY id DESC`). [pg_append_insight] */
    appendInsight(args: { insight: string; category?: string; } | string /* insight */): Promise<{ id: number; createdAt: string; total: number; }>;
  };
};

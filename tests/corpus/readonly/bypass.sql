-- stacked: a read followed by a write
SELECT 1; DELETE FROM canary

-- stacked: a write followed by a read
DELETE FROM canary; SELECT 1

-- stacked: end the read-only transaction, then write in autocommit
COMMIT; DELETE FROM canary

-- stacked: roll back the read-only transaction, then write
ROLLBACK; INSERT INTO canary VALUES (100, 'pwned')

-- stacked: END then DROP
END; DROP TABLE canary

-- stacked: a whole write transaction
BEGIN; DELETE FROM canary; COMMIT

-- stacked: hidden behind a semicolon inside a comment
SELECT 1 /* ; */ ; DELETE FROM canary

-- stacked: hidden behind a dollar-quoted semicolon
SELECT $$;$$; DELETE FROM canary

-- stacked: a harmless sleep first
SELECT pg_sleep(0); UPDATE canary SET v = 'pwned'

-- transaction control: bare COMMIT
COMMIT

-- transaction control: flip the transaction to read-write, then write
SET TRANSACTION READ WRITE; DELETE FROM canary

-- transaction control: flip the transaction to read-write alone
SET TRANSACTION READ WRITE

-- transaction control: session characteristics
SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE

-- settings: default_transaction_read_only
SET default_transaction_read_only = off

-- settings: transaction_read_only
SET transaction_read_only = off

-- settings: set_config on transaction_read_only
SELECT set_config('transaction_read_only', 'off', false)

-- settings: set_config on default_transaction_read_only, then a write in the same statement
SELECT set_config('default_transaction_read_only', 'off', false), (SELECT count(*) FROM canary)

-- settings: set_config on the search path, to hijack later calls
SELECT set_config('search_path', 'pwned, public', false)

-- settings: RESET ALL
RESET ALL

-- settings: SET ROLE
SET ROLE postgres

-- settings: SET SESSION AUTHORIZATION
SET SESSION AUTHORIZATION DEFAULT

-- settings: set_config('role')
SELECT set_config('role', 'pg_read_server_files', false)

-- settings: ALTER SYSTEM
ALTER SYSTEM SET work_mem = '1GB'

-- settings: reload the configuration
SELECT pg_reload_conf()

-- writable CTE: DELETE
WITH d AS (DELETE FROM canary RETURNING *) SELECT * FROM d

-- writable CTE: INSERT
WITH i AS (INSERT INTO canary VALUES (101, 'pwned') RETURNING 1) SELECT 1

-- writable CTE: UPDATE under a count
WITH u AS (UPDATE canary SET v = 'pwned' RETURNING 1) SELECT count(*) FROM u

-- writable CTE: nested two levels deep
WITH a AS (WITH b AS (DELETE FROM canary RETURNING id) SELECT id FROM b) SELECT * FROM a

-- writable CTE: MERGE inside WITH is rejected by the grammar, so a plain MERGE
MERGE INTO canary c USING (SELECT 1 AS id) s ON c.id = s.id WHEN MATCHED THEN DELETE

-- locking: FOR UPDATE
SELECT * FROM canary FOR UPDATE

-- locking: FOR SHARE
SELECT * FROM canary FOR SHARE

-- locking: FOR NO KEY UPDATE SKIP LOCKED in a subquery
SELECT * FROM (SELECT * FROM canary FOR NO KEY UPDATE SKIP LOCKED) s

-- locking: LOCK TABLE
LOCK TABLE canary IN ACCESS EXCLUSIVE MODE

-- SELECT INTO creates a table
SELECT * INTO pwned FROM canary

-- CREATE TABLE AS
CREATE TABLE pwned AS SELECT * FROM canary

-- CREATE TEMP TABLE
CREATE TEMP TABLE pwned (x int)

-- COPY TO PROGRAM
COPY canary TO PROGRAM 'touch /tmp/pgmcp_pwned_{{TAG}}'

-- COPY FROM PROGRAM
COPY canary FROM PROGRAM 'echo 9,pwned'

-- COPY TO a server file
COPY canary TO '/tmp/pgmcp_pwned_{{TAG}}.csv'

-- COPY a query TO a server file
COPY (SELECT * FROM canary) TO '/tmp/pgmcp_pwned_{{TAG}}.csv'

-- files: pg_read_file
SELECT pg_read_file('postgresql.auto.conf')

-- files: pg_read_file in FROM
SELECT * FROM pg_read_file('PG_VERSION')

-- files: pg_read_binary_file
SELECT pg_read_binary_file('PG_VERSION')

-- files: pg_ls_dir
SELECT pg_ls_dir('.')

-- files: pg_stat_file in FROM
SELECT * FROM pg_stat_file('PG_VERSION')

-- files: pg_ls_waldir
SELECT * FROM pg_ls_waldir()

-- files: schema-qualified pg_read_file
SELECT pg_catalog.pg_read_file('PG_VERSION')

-- files: quoted, upper-case function name
SELECT "PG_READ_FILE"('PG_VERSION')

-- files: unicode-escaped function name
SELECT U&"pg\005fread_file"('PG_VERSION')

-- files: mixed case with a comment between name and parenthesis
SELECT Pg_Read_File /* hi */ ('PG_VERSION')

-- files: inside ROWS FROM
SELECT * FROM ROWS FROM (pg_ls_dir('.')) AS f

-- large objects: lo_import a server file
SELECT lo_import('/etc/hostname')

-- large objects: lo_export to a server file
SELECT lo_export(lo_from_bytea(0, 'x'), '/tmp/pgmcp_pwned_{{TAG}}.lo')

-- large objects: lo_create
SELECT lo_create(0)

-- large objects: lo_from_bytea in a subquery
SELECT (SELECT lo_from_bytea(0, 'x'))

-- DO block that deletes
DO $$ BEGIN DELETE FROM canary; END $$

-- DO block with dynamic SQL and a custom dollar tag
DO $x$ BEGIN EXECUTE 'DELETE FROM canary'; END $x$

-- CALL a procedure that deletes
CALL canary_wipe()

-- PL/pgSQL function that writes, in the select list
SELECT canary_write()

-- PL/pgSQL function that writes, schema-qualified
SELECT public.canary_write()

-- PL/pgSQL function that writes, in FROM
SELECT * FROM canary_write()

-- PL/pgSQL function that writes, in WHERE
SELECT * FROM canary WHERE canary_write() IS NOT NULL

-- PL/pgSQL function that writes, in VALUES
VALUES (canary_write())

-- PL/pgSQL function that writes, inside a CTE
WITH w AS (SELECT canary_write() AS x) SELECT x FROM w

-- PREPARE a write
PREPARE pwn AS DELETE FROM canary

-- EXECUTE a prepared write
EXECUTE pwn

-- DECLARE a cursor WITH HOLD (outlives the transaction)
DECLARE c CURSOR WITH HOLD FOR SELECT * FROM canary

-- sequences: nextval
SELECT nextval('canary_seq')

-- sequences: setval
SELECT setval('canary_seq', 1000)

-- advisory locks: session lock outlives the transaction
SELECT pg_advisory_lock(42)

-- advisory locks: try variant
SELECT pg_try_advisory_lock(42)

-- advisory locks: shared variant, schema-qualified
SELECT pg_catalog.pg_advisory_lock_shared(42)

-- LISTEN
LISTEN pwned

-- NOTIFY
NOTIFY pwned, 'x'

-- pg_notify
SELECT pg_notify('pwned', 'x')

-- comments: block comment before a write
/* just a comment */ DELETE FROM canary

-- comments: line comment before a write
-- SELECT 1
DELETE FROM canary

-- case tricks: mixed-case DELETE
DeLeTe FrOm CaNaRy

-- plain writes: INSERT
INSERT INTO canary VALUES (102, 'pwned')

-- plain writes: UPDATE
UPDATE canary SET v = 'pwned'

-- plain writes: TRUNCATE
TRUNCATE canary

-- DDL: DROP TABLE
DROP TABLE canary

-- DDL: ALTER TABLE
ALTER TABLE canary ADD COLUMN pwned int

-- DDL: CREATE FUNCTION
CREATE FUNCTION pwn() RETURNS int LANGUAGE sql AS 'select 1'

-- DDL: GRANT
GRANT ALL ON canary TO PUBLIC

-- DDL: CREATE ROLE
CREATE ROLE pwned SUPERUSER

-- maintenance: VACUUM
VACUUM canary

-- maintenance: ANALYZE
ANALYZE canary

-- maintenance: CHECKPOINT
CHECKPOINT

-- LOAD a shared library
LOAD 'auto_explain'

-- DISCARD
DISCARD ALL

-- EXPLAIN ANALYZE executes a DELETE
EXPLAIN ANALYZE DELETE FROM canary

-- EXPLAIN (ANALYZE) of a writable CTE
EXPLAIN (ANALYZE) WITH d AS (DELETE FROM canary RETURNING 1) SELECT * FROM d

-- EXPLAIN (ANALYZE true) of an INSERT
EXPLAIN (ANALYZE true, COSTS off) INSERT INTO canary VALUES (103, 'pwned')

-- other backends: terminate
SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND false

-- other backends: cancel
SELECT pg_cancel_backend(0)

-- SQL from a string: query_to_xml
SELECT query_to_xml('DELETE FROM canary RETURNING *', true, true, '')

-- dblink: another connection (refused by name even when the extension is absent)
SELECT dblink_exec('dbname=postgres', 'DELETE FROM canary')

-- replication: create a slot
SELECT pg_create_physical_replication_slot('pwned')

-- statistics: reset
SELECT pg_stat_reset()

-- WAL: switch
SELECT pg_switch_wal()

-- enforced by PostgreSQL itself: a view hides a PL/pgSQL function that writes
SELECT * FROM canary_view_write

-- EXPLAIN ANALYZE of CREATE TABLE AS (PostgreSQL runs it in a read-only transaction)
EXPLAIN ANALYZE CREATE TABLE pwned AS SELECT * FROM canary

-- EXPLAIN ANALYZE of DECLARE CURSOR WITH HOLD
EXPLAIN ANALYZE DECLARE c CURSOR WITH HOLD FOR SELECT * FROM canary

-- query string: ts_stat reads a server file
SELECT * FROM ts_stat('SELECT to_tsvector(pg_read_file(''postgresql.auto.conf''))')

-- query string: ts_stat runs a write through dblink_exec
SELECT * FROM ts_stat($q$SELECT to_tsvector(dblink_exec('dbname=postgres', 'DELETE FROM canary')::text)$q$)

-- query string: ts_stat runs COPY TO PROGRAM through dblink
SELECT * FROM ts_stat($q$SELECT to_tsvector(dblink_exec('dbname=' || current_database(), 'COPY (SELECT 1) TO PROGRAM ''touch /tmp/pgmcp_pwned_{{TAG}}''')::text)$q$)

-- query string: ts_stat creates a replication slot
SELECT * FROM ts_stat('SELECT to_tsvector(pg_create_physical_replication_slot(''pwned'', true)::text)')

-- query string: ts_stat exports a large object to a server file
SELECT * FROM ts_stat('SELECT to_tsvector(lo_export(lo_from_bytea(0, ''x''), ''/tmp/pgmcp_pwned_{{TAG}}.lo'')::text)')

-- query string: ts_stat resets statistics
SELECT * FROM ts_stat('SELECT to_tsvector(pg_stat_reset()::text)')

-- query string: ts_stat switches WAL
SELECT * FROM ts_stat('SELECT to_tsvector(pg_switch_wal()::text)')

-- query string: ts_stat terminates other sessions of the same role
SELECT * FROM ts_stat('SELECT to_tsvector(pg_terminate_backend(pid)::text) FROM pg_stat_activity WHERE false')

-- query string: ts_stat reads pg_authid through dblink
SELECT * FROM ts_stat($q$SELECT to_tsvector(x) FROM dblink('dbname=postgres', 'SELECT rolpassword FROM pg_authid') AS t(x text)$q$)

-- query string: ts_stat with weights
SELECT * FROM ts_stat('SELECT to_tsvector(pg_read_file(''postgresql.auto.conf''))', 'a')

-- query string: ts_stat schema-qualified
SELECT * FROM pg_catalog.ts_stat('SELECT to_tsvector(''x'')')

-- query string: ts_stat through a U& identifier
SELECT * FROM U&"ts\005fstat"('SELECT to_tsvector(''x'')')

-- query string: ts_stat inside VALUES
VALUES ((SELECT count(*) FROM ts_stat('SELECT to_tsvector(''x'')')))

-- query string: ts_stat inside EXISTS
SELECT 1 WHERE EXISTS (SELECT 1 FROM ts_stat('SELECT to_tsvector(''x'')'))

-- query string: ts_stat under EXPLAIN ANALYZE
EXPLAIN ANALYZE SELECT * FROM ts_stat('SELECT to_tsvector(''x'')')

-- query string: ts_stat under plain EXPLAIN
EXPLAIN SELECT * FROM ts_stat('SELECT to_tsvector(''x'')')

-- query string: ts_rewrite runs its second argument
SELECT ts_rewrite('a'::tsquery, 'SELECT ''a''::tsquery, pg_read_file(''postgresql.auto.conf'')::tsquery')

-- query string: ts_rewrite schema-qualified
SELECT pg_catalog.ts_rewrite('a'::tsquery, 'SELECT ''a''::tsquery, ''b''::tsquery')

-- query string: query_to_xml reads a server file
SELECT query_to_xml('SELECT pg_read_file(''postgresql.auto.conf'')', true, true, '')

-- query string: query_to_xml_and_xmlschema
SELECT query_to_xml_and_xmlschema('SELECT 1', true, true, '')

-- query string: query_to_xmlschema
SELECT query_to_xmlschema('SELECT 1', true, true, '')

-- query string: cursor_to_xml
SELECT cursor_to_xml('c'::refcursor, 1, true, true, '')

-- query string: table_to_xml reads a view that runs a writing function
SELECT table_to_xml('canary_view_write', true, true, '')

-- query string: schema_to_xml reads every view of a schema
SELECT schema_to_xml('public', true, true, '')

-- query string: database_to_xml
SELECT database_to_xml(true, true, '')

-- field notation: t.f calls f(t)
SELECT c.side_effect FROM canary c

-- field notation: (t).f
SELECT (c).side_effect FROM canary c

-- field notation: table name as qualifier
SELECT canary.side_effect FROM canary

-- field notation: schema.table.f
SELECT public.canary.side_effect FROM public.canary

-- field notation: in WHERE
SELECT id FROM canary c WHERE c.side_effect = 1

-- field notation: in a scalar subquery
SELECT (SELECT c.side_effect) FROM canary c

-- field notation: on a whole-row subquery
SELECT (s.c).side_effect FROM (SELECT c FROM canary c) s

-- field notation: ordinary call of the same function
SELECT side_effect(c) FROM canary c

-- built-in with lasting effect: brin_summarize_new_values
SELECT brin_summarize_new_values('brin_i')

-- built-in with lasting effect: brin_desummarize_range
SELECT brin_desummarize_range('brin_i', 0)

-- built-in with lasting effect: brin_summarize_range
SELECT brin_summarize_range('brin_i', 0)

-- built-in with lasting effect: gin_clean_pending_list
SELECT gin_clean_pending_list('gin_a')

-- built-in with lasting effect: pg_nextoid consumes OIDs
SELECT pg_nextoid('pg_class', 'oid', 'pg_class_oid_index')

-- built-in with lasting effect: pg_hba_file_rules reads the config file
SELECT * FROM pg_hba_file_rules()

-- built-in with lasting effect: the pg_hba_file_rules view
SELECT * FROM pg_hba_file_rules

-- built-in with lasting effect: pg_show_all_file_settings
SELECT * FROM pg_show_all_file_settings()

-- built-in with lasting effect: the pg_file_settings view
SELECT * FROM pg_file_settings

-- built-in with lasting effect: pg_ident_file_mappings
SELECT * FROM pg_ident_file_mappings()

-- built-in with lasting effect: txid_current assigns a transaction id
SELECT txid_current()

-- built-in with lasting effect: pg_current_xact_id assigns a transaction id
SELECT pg_current_xact_id()

-- built-in with lasting effect: pg_export_snapshot
SELECT pg_export_snapshot()

-- session state: setseed makes the next caller's random() predictable
SELECT setseed(0.42)

-- session state: setseed hidden in a subquery
SELECT (SELECT setseed(0.42)), random()

-- session state: earlier callers' prepared statements through the view
SELECT name, statement FROM pg_prepared_statements

-- session state: earlier callers' prepared statements through the function
SELECT * FROM pg_prepared_statement()

-- session state: dblink_connect keeps a named connection
SELECT dblink_connect('pwned', 'dbname=postgres')

-- session state: replication origin session
SELECT pg_replication_origin_session_setup('pwned')

-- session state: currval reads another caller's sequence state
SELECT currval('canary_seq')

-- user function: STABLE plpgsql that reads a server file
SELECT stable_reader(c) FROM canary c

-- user function: STABLE plpgsql in field notation
SELECT c.stable_reader FROM canary c

-- user function: STABLE LANGUAGE sql whose body reads a server file
SELECT sql_stable_leak()

-- user function: STABLE LANGUAGE sql whose body calls a writing function
SELECT sql_stable_nested()

-- user function: BEGIN ATOMIC body that reads a server file
SELECT sql_atomic_leak()

-- user function: SECURITY DEFINER
SELECT sec_definer()

-- user function: a volatile aggregate transition function
SELECT evil_agg(id) FROM canary

-- user function: a volatile function behind an operator
SELECT 1 === 2

-- user function: the operator in WHERE
SELECT id FROM canary WHERE id === 1

-- user function: OPERATOR() syntax
SELECT 1 OPERATOR(public.===) 2

-- user function: a cast to a domain whose CHECK writes
SELECT 1::evil_dom

-- user function: an implicit cast with a writing cast function
SELECT length(ROW(1)::evil_t)

-- view: nested view over a writing function
SELECT * FROM view_nested

-- view: a view over a STABLE SQL function that reads a file
SELECT * FROM view_sql_leak

-- view: a view over a denied built-in
SELECT * FROM view_builtin_denied

-- row security: a policy that calls a writing function
SELECT * FROM rls_t

-- EXPLAIN of an INSERT folds a column default that calls a function
EXPLAIN INSERT INTO defaults_t (id) VALUES (1)

-- user function: a function-style cast to a domain whose CHECK writes
SELECT evil_dom(1)

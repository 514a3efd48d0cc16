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

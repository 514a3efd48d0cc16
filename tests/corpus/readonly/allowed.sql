-- plain select
SELECT * FROM canary ORDER BY id

-- CTE
WITH t AS (SELECT id FROM canary) SELECT count(*) FROM t

-- recursive CTE
WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 10) SELECT sum(n) FROM r

-- window functions
SELECT id, row_number() OVER (ORDER BY id DESC), sum(id) OVER () FROM canary

-- aggregate with FILTER and ORDER BY
SELECT count(*) FILTER (WHERE id > 1), string_agg(v, ',' ORDER BY id) FROM canary

-- VALUES
VALUES (1, 'a'), (2, 'b')

-- TABLE
TABLE canary

-- EXPLAIN
EXPLAIN SELECT * FROM canary

-- EXPLAIN ANALYZE of a read
EXPLAIN (ANALYZE, BUFFERS) SELECT * FROM canary WHERE id = 1

-- EXPLAIN as JSON
EXPLAIN (FORMAT JSON) SELECT 1

-- EXPLAIN of a write, planned only
EXPLAIN DELETE FROM canary

-- EXPLAIN (ANALYZE off) of a write, planned only
EXPLAIN (ANALYZE off) UPDATE canary SET v = 'x'

-- catalog query
SELECT relname FROM pg_class WHERE relkind = 'r' ORDER BY relname LIMIT 5

-- information_schema
SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'

-- pg_stat_user_tables
SELECT relname, seq_scan, n_live_tup FROM pg_stat_user_tables

-- pg_stat_activity for this session
SELECT state FROM pg_stat_activity WHERE pid = pg_backend_pid()

-- pg_size_pretty over a volatile size function
SELECT pg_size_pretty(pg_total_relation_size('canary'))

-- database size
SELECT pg_size_pretty(pg_database_size(current_database()))

-- SHOW
SHOW search_path

-- SHOW ALL
SHOW ALL

-- current_setting
SELECT current_setting('work_mem')

-- time and random functions
SELECT now() <= clock_timestamp(), random() >= 0, gen_random_uuid() IS NOT NULL

-- a STABLE user function
SELECT canary_count()

-- set-returning function in FROM
SELECT * FROM generate_series(1, 3)

-- JSON functions
SELECT jsonb_build_object('a', 1) -> 'a', jsonb_path_query_array('[1,2,3]', '$[*] ? (@ > 1)')

-- text that looks like a write
SELECT 'DELETE FROM canary; COMMIT' AS looks_like_a_write

-- dollar-quoted text naming a denied function
SELECT $$ pg_read_file('x') $$ AS not_a_call

-- a comment naming a write
SELECT lower('X') -- DELETE FROM canary

-- privileges and definitions
SELECT has_table_privilege('canary', 'SELECT'), pg_get_viewdef('pg_tables'::regclass) IS NOT NULL

-- EXISTS subquery and LATERAL
SELECT a.id FROM canary a, LATERAL (SELECT b.id FROM canary b WHERE b.id = a.id) s WHERE EXISTS (SELECT 1 FROM canary)

-- currval of a sequence that was never advanced here fails in PostgreSQL, so read its state instead
SELECT last_value FROM canary_seq

-- pg_sleep is a read (bounded by the statement timeout)
SELECT pg_sleep(0)

-- a STABLE SQL function that only reads
SELECT canary_count()

-- field notation on a real column
SELECT c.id, (c).v FROM canary c ORDER BY 1

-- JSON functions
SELECT jsonb_build_object('a', 1) -> 'a', jsonb_path_query_array('[1,2,3]', '$[*] ? (@ > 1)'), to_jsonb(c) FROM canary c

-- generate_series and aggregates
SELECT count(*), sum(g), avg(g), percentile_cont(0.5) WITHIN GROUP (ORDER BY g) FROM generate_series(1, 100) g

-- text search on values
SELECT to_tsvector('english', 'reads only') @@ websearch_to_tsquery('english', 'read')

-- statistics views
SELECT count(*) >= 0 FROM pg_stat_user_indexes

-- pg_settings and pg_locks
SELECT (SELECT count(*) > 0 FROM pg_settings), (SELECT count(*) >= 0 FROM pg_locks)

-- a view over a stable SQL function
SELECT * FROM canary_count_view

-- random numbers (the seed itself is refused)
SELECT random() BETWEEN 0 AND 1

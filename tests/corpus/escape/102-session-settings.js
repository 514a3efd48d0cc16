// category: state-persistence
// expect: ok
// result: {"gucInTx":"1"}
// Session state set through the database (a setting, a temp table, a prepared name, an
// advisory lock) must not reach the next execution's connection.
const a = await pg.execute("select set_config('app.leak', '1', false) as v");
await pg.execute("set search_path to pg_temp, public");
await pg.execute("create temp table leaked_temp (x int)");
await pg.execute("prepare leaked_stmt as select 1");
await pg.execute("listen leaked_channel");
await pg.execute("select pg_advisory_lock(4242)");
return { gucInTx: a.rows[0].v };

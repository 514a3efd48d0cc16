// category: state-persistence
// expect: ok
// readonly: true
// result: {"guc":"1","lock":true}
// The same through a read-only execution: reads run in READ ONLY transactions that are
// rolled back, yet some things act outside the transaction.
const a = await pg.query("select set_config('app.leak', '1', false) as v");
const l = await pg.query("select pg_try_advisory_lock(4243) as locked");
return { guc: a.rows[0].v, lock: l.rows[0].locked };

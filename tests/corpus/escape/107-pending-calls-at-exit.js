// category: state-persistence
// expect: ok
// result: "returned early"
// Calls still in flight (or still queued) when the script returns are dropped; the slow
// statement is cancelled at the server rather than left running into the next execution.
for (let i = 0; i < 4; i++) pg.query("select pg_sleep(20)");
await pg.query("select 1");
return "returned early";

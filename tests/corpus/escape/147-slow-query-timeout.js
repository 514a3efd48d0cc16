// category: exhaustion
// expect: error TIMEOUT
// timeout: 1500
// Waiting on the database is wall-clock time: only the deadline ends it, and the statement
// is cancelled at the server (the follow-up check looks for leftover activity).
await pg.query("select pg_sleep(30)");

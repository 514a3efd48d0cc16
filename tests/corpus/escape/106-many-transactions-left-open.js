// category: state-persistence
// expect: ok
// result: {"opened":true,"stoppedBy":"CONNECTION_QUOTA"}
// Opening transactions until the server refuses: each pins a pooled connection, and all of
// them must be released when the execution ends. The execution's connection quota
// (--code-max-connections, half the pool) stops it before the server-wide transaction limit.
let opened = 0;
let stoppedBy = "nothing";
for (let i = 0; i < 50; i++) {
  try { await pg.transactions.begin({}); opened++; } catch (e) { stoppedBy = e.code; break; }
}
return { opened: opened > 0, stoppedBy };

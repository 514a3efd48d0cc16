// category: hostile-arguments
// expect: ok
// result: {"n":1,"trapCalls":true}
// readonly: true
// Calls through tx copy arguments with for-in; proxy traps run there and call pg again.
let trapCalls = 0;
const target = { sql: "select 1 as n" };
const args = new Proxy(target, {
  ownKeys(t) { trapCalls++; pg.query("select 2"); return Reflect.ownKeys(t); },
  getOwnPropertyDescriptor(t, k) { trapCalls++; return Reflect.getOwnPropertyDescriptor(t, k); },
});
const n = await pg.transaction(async (tx) => (await tx.query(args)).rows[0].n);
return { n, trapCalls: trapCalls > 0 };

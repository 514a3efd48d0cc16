// category: hostile-arguments
// expect: ok
// result: ["Error: ownKeys","Error: get","TypeError",1]
// Proxy traps that throw while arguments are serialized reject just that call.
const out = [];
const attempts = [
  new Proxy({ sql: "select 1" }, { ownKeys() { throw new Error("ownKeys"); } }),
  new Proxy({ sql: "select 1" }, { get() { throw new Error("get"); } }),
];
const revocable = Proxy.revocable({ sql: "select 1" }, {});
revocable.revoke();
attempts.push(revocable.proxy);
for (const a of attempts) {
  try { await pg.query(a); out.push("sent"); } catch (e) { out.push(e.name === "TypeError" ? e.name : e.name + ": " + e.message); }
}
out.push((await pg.query("select 1 as n")).rows[0].n);
return out;

// category: prototype-pollution
// expect: ok
// result: {"rows":[{"n":1}],"rowCount":1,"setterCalls":0,"ownRows":true}
// Setters on Object.prototype must not intercept how the host builds result objects.
let setterCalls = 0;
for (const key of ["rows", "rowCount", "n", "0"]) {
  Object.defineProperty(Object.prototype, key, {
    configurable: true,
    get() { return "hijacked"; },
    set(v) { setterCalls++; },
  });
}
Object.defineProperty(Array.prototype, "0", { configurable: true, get() { return "hijacked"; }, set() { setterCalls++; } });
const r = await pg.query("select 1 as n");
const out = { rows: [{ n: r.rows[0].n }], rowCount: r.rowCount, setterCalls, ownRows: Object.hasOwn(r, "rows") };
return out;

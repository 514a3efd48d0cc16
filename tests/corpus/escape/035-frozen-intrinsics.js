// category: prototype-pollution
// expect: ok
// result: {"n":2,"names":["n"]}
// Freezing every intrinsic prototype must not break the host's promise or result plumbing.
for (const C of [Object, Array, Function, Promise, Error, String, Number, Boolean, Symbol, RegExp, Map, Set]) {
  Object.freeze(C.prototype);
  Object.freeze(C);
}
Object.freeze(globalThis.JSON);
Object.freeze(Reflect);
const r = await pg.query("select 2 as n");
try { await pg.query("select * from missing_table_x"); } catch (e) { /* PgError built on a frozen Error.prototype */ }
return { n: r.rows[0].n, names: Object.getOwnPropertyNames(r.rows[0]) };

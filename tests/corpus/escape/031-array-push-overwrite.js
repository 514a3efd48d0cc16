// category: prototype-pollution
// expect: ok
// result: {"n":3,"sum":6}
// Overwritten array methods must not break the bridge or the result conversion.
Array.prototype.push = function () { throw new Error("push hijacked"); };
Array.prototype.map = function () { throw new Error("map hijacked"); };
Array.prototype[Symbol.iterator] = function () { throw new Error("iterator hijacked"); };
Array.isArray = () => false;
Object.keys = () => { throw new Error("keys hijacked"); };
Object.entries = () => { throw new Error("entries hijacked"); };
const r = await pg.query("select g as n from generate_series(1, 3) g");
let sum = 0;
for (let i = 0; i < r.rows.length; i++) sum += r.rows[i].n;
return { n: r.rowCount, sum };

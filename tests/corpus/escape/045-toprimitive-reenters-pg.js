// category: hostile-arguments
// expect: ok
// result: {"v":5,"inner":7,"hint":"number"}
// JSON.stringify of a Number wrapper calls its Symbol.toPrimitive, which calls pg again.
let inner;
let hint;
const n = new Number(0);
n[Symbol.toPrimitive] = (h) => { hint = h; inner = pg.query("select 7 as n"); return 5; };
const r = await pg.query("select $1::int as v", [n]);
return { v: r.rows[0].v, inner: (await inner).rows[0].n, hint };

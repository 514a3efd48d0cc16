// category: thenables
// expect: ok
// result: {"n":1,"ownThenCalled":false}
// await on a native promise does not consult an own `then` property.
let ownThenCalled = false;
const p = pg.query("select 1 as n");
p.then = function () { ownThenCalled = true; return Promise.prototype.then.apply(this, arguments); };
const r = await p;
return { n: r.rows[0].n, ownThenCalled };

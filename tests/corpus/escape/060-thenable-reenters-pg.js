// category: thenables
// expect: ok
// result: {"n":2}
// Awaiting a thenable whose then() calls back into pg.
const thenable = { then(resolve, reject) { pg.query("select 2 as n").then((r) => resolve(r.rows[0]), reject); } };
return await thenable;

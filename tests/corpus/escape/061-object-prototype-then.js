// category: thenables
// expect: ok
// result: "hijacked"
// With Object.prototype.then defined, the host's result object is a thenable: resolving a
// pg.* promise runs user code in the middle of the host's settlement.
Object.prototype.then = function (resolve) { delete Object.prototype.then; resolve("hijacked"); };
const r = await pg.query("select 1 as n");
return r;

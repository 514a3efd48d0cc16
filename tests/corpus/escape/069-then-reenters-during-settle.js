// category: thenables
// expect: ok
// result: {"n":7}
// The host's settlement of one call triggers user code that starts another call, whose
// result replaces the first.
Object.prototype.then = function (resolve, reject) {
  delete Object.prototype.then;
  pg.query("select 7 as n").then((r) => resolve({ n: r.rows[0].n }), reject);
};
const r = await pg.query("select 1 as n");
return { n: r.n };

// category: thenables
// expect: ok
// result: [1,2,3]
// for await over thenables and pg promises mixed.
const items = [
  { then(r) { r(1); } },
  pg.query("select 2 as n").then((r) => r.rows[0].n),
  Promise.resolve({ then(r) { pg.query("select 3 as n").then((x) => r(x.rows[0].n)); } }),
];
const out = [];
for await (const v of items) out.push(v);
return out;

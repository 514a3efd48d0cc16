// category: hostile-arguments
// expect: ok
// result: {"n":1,"inner":2,"reads":1}
// A getter read while the prelude serializes arguments starts another pg.* call.
let inner;
let reads = 0;
const r = await pg.query({
  get sql() {
    reads++;
    inner = pg.query("select 2 as n");
    return "select 1 as n";
  },
});
return { n: r.rows[0].n, inner: (await inner).rows[0].n, reads };

// category: hostile-arguments
// expect: ok
// result: {"rows":[{"n":1}],"reads":1}
// readonly: true
// A proxy that answers differently on each read: arguments are read once and sent as
// JSON, so the host cannot see a different statement than the one serialized.
let reads = 0;
const args = new Proxy({ sql: "" }, {
  get(t, k) {
    if (k === "sql") {
      reads++;
      return reads === 1 ? "select 1 as n" : "insert into canary values (668, 'pwned')";
    }
    return Reflect.get(t, k);
  },
});
const r = await pg.query(args);
return { rows: r.rows, reads };

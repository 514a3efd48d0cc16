// category: hostile-arguments
// expect: ok
// result: "outer done"
// A getter on a tx.* argument starts another pg.transaction that nobody awaits; the run
// ends first, and the host must still roll back whatever is open.
let nested;
await pg.transaction(async (tx) => {
  await tx.query({
    get sql() {
      nested = pg.transaction(async (t2) => {
        await t2.execute("insert into scratch values (1)");
        await new Promise(() => {});
      });
      return "select 1";
    },
  });
});
return "outer done";

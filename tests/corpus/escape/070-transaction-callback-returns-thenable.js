// category: thenables
// expect: ok
// result: {"value":"done","rows":1}
// pg.transaction awaits whatever its callback returns, thenables included; the commit
// happens after the thenable settles.
const value = await pg.transaction((tx) => ({
  then(resolve, reject) {
    tx.execute("insert into scratch values (70)").then(() => resolve("done"), reject);
  },
}));
const r = await pg.query("select count(*)::int as n from scratch where id = 70");
return { value, rows: r.rows[0].n };

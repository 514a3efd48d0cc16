// category: readonly-writes
// expect: ok
// result: {"refused":["commit","rollback","begin read write","end"],"canary":3}
// readonly: true
// Ending the pinned READ ONLY transaction from inside, then writing in autocommit.
const refused = [];
await pg.transaction(async (tx) => {
  for (const sql of ["commit", "rollback", "begin read write", "end"]) {
    try { await tx.query(sql); } catch (e) { refused.push(sql); }
    try { await tx.query("insert into canary values (674, 'pwned')"); refused.push("INSERTED after " + sql); } catch (e) {}
  }
});
const c = await pg.query("select count(*)::int as n from canary");
return { refused, canary: c.rows[0].n };

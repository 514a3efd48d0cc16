// category: readonly-writes
// expect: ok
// result: {"readOnly":true,"insert":"25006","canary":3}
// readonly: true
// Asking the raw begin tool for a READ WRITE transaction from a read-only execution.
const t = await pg.transactions.begin({ readOnly: false, isolationLevel: "serializable" });
let insert = "inserted";
try {
  await pg.core.readQuery({ sql: "insert into canary values (675, 'pwned')", transactionId: t.transactionId });
} catch (e) { insert = e.sqlstate; }
const c = await pg.query("select count(*)::int as n from canary");
return { readOnly: t.readOnly, insert, canary: c.rows[0].n };

// category: state-persistence
// expect: ok
// result: {"listed":0,"committed":0,"wrote":0,"own":1}
// foreign-transaction: true
// A read-write execution may not commit, write into or roll back a transaction it did not
// begin; its own raw transactions are listed and usable.
const mine = await pg.transactions.begin({});
const st = await pg.transactions.status({});
const others = (st.transactions || []).filter((t) => t.transactionId !== mine.transactionId);
let committed = 0;
let wrote = 0;
for (const t of others) {
  try { await pg.transactions.commit({ transactionId: t.transactionId }); committed++; } catch (e) {}
  try { await pg.core.writeQuery({ sql: "insert into canary values (676, 'pwned')", transactionId: t.transactionId }); wrote++; } catch (e) {}
}
await pg.transactions.rollback({ transactionId: mine.transactionId });
return { listed: others.length, committed, wrote, own: st.count };

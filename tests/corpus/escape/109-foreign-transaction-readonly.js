// category: state-persistence
// expect: ok
// result: {"listed":0,"rolledBack":[],"read":[],"viaTxKey":[]}
// readonly: true
// foreign-transaction: true
// Another party (here: the MCP client itself) has a transaction open with an uncommitted
// insert. A read-only execution must neither see it listed, nor read inside it, nor roll
// it back (the runner checks the transaction is intact afterwards).
const st = await pg.transactions.status({});
const ids = new Set((st.transactions || []).map((t) => t.transactionId));
const rolledBack = [];
const read = [];
const viaTxKey = [];
for (const id of ids) {
  try { await pg.transactions.rollback({ transactionId: id }); rolledBack.push(id); } catch (e) {}
}
// Even without the listing, every id the script can think of is refused.
for (const id of [...ids, "tx_" + "0".repeat(32)]) {
  try { read.push((await pg.core.readQuery({ sql: "select count(*)::int as n from scratch", transactionId: id })).rows[0].n); } catch (e) {}
  try { viaTxKey.push((await pg.core.readQuery({ sql: "select 1", __pgmcp_tx: id })).rows.length); } catch (e) {}
}
return { listed: ids.size, rolledBack, read, viaTxKey };

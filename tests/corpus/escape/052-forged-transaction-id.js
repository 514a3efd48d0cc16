// category: hostile-arguments
// expect: ok
// result: ["TRANSACTION_NOT_FOUND","TRANSACTION_NOT_FOUND","TRANSACTION_NOT_FOUND"]
// Arguments naming a transaction this execution does not own are refused, before anything
// else about the call is looked at (so the answer says nothing about which ids exist).
const out = [];
for (const args of [
  { sql: "select 1", __pgmcp_tx: "tx_forged" },
  { sql: "select 1", transactionId: "tx_forged" },
]) {
  try { await pg.core.readQuery(args); out.push("ran"); } catch (e) { out.push(e.code); }
}
try { await pg.transactions.commit({ transactionId: "tx_forged", extra: 1 }); out.push("ran"); } catch (e) { out.push(e.code); }
return out;

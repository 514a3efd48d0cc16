// category: state-persistence
// expect: ok
// result: "begun"
// readonly: true
// The same in a read-only execution (which may still begin READ ONLY transactions).
const t = await pg.transactions.begin({});
await pg.core.readQuery({ sql: "select * from canary", transactionId: t.transactionId });
return "begun";

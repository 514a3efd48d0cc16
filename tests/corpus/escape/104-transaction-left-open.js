// category: state-persistence
// expect: ok
// result: "begun"
// A transaction started with the raw transactions API and never ended: the execution ends,
// so it must not stay open (pinning a connection, holding locks) for later executions.
const t = await pg.transactions.begin({});
await pg.core.writeQuery({ sql: "insert into scratch values (104)", transactionId: t.transactionId });
await pg.core.writeQuery({ sql: "select * from canary for update", transactionId: t.transactionId });
return "begun";

// category: readonly-writes
// expect: error JS_ERROR
// error-name: PgError
// readonly: true
await pg.transaction(async (tx) => {
  await tx.query("insert into canary values (671, 'pwned')");
});

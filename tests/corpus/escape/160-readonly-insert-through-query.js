// category: readonly-writes
// expect: error JS_ERROR
// error-name: PgError
// readonly: true
await pg.query("insert into canary values (669, 'pwned')");

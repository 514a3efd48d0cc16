// category: readonly-writes
// expect: error JS_ERROR
// error-name: TypeError
// readonly: true
await pg.execute("insert into canary values (670, 'pwned')");

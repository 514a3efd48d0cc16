// category: error-leaks
// expect: error JS_ERROR
// error-name: PgError
// error-contains: does not exist
await pg.query("select missing_column_q from (select 1) s");

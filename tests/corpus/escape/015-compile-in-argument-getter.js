// category: string-compilation
// expect: error JS_ERROR
// error-name: EvalError
// String compilation attempted while the prelude serializes pg.* arguments.
await pg.query({
  get sql() { return Function("return 'select 1'")(); },
});

// category: string-compilation
// expect: error JS_ERROR
// error-name: EvalError
// String compilation inside a promise job (a .then callback on a pg.* promise).
return await pg.query("select 1").then((r) => r.constructor.constructor("return 1")());

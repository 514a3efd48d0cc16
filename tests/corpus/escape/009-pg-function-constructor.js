// category: string-compilation
// expect: error JS_ERROR
// error-name: EvalError
// The host-provided pg.* functions are ordinary functions of this realm.
return pg.query.constructor("return process")();

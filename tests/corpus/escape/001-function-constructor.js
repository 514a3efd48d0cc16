// category: string-compilation
// expect: error JS_ERROR
// error-name: EvalError
// The global Function constructor must refuse to compile a string.
const f = Function("return globalThis")();
return typeof f;

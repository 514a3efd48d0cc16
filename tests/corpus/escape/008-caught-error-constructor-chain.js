// category: string-compilation
// expect: error JS_ERROR
// error-name: EvalError
// A TypeError thrown by the engine leads to Function through error.constructor.constructor.
let F;
try { null.x; } catch (e) { F = e.constructor.constructor; }
return F("return this")();

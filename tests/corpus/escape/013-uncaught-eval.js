// category: string-compilation
// expect: error JS_ERROR
// error-name: EvalError
const code = "pg" + ".query.constructor";
return (0, eval)(code);

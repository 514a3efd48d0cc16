// category: string-compilation
// expect: error JS_ERROR
// error-name: EvalError
const add = new Function("a", "b", "return a + b");
return add(1, 2);

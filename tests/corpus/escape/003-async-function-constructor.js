// category: string-compilation
// expect: error JS_ERROR
// error-name: EvalError
const AsyncFunction = (async function () {}).constructor;
const f = AsyncFunction("return await 1");
return await f();

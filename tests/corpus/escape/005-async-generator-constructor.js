// category: string-compilation
// expect: error JS_ERROR
// error-name: EvalError
const AsyncGeneratorFunction = (async function* () {}).constructor;
const g = new AsyncGeneratorFunction("yield 1");
for await (const x of g()) return x;

// category: string-compilation
// expect: error JS_ERROR
// error-name: EvalError
const GeneratorFunction = Object.getPrototypeOf(function* () {}).constructor;
return GeneratorFunction("yield 1")().next().value;

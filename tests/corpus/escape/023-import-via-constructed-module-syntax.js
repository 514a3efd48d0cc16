// category: code-loading
// expect: ok
// result: ["EvalError","EvalError"]
// Sneaking import() past the transpiler by compiling it from a string.
const AsyncFunction = (async () => {}).constructor;
const out = [];
try { await AsyncFunction("return import('fs')")(); out.push("LOADED"); } catch (e) { out.push(e.name); }
try { await (0, eval)("imp" + "ort('fs')"); out.push("LOADED"); } catch (e) { out.push(e.name); }
return out;

// category: string-compilation
// expect: ok
// result: ["EvalError","EvalError"]
// Subclassing Function still reaches the same [[Construct]].
class F extends Function {}
class G extends (async function () {}).constructor {}
return [() => new F("return 1"), () => new G("return 1")].map((f) => {
  try { f(); return "COMPILED"; } catch (e) { return e.name; }
});

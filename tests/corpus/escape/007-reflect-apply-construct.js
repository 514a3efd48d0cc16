// category: string-compilation
// expect: ok
// result: ["EvalError","EvalError","EvalError","EvalError","EvalError"]
const attempts = [
  () => Reflect.construct(Function, ["return 1"]),
  () => Reflect.apply(Function, null, ["return 1"]),
  () => Function.apply(null, ["return 1"]),
  () => Function.call(null, "return 1"),
  () => Reflect.construct(Function, ["return 1"], class {}),
];
return attempts.map((f) => { try { f(); return "COMPILED"; } catch (e) { return e.name; } });

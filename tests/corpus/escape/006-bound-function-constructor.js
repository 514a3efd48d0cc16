// category: string-compilation
// expect: ok
// result: {"bind":"EvalError","bindCall":"EvalError","bindPrototypeCtor":"EvalError","doubleBound":"EvalError","boundAsync":"EvalError"}
// Bound functions wrapping a constructor still go through the same refusal.
const out = {};
const attempts = {
  bind: () => Function.bind(null, "return 1")()(),
  bindCall: () => Function.prototype.bind.call(Function, null, "return 1")()(),
  bindPrototypeCtor: () => Function.prototype.constructor.bind(null)("return 1")(),
  doubleBound: () => Function.bind(null).bind(null, "x", "return x")()(1),
  boundAsync: () => (async () => {}).constructor.bind(null, "return 1")(),
};
for (const [k, f] of Object.entries(attempts)) {
  try { f(); out[k] = "COMPILED"; } catch (e) { out[k] = e.name; }
}
return out;

// category: string-compilation
// expect: ok
// result: {"direct":"EvalError","indirect":"EvalError","global":"EvalError","viaCall":"EvalError","viaReflect":"EvalError","aliased":"EvalError"}
const out = {};
const attempts = {
  direct: () => eval("1 + 1"),
  indirect: () => (0, eval)("1 + 1"),
  global: () => globalThis.eval("1"),
  viaCall: () => eval.call(null, "1"),
  viaReflect: () => Reflect.apply(eval, undefined, ["1"]),
  aliased: () => { const e = globalThis["ev" + "al"]; return e("1"); },
};
for (const [k, f] of Object.entries(attempts)) {
  try { f(); out[k] = "COMPILED"; } catch (e) { out[k] = e.name; }
}
return out;

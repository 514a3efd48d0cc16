// Realm hardening probes: eval, Function, constructors, import, host objects.
const probes = {
  eval: () => eval("1+1"),
  fn: () => Function("return this")(),
  ctor: () => (() => {}).constructor("return 1")(),
  asyncCtor: () => (async () => {}).constructor("return 1")(),
  genCtor: () => (function* () {}).constructor("yield 1")().next(),
  globals: () => Object.getOwnPropertyNames(globalThis).filter((k) => /process|require|Deno|Bun|fetch|setTimeout/.test(k)),
  sab: () => typeof SharedArrayBuffer,
  weak: () => typeof WeakRef,
};
const out = {};
for (const [k, f] of Object.entries(probes)) {
  try { out[k] = f(); } catch (e) { out[k] = String(e); }
}
return out;

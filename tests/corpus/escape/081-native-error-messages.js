// category: error-leaks
// expect: ok-any
// Messages of errors raised inside the engine's own built-ins (the runner checks the whole
// response for host paths, Rust type names and addresses).
const probes = [
  () => new Array(-1),
  () => "a".repeat(-1),
  () => JSON.parse("{"),
  () => Symbol() + "",
  () => BigInt(1.5),
  () => new ArrayBuffer(2 ** 40),
  () => null.x,
  () => undefined(),
  () => new (class A { #p = 1; static get(o) { return o.#p; } }).get({}),
  () => Object.defineProperty(Object.freeze({}), "x", { value: 1 }),
  () => new Proxy({}, { get: 1 }).x,
  () => Reflect.construct(() => {}, []),
  () => structuredClone({}),
  () => new Intl.DateTimeFormat(),
  () => "x".localeCompare("y", "zz-invalid-!!"),
  () => new RegExp("("),
  () => decodeURIComponent("%"),
  () => new Uint8Array(new ArrayBuffer(4), 1, 8),
  () => Array.prototype.reduce.call([], (a, b) => a),
  () => new WeakMap().set(1, 1),
  () => pg.transaction(5),
];
const out = [];
for (const p of probes) {
  try { const v = p(); if (v && typeof v.then === "function") await v; out.push("no error"); }
  catch (e) { out.push(String(e && e.name) + ": " + String(e && e.message)); }
}
return out;

// Native bombs the fuzz harness's guard shim caps (RangeError "pgmcp fuzz harness cap");
// in production the worker process's rlimits and the deadline kill handle them.
const tries = [
  () => "x".repeat(2 ** 30).length,
  () => new Array(1e9).fill(0).length,
  () => Array.prototype.indexOf.call({ length: 2 ** 53 - 1 }, 1),
  () => /(a+)+$/.test("a".repeat(30) + "b"),
  () => [].constructor(1e9).fill(0).length,
  () => { const a = []; a.length = 1e9; return a.join().length; },
  () => [...Array(1e9)].length,
  () => Array.from({ length: 1e9 }).length,
  () => Object.keys(new Uint8Array(64 * 1024 * 1024)).length,
  () => "x"["rep" + "eat"](2 ** 30).length,
  () => Math.max.apply(null, { length: 1e8 }),
  () => new Uint8Array(new ArrayBuffer(1 << 26)).sort().length,
];
const out = [];
for (const t of tries) {
  try { out.push(t()); } catch (e) { out.push(String(e.message).slice(0, 40)); }
}

// (also capped: a proxy closing a prototype cycle, which recurses natively on every lookup)
try {
  const t = {};
  Object.setPrototypeOf(t, new Proxy(t, {}));
  out.push(t.x);
} catch (e) { out.push(String(e.message)); }
return out;

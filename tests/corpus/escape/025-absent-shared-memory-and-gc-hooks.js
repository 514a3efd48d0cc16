// category: host-surface
// expect: ok
// result: {"SharedArrayBuffer":"undefined","Atomics":"undefined","WeakRef":"undefined","FinalizationRegistry":"undefined","Temporal":"undefined","viaGrowable":false,"tag":"[object ArrayBuffer]"}
// Removed globals must not be reachable through another path either.
const out = {};
for (const n of ["SharedArrayBuffer", "Atomics", "WeakRef", "FinalizationRegistry", "Temporal"]) {
  out[n] = typeof globalThis[n];
}
const ab = new ArrayBuffer(8, { maxByteLength: 16 });
out.viaGrowable = Object.getPrototypeOf(ab).constructor !== ArrayBuffer;
out.tag = Object.prototype.toString.call(ab);
return out;

// category: code-loading
// expect: ok
// result: {"require":"undefined","process":"undefined","module":"undefined","exports":"undefined","Deno":"undefined","Bun":"undefined","fetch":"undefined","setTimeout":"undefined","queueMicrotask":"undefined","print":"undefined","load":"undefined"}
// Names the transpiler cannot see statically are simply absent at run time.
const g = globalThis;
const names = ["req" + "uire", "pro" + "cess", "module", "exports", "Deno", "Bun", "fetch",
  "setTimeout", "queueMicrotask", "print", "load"];
const out = {};
for (const n of names) out[n] = typeof g[n];
return out;

// category: exhaustion
// expect: ok
// result: "logged"
// Logging values that fight the formatter: cycles, huge arrays, throwing getters, proxies.
const c = {}; c.c = c;
console.log(c, new Array(1e6), { get x() { throw new Error("getter"); } },
  new Proxy({}, { ownKeys() { throw new Error("trap"); } }), Symbol("s"), 10n, new Map([[c, c]]));
let deep = []; for (let i = 0; i < 100000; i++) deep = [deep];
console.log(deep);
return "logged";

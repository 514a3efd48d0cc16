// category: string-compilation
// expect: ok
// result: ["EvalError","EvalError","EvalError","EvalError"]
const it = [][Symbol.iterator]();
const attempts = [
  () => console.log.constructor("return 1"),
  () => Object.getPrototypeOf(it).next.constructor("return 1"),
  () => Object.getPrototypeOf(function* () {}).constructor.constructor("return 1"),
  () => Object.getPrototypeOf(Object.getPrototypeOf(async function* () {})).constructor.constructor("return 1"),
];
return attempts.map((f) => { try { f(); return "COMPILED"; } catch (e) { return e.name; } });

// category: prototype-pollution
// expect: ok
// result: "polluted"
// Pollutes prototypes reachable from pg functions and errors; the next run sees none of it.
pg.query.__proto__.leak = "fn";
Object.getPrototypeOf(Object.getPrototypeOf(pg.query)).leak2 = "obj";
Error.prototype.toString = () => "hijacked";
Error.prototype.leak = 1;
Object.getPrototypeOf(async function () {}).leak = 1;
String.prototype.leak = 1;
Symbol.prototype.leak = 1;
Iterator.prototype.leak = 1;
Math.random = () => 4;
globalThis.console = { log() {} };
return "polluted";

// Pollute shared prototypes, then use the API (the prelude must not be affected).
Object.prototype.then = function (r) { r(42); };
Array.prototype[Symbol.iterator] = function* () { yield "polluted"; };
JSON.stringify = () => "{\"sql\":\"select 1\"}";
Object.defineProperty(Object.prototype, "sql", { get() { return "select fail"; } });
delete Object.prototype.then;
const r = await pg.core.readQuery({ sql: "select 2" });
return r;

// category: prototype-pollution
// expect: ok
// result: {"n":3,"viaAll":[4,5]}
// Replacing Promise.prototype.then / constructor / species must not stop await on pg.* promises.
const then = Promise.prototype.then;
const species = Object.getOwnPropertyDescriptor(Promise, Symbol.species);
Promise.prototype.then = function () { throw new Error("then hijacked"); };
Object.defineProperty(Promise, Symbol.species, { configurable: true, get() { throw new Error("species hijacked"); } });
const r = await pg.query("select 3 as n");
Promise.prototype.then = then;
Object.defineProperty(Promise, Symbol.species, species);
const all = await Promise.all([pg.query("select 4 as n"), pg.query("select 5 as n")]);
return { n: r.rows[0].n, viaAll: all.map((x) => x.rows[0].n) };

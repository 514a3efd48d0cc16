// category: prototype-pollution
// expect: ok
// result: {"list":[1,2],"nested":{"a":true},"date":"1970-01-01T00:00:00.000Z","map":{"k":"v"}}
// The result converter uses intrinsics captured before user code ran.
const date = new Date(0);
const map = new Map([["k", "v"]]);
delete Object.keys;
delete Object.getOwnPropertyNames;
delete Object.prototype.hasOwnProperty;
delete Array.isArray;
delete Array.prototype.map;
delete Array.prototype[Symbol.iterator];
delete Map.prototype.entries;
delete Map.prototype[Symbol.iterator];
delete globalThis.JSON;
delete globalThis.Reflect;
const r = await pg.query("select 1 as a");
return { list: [1, 2], nested: { a: r.rows[0].a === 1 }, date, map };

// Proxies whose traps call back into user code and the API.
const log = [];
const p = new Proxy({}, {
  get(t, k) { log.push(String(k)); return k === "then" ? undefined : 1; },
  ownKeys() { return ["a", "b"]; },
  getOwnPropertyDescriptor() { return { value: 1, enumerable: true, configurable: true }; },
});
JSON.stringify(p);
await pg.query(p);
const r = await pg.core.readQuery(new Proxy({ sql: "select 1" }, {}));
return { log: log.slice(0, 10), r };

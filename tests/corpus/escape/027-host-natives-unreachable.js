// category: host-surface
// expect: ok
// result: {"ownNames":[],"natives":"undefined","call":"undefined","log":"undefined","fnProps":true}
// The host natives handed to the prelude never appear on reachable objects.
const seen = new Set();
const hits = [];
function walk(o, path, depth) {
  if (o === null || (typeof o !== "object" && typeof o !== "function") || seen.has(o) || depth > 4) return;
  seen.add(o);
  for (const k of Reflect.ownKeys(o)) {
    const name = String(k);
    if (/native|__pgmcp|host|rust|boa/i.test(name)) hits.push(path + "." + name);
    let v;
    try { v = Reflect.getOwnPropertyDescriptor(o, k); } catch (e) { continue; }
    if (v && "value" in v) walk(v.value, path + "." + name, depth + 1);
  }
  walk(Object.getPrototypeOf(o), path + ".__proto__", depth + 1);
}
walk(globalThis, "globalThis", 0);
walk(pg.core, "pg.core", 0);
const fnProps = Object.getOwnPropertyNames(pg.query).every((k) => ["length", "name", "prototype"].includes(k));
return { ownNames: hits, natives: typeof globalThis.natives, call: typeof globalThis.call,
  log: typeof globalThis.log, fnProps };

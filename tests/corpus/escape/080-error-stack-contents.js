// category: error-leaks
// expect: ok
// result: {"mentionsScript":true,"suspicious":[]}
// Stack traces name only the script (and the prelude), never host files or addresses.
function inner() { return new Error("where am I").stack; }
const stacks = [inner(), (() => { try { null.x; } catch (e) { return e.stack; } })(),
  await (async () => { await pg.query("select 1"); return new TypeError("after await").stack; })()];
const bad = /\/work|\/home|\/root|\/usr|\.rs\b|src\/|0x[0-9a-f]{6,}|boa|tokio|rust|JsValue|JsObject|::/i;
return {
  mentionsScript: stacks.every((s) => typeof s === "string" && s.includes("script.js")),
  suspicious: stacks.filter((s) => bad.test(String(s))),
};

// category: exhaustion
// expect: ok
// result: ["RangeError",1]
// timeout: 30000
// Arguments over 8 MB of JSON reject that call with a RangeError before leaving the worker.
// (Serializing 9 MB in a debug build takes seconds, more on a loaded machine.)
const out = [];
const big = "x".repeat(1024).repeat(9 * 1024);
try { await pg.query("select $1::text as v", [big]); out.push("sent"); } catch (e) { out.push(e.name); }
out.push((await pg.query("select 1 as n")).rows[0].n);
return out;

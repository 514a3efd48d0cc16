// category: hostile-arguments
// expect: ok
// result: ["RangeError",1]
// toJSON inflating the arguments past the 8 MB cap rejects the call with a RangeError.
const big = { toJSON() { return "x".repeat(1024).repeat(9 * 1024); } };
const out = [];
try { await pg.query("select $1::text as v", [big]); out.push("sent"); } catch (e) { out.push(e.name); }
out.push((await pg.query("select 1 as n")).rows[0].n);
return out;

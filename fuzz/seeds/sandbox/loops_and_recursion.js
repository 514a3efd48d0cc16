// Limits: recursion, loops, then an await continuation that loops.
function f(n) { return n === 0 ? 0 : 1 + f(n - 1); }
try { f(100000); } catch (e) { console.log(e && e.name); }
await null;
let i = 0;
while (true) { i++; }

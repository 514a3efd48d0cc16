// category: exhaustion
// expect: error INSTRUCTION_LIMIT
// flags: --code-max-loop-iterations 1000000000
// Each call loops briefly, so no single frame hits the loop limit; the instruction budget
// sees the total.
function f() { let s = 0; for (let i = 0; i < 1000; i++) s += i; return s; }
for (let j = 0; j < 1e9; j++) { try { f(); } catch (e) {} }

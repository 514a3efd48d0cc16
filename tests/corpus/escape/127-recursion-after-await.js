// category: exhaustion
// expect: error RECURSION_LIMIT|INSTRUCTION_LIMIT
await pg.query("select 1");
function f() { try { return f(); } catch (e) { return f(); } }
f();
return "escaped";

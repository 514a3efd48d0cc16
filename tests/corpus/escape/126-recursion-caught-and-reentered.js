// category: exhaustion
// expect: error RECURSION_LIMIT|INSTRUCTION_LIMIT
function f() { try { f(); } catch (e) { f(); } }
f();
return "escaped";

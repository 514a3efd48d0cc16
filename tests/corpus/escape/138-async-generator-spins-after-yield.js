// category: exhaustion
// expect: error INSTRUCTION_LIMIT|LOOP_LIMIT|ENGINE_ERROR|UNSETTLED
async function* g() { yield 1; for (;;) {} }
for await (const x of g()) {}
return "escaped";

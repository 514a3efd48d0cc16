// category: exhaustion
// expect: error LOOP_LIMIT|INSTRUCTION_LIMIT|MEMORY_LIMIT
// flags: --code-max-loop-iterations 20000
function* forever() { for (;;) yield 1; }
return [...forever()].length;

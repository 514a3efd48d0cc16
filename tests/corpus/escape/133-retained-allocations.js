// category: exhaustion
// expect: error MEMORY_LIMIT|INSTRUCTION_LIMIT|LOOP_LIMIT|JS_ERROR
// flags: --code-memory-mb 64
const keep = [];
for (;;) keep.push(new Float64Array(1 << 20));

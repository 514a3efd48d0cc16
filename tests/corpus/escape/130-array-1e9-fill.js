// category: exhaustion
// expect: error MEMORY_LIMIT|JS_ERROR|TIMEOUT|INSTRUCTION_LIMIT
// flags: --code-memory-mb 64
// timeout: 3000
return new Array(1e9).fill(0).length;

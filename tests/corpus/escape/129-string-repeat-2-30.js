// category: exhaustion
// expect: error MEMORY_LIMIT|JS_ERROR
// flags: --code-memory-mb 64
return "x".repeat(2 ** 30).length;

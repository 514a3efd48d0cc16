// category: exhaustion
// expect: error MEMORY_LIMIT|JS_ERROR
// flags: --code-memory-mb 64
let s = "x";
for (;;) s += s;

// category: exhaustion
// expect: error INSTRUCTION_LIMIT|LOOP_LIMIT|TIMEOUT|CPU_LIMIT|MEMORY_LIMIT
// timeout: 3000
// Few instructions, lots of native work per instruction.
const s = "ab".repeat(1024).repeat(4096);
let n = 0;
for (;;) n += s.split("").reverse().join("").length;

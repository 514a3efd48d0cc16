// category: exhaustion
// expect: error INSTRUCTION_LIMIT|MEMORY_LIMIT|TIMEOUT|CPU_LIMIT
// timeout: 2000
return Array.from({ length: 3e6 }, (_, i) => 3e6 - i).sort((a, b) => a - b).length;

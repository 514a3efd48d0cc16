// category: exhaustion
// expect: error INSTRUCTION_LIMIT|TIMEOUT|CPU_LIMIT
// timeout: 2000
return /(a+)+$/.test("a".repeat(40) + "b");

// category: exhaustion
// expect: error LOOP_LIMIT|INSTRUCTION_LIMIT
// User code run while the host converts the result is budgeted too.
return { get x() { for (;;) {} } };

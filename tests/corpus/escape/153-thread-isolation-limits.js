// category: exhaustion
// expect: error LOOP_LIMIT|INSTRUCTION_LIMIT
// flags: --sandbox-isolation thread
// In thread isolation the engine budgets are the only brake; state must not cross runs
// either (the follow-up check runs on the same thread-isolated server).
globalThis.__leak = 1;
Object.prototype.polluted = "yes";
for (;;) {}

// category: exhaustion
// expect: error LOOP_LIMIT
while (true) {}

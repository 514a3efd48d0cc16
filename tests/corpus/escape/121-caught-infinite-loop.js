// category: exhaustion
// expect: error LOOP_LIMIT
// The limit error cannot be caught, and a finally block cannot resume the run.
for (;;) {
  try { while (true) {} } catch (e) { continue; } finally { /* nothing */ }
}

// category: exhaustion
// expect: error TOOL_CALL_LIMIT
// flags: --code-max-tool-calls 50
for (;;) {
  try { await pg.query("select 1"); } catch (e) {}
}

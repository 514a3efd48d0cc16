// category: exhaustion
// expect: error INSTRUCTION_LIMIT|LOOP_LIMIT
await pg.query("select 1");
try { for (;;) {} } catch (e) {}
return "escaped";

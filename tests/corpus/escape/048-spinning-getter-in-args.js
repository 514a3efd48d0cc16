// category: hostile-arguments
// expect: error LOOP_LIMIT|INSTRUCTION_LIMIT
// A getter that never returns, run by the prelude during serialization: not catchable.
try {
  await pg.query({ get sql() { for (;;) {} } });
} catch (e) {
  return "caught";
}

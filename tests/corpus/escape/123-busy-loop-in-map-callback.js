// category: exhaustion
// expect: error LOOP_LIMIT|INSTRUCTION_LIMIT
const r = await pg.query("select g from generate_series(1, 3) g");
return r.rows.map(() => { try { while (true) {} } catch (e) { return "caught"; } });

// category: exhaustion
// expect: ok
// result: 44850
// flags: --code-max-in-flight 4 --code-max-tool-calls 400
// 300 concurrent calls through a window of 4 all complete, in order.
const rs = await Promise.all(Array.from({ length: 300 }, (_, i) => pg.query("select $1::int as v", [i])));
return rs.reduce((a, r) => a + r.rows[0].v, 0);

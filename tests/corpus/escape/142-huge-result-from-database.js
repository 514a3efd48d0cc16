// category: exhaustion
// expect: ok-any
// result-truncated: true
// flags: --code-max-result-bytes 100000
const r = await pg.query("select g, repeat('x', 1000) as pad from generate_series(1, 2000) g");
return r.rows;

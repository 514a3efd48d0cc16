// category: thenables
// expect: ok
// result: {"n":8}
// The script's own return value is a thenable that calls pg before settling.
return { then(resolve) { pg.query("select 8 as n").then((r) => resolve({ n: r.rows[0].n })); } };

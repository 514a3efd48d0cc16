// Promise.all over more calls than the in-flight window; some calls fail.
const sqls = ["select 1", "select 2", "select fail", "select 4", "select 5", "select 6"];
const settled = await Promise.allSettled(sqls.map((s) => pg.query(s)));
return settled.map((s) => s.status);

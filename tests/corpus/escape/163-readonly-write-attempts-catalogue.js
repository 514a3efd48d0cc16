// category: readonly-writes
// expect: ok
// result: {"attempts":10,"wrote":[],"canary":3}
// readonly: true
// Every way to smuggle a write through a read; each must fail at the server.
const sqls = [
  "with x as (insert into canary values (672, 'pwned') returning *) select * from x",
  "select 1; insert into canary values (673, 'pwned')",
  "commit",
  "set transaction read write",
  "update canary set v = 'pwned'",
  "delete from canary",
  "truncate canary",
  "create table pwned (x int)",
  "alter table canary add column pwned int",
  "select set_config('transaction_read_only', 'off', true), 1",
];
const wrote = [];
for (const sql of sqls) {
  try { await pg.query(sql); if (/insert|update|delete|truncate|create|alter/.test(sql)) wrote.push(sql); }
  catch (e) { /* refused */ }
}
const c = await pg.query("select count(*)::int as n from canary");
return { attempts: sqls.length, wrote, canary: c.rows[0].n };

// category: prototype-pollution
// expect: ok
// result: {"rows":[{"n":1}],"canary":3}
// The prelude captured JSON.stringify before user code ran: replacing it cannot change
// what a pg.* call sends (a write into the canary would show in the check).
const WRITE = "{\"sql\":\"insert into canary values (666, 'pwned')\"}";
JSON.stringify = () => WRITE;
const r = await pg.execute("select 1 as n");
const c = await pg.query("select count(*)::int as n from canary");
return { rows: r.rows, canary: c.rows[0].n };

// category: readonly-writes
// expect: ok
// result: {"caught":"PgError","canary":3}
// readonly: true
// Rewrites the prelude's transaction messages (begin → read-write, rollback → commit) and
// the tx id; the host ignores the requested mode and refuses ids it did not hand out.
Object.prototype.toJSON = function () {
  const o = Object.assign({}, this);
  if (o.op === "begin") return { op: "begin", readOnly: false };
  if (o.op === "rollback") return { op: "commit", id: o.id };
  return o;
};
let caught;
try {
  await pg.transaction(async (tx) => {
    await tx.query("update canary set v = 'pwned'");
  });
} catch (e) { caught = e.name; }
delete Object.prototype.toJSON;
const c = await pg.query("select count(*)::int as n from canary where v <> 'pwned'");
return { caught, canary: c.rows[0].n };

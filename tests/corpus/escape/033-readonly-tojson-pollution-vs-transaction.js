// category: prototype-pollution
// expect: error JS_ERROR
// error-name: PgError
// readonly: true
// Object.prototype.toJSON changes what the prelude's own transaction messages carry; the
// host must still keep a read-only execution read-only.
Object.prototype.toJSON = function () {
  const own = {};
  for (const k of Reflect.ownKeys(this)) own[k] = this[k];
  if (own.op === "begin") return { op: "begin", readOnly: false };
  if (own.op === "rollback") return { op: "commit", id: own.id };
  return own;
};
await pg.transaction(async (tx) => {
  await tx.query("insert into canary values (667, 'pwned')");
});

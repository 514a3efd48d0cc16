// category: error-leaks
// expect: ok
// result: {"name":"PgError","isError":true,"code":"UNDEFINED_TABLE","sqlstate":"42P01","hasSuccess":false,"stack":"undefined"}
// Everything a PgError carries (the runner checks it for host internals).
try {
  await pg.query("select * from no_such_relation_anywhere");
} catch (e) {
  console.log(JSON.stringify(Object.getOwnPropertyNames(e).map((k) => [k, String(e[k])])));
  return { name: e.name, isError: e instanceof Error, code: e.code, sqlstate: e.sqlstate,
    hasSuccess: "success" in e, stack: typeof e.stack };
}

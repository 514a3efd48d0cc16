// category: string-compilation
// expect: ok
// result: ["PgError","EvalError","EvalError"]
// A PgError (a tool error turned into a JS Error by the host) leads nowhere new.
try {
  await pg.query("select * from no_such_table_here");
  return "no error";
} catch (e) {
  const out = [e.name];
  try { e.constructor.constructor("return 1"); out.push("COMPILED"); } catch (x) { out.push(x.name); }
  try { Object.getPrototypeOf(e).constructor.constructor("return 1"); out.push("COMPILED"); } catch (x) { out.push(x.name); }
  return out;
}

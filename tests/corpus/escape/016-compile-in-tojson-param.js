// category: string-compilation
// expect: ok
// result: "EvalError"
const hostile = { toJSON() { return (0, eval)("42"); } };
try {
  await pg.query("select $1::int as v", [hostile]);
  return "sent";
} catch (e) {
  return e.name;
}

// category: hostile-arguments
// expect: error RECURSION_LIMIT|STACK_OVERFLOW|JS_ERROR
// A toJSON that returns a fresh object holding itself never bottoms out. Each level is a
// native JSON.stringify frame plus a JS call; in a debug build the native stack can run out
// (the worker's stack guard, STACK_OVERFLOW) before the call-depth limit is reached.
const o = { toJSON() { return { a: o }; } };
try {
  await pg.query("select $1::json as v", [o]);
} catch (e) {
  return "caught " + e.name;
}

// category: error-leaks
// expect: ok
// result: "SyntaxError"
// A SyntaxError raised at run time by a built-in (no compilation involved).
try { JSON.parse("{\"a\": }"); } catch (e) { return e.name; }

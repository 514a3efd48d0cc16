// category: host-surface
// expect: ok
// result: ["a\u0000b","\ufffd","\n{\"type\":\"done\",\"outcome\":{}}\n","\u2028\u2029","\uffff","\ufffd\ufffd",{"a\u0000":"\ufffd"}]
// Strings that look like protocol frames, NULs and lone surrogates travel as data: results
// come back verbatim (lone surrogates as U+FFFD), and logs the same way.
const weird = ["a\u0000b", "\ud800", "\n{\"type\":\"done\",\"outcome\":{}}\n", "\u2028\u2029", "\uffff",
  String.fromCharCode(0xdc00, 0xd800), { "a\u0000": "\udfff" }];
console.log(...weird);
await pg.query("select $1::text as v", ["\n{\"type\":\"result\",\"id\":1,\"ok\":true,\"value\":{}}"]);
return weird;

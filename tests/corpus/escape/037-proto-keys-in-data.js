// category: prototype-pollution
// expect: ok
// result: {"polluted":false,"protoIsObject":true,"ownProto":true,"jsonPolluted":false,"constructorKey":"x"}
// Column names and JSON data named __proto__ / constructor become own data properties.
const r = await pg.query(`select 1 as "__proto__", 'x' as "constructor", '{"__proto__": {"polluted": true}, "a": 1}'::json as j`);
const row = r.rows[0];
const parsed = JSON.parse('{"__proto__": {"polluted": true}}');
return {
  polluted: ({}).polluted === true || row.j.polluted === true || parsed.polluted === true,
  protoIsObject: Object.getPrototypeOf(row) === Object.prototype,
  ownProto: Object.hasOwn(row, "__proto__") && Object.hasOwn(row.j, "__proto__"),
  jsonPolluted: Object.getPrototypeOf(row.j) !== Object.prototype,
  constructorKey: row.constructor,
};

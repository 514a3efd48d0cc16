// category: string-compilation
// expect: ok
// result: {"rowProto":"EvalError","rowsMap":"EvalError","rowValue":"EvalError","result":"EvalError","promiseThen":"EvalError","groupMethod":"EvalError","help":"EvalError"}
// Every object a pg.* call hands back leads to Function, and Function refuses strings.
const p = pg.query("select 1 as n, 'x' as s");
const r = await p;
const row = r.rows[0];
const attempts = {
  rowProto: () => Object.getPrototypeOf(row).constructor.constructor("return 1"),
  rowsMap: () => r.rows.map.constructor("return 1"),
  rowValue: () => row.s.constructor.constructor("return 1"),
  result: () => r.constructor.constructor("return 1"),
  promiseThen: () => p.then.constructor("return 1"),
  groupMethod: () => pg.core.readQuery.constructor("return 1"),
  help: () => pg.help.constructor.constructor("return 1"),
};
const out = {};
for (const k of Object.keys(attempts)) {
  try { attempts[k](); out[k] = "COMPILED"; } catch (e) { out[k] = e.name; }
}
return out;

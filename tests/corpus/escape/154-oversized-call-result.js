// category: exhaustion
// expect: ok
// result: {"code":"RESULT_TOO_LARGE","after":1}
// timeout: 30000
// flags: --code-call-max-result-bytes 100000000
// One row bigger than a worker frame (64 MB) but within an operator's raised row cap: the
// host must fail just this call (catchable) rather than lose the bridge to the worker. (With
// the default cap the row's value is cut to 4 MB before it is ever decoded.)
let code = "no error";
try {
  const r = await pg.query("select repeat('x', 65 * 1024 * 1024) as big");
  code = "received " + r.rows[0].big.length;
} catch (e) {
  code = e.code;
}
return { code, after: (await pg.query("select 1 as n")).rows[0].n };

// category: hostile-arguments
// expect: error JS_ERROR
// error-name: RangeError
// A throwing getter on a pg.* argument rejects that call only; uncaught, it ends the run.
await pg.query({ get sql() { throw new RangeError("getter says no"); } });

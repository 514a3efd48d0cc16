// category: thenables
// expect: ok
// result: {"caught":"then getter","after":1}
// A throwing `then` getter met while the host resolves a pg.* promise rejects that promise.
Object.defineProperty(Object.prototype, "then", {
  configurable: true,
  get() { throw new Error("then getter"); },
});
let caught;
try { await pg.query("select 1 as n"); } catch (e) { caught = e.message; }
delete Object.prototype.then;
return { caught, after: (await pg.query("select 1 as n")).rows[0].n };

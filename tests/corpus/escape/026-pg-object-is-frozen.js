// category: host-surface
// expect: ok
// result: {"frozen":true,"proto":null,"assign":"TypeError","delete":"TypeError","define":"TypeError","redefineGlobal":"TypeError","groupFrozen":true,"same":true,"n":1}
// pg cannot be replaced, extended or redefined; its calls keep working.
const out = { frozen: Object.isFrozen(pg), proto: Object.getPrototypeOf(pg) };
const orig = pg.query;
try { pg.query = () => 1; out.assign = "ok"; } catch (e) { out.assign = e.name; }
try { delete pg.query; out.delete = "ok"; } catch (e) { out.delete = e.name; }
try { Object.defineProperty(pg, "extra", { value: 1 }); out.define = "ok"; } catch (e) { out.define = e.name; }
try { Object.defineProperty(globalThis, "pg", { value: {} }); out.redefineGlobal = "ok"; } catch (e) { out.redefineGlobal = e.name; }
out.groupFrozen = Object.isFrozen(pg.core);
out.same = pg.query === orig;
out.n = (await pg.query("select 1 as n")).rows[0].n;
return out;

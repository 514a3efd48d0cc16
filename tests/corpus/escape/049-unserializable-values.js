// category: hostile-arguments
// expect: ok
// result: {"bigint":"TypeError","cycle":"TypeError","string":"INVALID_ARGUMENT","number":"TypeError","symbolParam":[null],"fnParam":[null]}
const out = {};
try { await pg.query("select $1::text as v", [10n]); out.bigint = "sent"; } catch (e) { out.bigint = e.name; }
const cyc = {}; cyc.self = cyc;
try { await pg.core.readQuery(cyc); out.cycle = "sent"; } catch (e) { out.cycle = e.name; }
try { await pg.core.readQuery({ sql: { toString() { return "select 1"; } } }); out.string = "sent"; } catch (e) { out.string = e.code; }
try { await pg.core.readQuery(5); out.number = "sent"; } catch (e) { out.number = e.name; }
out.symbolParam = (await pg.query("select $1::text as v", [Symbol("s")])).rows.map((r) => r.v);
out.fnParam = (await pg.query("select $1::text as v", [() => 1])).rows.map((r) => r.v);
return out;

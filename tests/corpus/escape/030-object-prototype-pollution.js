// category: prototype-pollution
// expect: ok
// result: {"seen":"yes","n":1,"rowsArray":true}
// Pollutes Object.prototype for this run; the follow-up execution must not see it.
Object.prototype.polluted = "yes";
Object.defineProperty(Object.prototype, "sql", { value: "select 666 as n", enumerable: true, writable: true, configurable: true });
Object.prototype.__pgmcp_tx = "tx_0000";
Object.prototype.transactionId = "tx_0000";
const r = await pg.query("select 1 as n");
return { seen: ({}).polluted, n: r.rows[0].n, rowsArray: Array.isArray(r.rows) };

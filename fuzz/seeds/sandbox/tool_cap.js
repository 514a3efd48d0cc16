// More calls than the tool-call cap, from inside try/catch: the cap is uncatchable.
for (let i = 0; i < 100; i++) {
  try { await pg.query("select " + i); } catch (e) { console.log("caught", String(e)); }
}
return "unreachable";

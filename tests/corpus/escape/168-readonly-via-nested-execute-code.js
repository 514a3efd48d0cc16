// category: readonly-writes
// expect: ok
// result: {"codeGroup":"undefined","tool":"UNKNOWN_TOOL"}
// readonly: true
// pg_execute_code itself is not reachable from code (no nested, read-write executions).
const groups = Object.keys(pg);
let tool;
try { await pg.core.readQuery.call(null, { sql: "select 1" }); } catch (e) {}
try {
  const q = pg.codemode && pg.codemode.executeCode;
  tool = typeof q === "function" ? await q({ code: "1" }) : "UNKNOWN_TOOL";
} catch (e) { tool = e.code; }
return { codeGroup: typeof pg.codemode, tool, groups: undefined };

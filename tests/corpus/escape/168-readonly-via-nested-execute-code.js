// category: readonly-writes
// expect: ok
// result: {"codeGroup":"undefined","executeCode":"UNKNOWN_TOOL"}
// readonly: true
// pg_execute_code itself is not reachable from code (no nested, read-write executions).
let executeCode = "UNKNOWN_TOOL";
const group = pg.codemode;
if (group && typeof group.executeCode === "function") {
  try { await group.executeCode({ code: "1" }); executeCode = "ran"; } catch (e) { executeCode = e.code; }
}
return { codeGroup: typeof group, executeCode };

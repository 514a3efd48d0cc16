// category: readonly-writes
// expect: ok
// result: {"execute":"undefined","writeQuery":"undefined","createIndex":"undefined","txExecute":"undefined","commitTool":"undefined","begin":"function"}
// readonly: true
return {
  execute: typeof pg.execute,
  writeQuery: typeof pg.core.writeQuery,
  createIndex: typeof pg.createIndex,
  txExecute: typeof (pg.transactions && pg.transactions.execute),
  commitTool: typeof (pg.transactions && pg.transactions.commit),
  begin: typeof (pg.transactions && pg.transactions.begin),
};

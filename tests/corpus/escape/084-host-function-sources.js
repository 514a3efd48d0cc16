// category: error-leaks
// expect: ok-any
// What user code can learn by printing host-provided functions and objects.
return {
  query: String(pg.query),
  readQuery: Function.prototype.toString.call(pg.core.readQuery),
  transaction: String(pg.transaction),
  log: String(console.log),
  tag: Object.prototype.toString.call(pg),
  groups: Object.keys(pg),
  help: pg.help("core"),
};

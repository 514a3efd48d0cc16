// category: state-persistence
// expect: ok
// result: "tampered"
// pg's functions are not frozen themselves; anything stuck on them lives only in this realm.
pg.query.leak = 1;
pg.core.readQuery.leak = 1;
pg.help.leak = 1;
console.log.leak = 1;
console.extra = () => 1;
globalThis.console = { log: () => {} };
return "tampered";

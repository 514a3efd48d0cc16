// category: thenables
// expect: error UNSETTLED
// readonly: true
// A transaction whose callback never settles: the run ends UNSETTLED and the host rolls
// the open transaction back (checked after every program).
await pg.transaction((tx) => ({ then() { tx.query("select 1"); } }));

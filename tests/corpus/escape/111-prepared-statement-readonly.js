// category: state-persistence
// expect: ok
// result: "READ_ONLY_VIOLATION"
// readonly: true
// SQL-level PREPARE is not transactional: even inside a READ ONLY transaction that is rolled
// back, the prepared statement would stay on the pooled connection for its next user. The
// read-only statement policy refuses PREPARE (and the checkout reset would discard it).
try { await pg.query("prepare leaked_readonly as select 1"); } catch (e) { return e.code; }
return "prepared";

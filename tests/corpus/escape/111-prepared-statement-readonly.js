// category: state-persistence
// expect: ok
// result: "prepared"
// readonly: true
// SQL-level PREPARE is not transactional: even inside a READ ONLY transaction that is rolled
// back, the prepared statement would stay on the pooled connection for its next user.
try { await pg.query("prepare leaked_readonly as select 1"); } catch (e) { return e.code; }
return "prepared";

// category: state-persistence
// expect: ok
// readonly: true
// result: {"guc":"READ_ONLY_VIOLATION","lock":"READ_ONLY_VIOLATION"}
// The same through a read-only execution: reads run in READ ONLY transactions that are
// rolled back, yet set_config(..., false) and session advisory locks would act outside the
// transaction, so the read-only statement policy refuses both functions.
const out: Record<string, string> = {};
try { await pg.query("select set_config('app.leak', '1', false) as v"); out.guc = "ran"; } catch (e: any) { out.guc = e.code; }
try { await pg.query("select pg_try_advisory_lock(4243) as locked"); out.lock = "ran"; } catch (e: any) { out.lock = e.code; }
return out;

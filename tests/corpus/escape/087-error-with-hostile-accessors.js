// category: error-leaks
// expect: error JS_ERROR|LOOP_LIMIT|INSTRUCTION_LIMIT
// An Error whose name/message/stack getters spin or call pg while the host describes it.
const e = new Error("x");
Object.defineProperty(e, "message", { get() { for (;;) {} } });
Object.defineProperty(e, "name", { get() { pg.query("select 1"); return "Hostile"; } });
Object.defineProperty(e, "stack", { get() { throw new Error("no stack for you"); } });
throw e;

// category: thenables
// expect: error INSTRUCTION_LIMIT
// flags: --sandbox-isolation thread --code-max-instructions 300000
// The same cycle on a server thread (thread isolation cannot kill at the deadline, so an
// endless job cycle would keep a server thread spinning; the runner checks that no sandbox
// thread outlives the corpus).
const t = {};
const p = Promise.resolve(t);
t.then = Promise.prototype.then.bind(p);
await t;
return "unreachable";

// category: thenables
// expect: error INSTRUCTION_LIMIT
// flags: --code-max-instructions 300000
// A cycle of promise jobs that runs no bytecode at all: `then` is the native
// Promise.prototype.then bound to a promise fulfilled with the thenable itself. Every job is
// charged against the instruction budget, so the run still ends at the budget (not only at
// the wall-clock deadline).
const t = {};
const p = Promise.resolve(t);
t.then = Promise.prototype.then.bind(p);
await t;
return "unreachable";

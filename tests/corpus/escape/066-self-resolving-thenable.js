// category: thenables
// expect: error INSTRUCTION_LIMIT
// flags: --code-max-instructions 300000
// A thenable that resolves with itself enqueues a job forever; only the instruction budget
// (counted across jobs) ends it.
const t = { then(res) { res(t); } };
await t;
return "unreachable";

// category: thenables
// expect: error INSTRUCTION_LIMIT
// flags: --code-max-instructions 300000
// Each job queues the next: no loop and no recursion, only the job count grows.
function again() { Promise.resolve().then(again); }
again();
await new Promise(() => {});

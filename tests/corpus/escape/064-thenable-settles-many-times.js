// category: thenables
// expect: ok
// result: [1,"a"]
// Only the first settlement counts; later calls to resolve/reject are ignored.
const v = await { then(res, rej) { res(1); res(2); rej(new Error("late")); throw new Error("later"); } };
const w = await new Promise((res, rej) => { res("a"); rej(new Error("x")); });
return [v, w];

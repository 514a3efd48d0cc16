// category: thenables
// expect: ok
// result: 5000
// Thenables that resolve with further thenables: each level is a job, not recursion.
function chain(n) {
  return { then(res) { res(n === 0 ? 5000 : chain(n - 1)); } };
}
return await chain(5000);

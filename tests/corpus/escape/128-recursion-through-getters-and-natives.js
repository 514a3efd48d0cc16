// category: exhaustion
// expect: error RECURSION_LIMIT
const o = { get x() { return [1].map(() => o.x)[0]; } };
return o.x;

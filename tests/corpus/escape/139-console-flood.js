// category: exhaustion
// expect: ok
// result: "flooded"
// logs-truncated: true
for (let i = 0; i < 20000; i++) console.log("line", i, { i });
console.error("x".repeat(1024).repeat(10 * 1024));
return "flooded";

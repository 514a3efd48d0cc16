// A result and logs larger than their caps; a cyclic object; a getter that throws.
for (let i = 0; i < 50; i++) console.log("line", i, "x".repeat(100));
const big = [];
for (let i = 0; i < 2000; i++) big.push({ i, s: "row " + i });
const cyc = { big }; cyc.self = cyc;
Object.defineProperty(cyc, "boom", { enumerable: true, get() { throw new Error("getter"); } });
return cyc;

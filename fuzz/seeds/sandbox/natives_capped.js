// Size-driven built-ins at small sizes (the fuzz harness caps big ones).
const s = "ab".repeat(10).padStart(30, "-").padEnd(40, "+");
const a = Array.from({ length: 100 }, (_, i) => i).sort((x, y) => y - x);
const m = "aaaa".match(/(a+)+$/);
const j = new Array(50).fill(0).join(",");
const t = new Uint8Array(1024).fill(7).reduce((x, y) => x + y, 0);
return [s.length, a[0], m && m[0], j.length, t, Math.max(...a)];

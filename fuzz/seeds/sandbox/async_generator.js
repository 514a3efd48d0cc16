// An async generator that recurses and loops (engine errors inside async generators).
async function* gen(n) {
  while (true) { yield n++; if (n > 5) { for (;;) {} } }
}
const out = [];
for await (const v of gen(0)) out.push(v);
return out;

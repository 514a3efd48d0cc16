// Error objects, stacks and odd throw values: nothing host-side may appear in them.
class MyErr extends Error { constructor(m) { super(m); this.name = "MyErr"; this.extra = { a: 1 }; } }
const e = new Error("x");
console.log(e.stack);
try { null.x; } catch (err) { console.log(err.stack, String(err)); }
try { await pg.schema.describeTable("nope"); } catch (err) { console.log(err.name, err.code, err.stack); }
if (Math.random() < 2) throw new MyErr("custom");

// Plain use of the pg API: typed TypeScript, awaits, a result object.
interface Row { n: number; name: string }
const r = await pg.query("select 3", []);
const rows: Row[] = r.rows as Row[];
console.log("rows", rows.length);
const t = await pg.core.listTables();
return { count: rows.length, tables: t.tables.map((x: { name: string }) => x.name) };

// Which tables are read by sequential scans, and which of their columns look like lookup keys?
interface Advice { table: string; seqScans: number; candidates: string[] }

const tables = await pg.listTables();
const advice: Advice[] = [];
for (const t of tables) {
  const stats = await pg.getTableStats(t.name);
  if (stats.seq_scan > 0 && (stats.idx_scan ?? 0) < stats.seq_scan) {
    const { columns } = await pg.describeTable(t.name);
    advice.push({
      table: t.name,
      seqScans: stats.seq_scan,
      candidates: columns.filter((c: any) => c.name.endsWith("_id")).map((c: any) => c.name),
    });
  }
}
advice.sort((a, b) => b.seqScans - a.seqScans);
advice

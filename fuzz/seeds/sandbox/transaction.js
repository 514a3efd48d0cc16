// pg.transaction with a failing statement inside, then a nested transaction attempt.
try {
  await pg.transaction(async (tx) => {
    await tx.query("select 1");
    await tx.core.writeQuery("insert 1");
    await tx.query("select fail");
  });
} catch (e) { console.log("rolled back:", e.code); }
return await pg.transaction(async (tx) => (await tx.core.listTables()).tables.length);

// category: exhaustion
// expect: error TOOL_CALL_LIMIT
// 10k concurrent calls: queued host-side behind the in-flight window, cut at the call cap.
const rs = await Promise.all(Array.from({ length: 10000 }, (_, i) => pg.query("select $1::int as v", [i])));
return rs.length;

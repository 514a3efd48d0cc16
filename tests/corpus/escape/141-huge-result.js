// category: exhaustion
// expect: ok-any
// result-truncated: true
// An oversized result comes back as a bounded preview, not an error.
return { rows: Array.from({ length: 10000 }, (_, i) => ({ id: i, text: "row " + i })), blob: "z".repeat(1024).repeat(3 * 1024) };

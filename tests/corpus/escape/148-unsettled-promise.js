// category: exhaustion
// expect: error UNSETTLED
await new Promise(() => {});

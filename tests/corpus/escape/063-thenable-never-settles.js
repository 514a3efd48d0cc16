// category: thenables
// expect: error UNSETTLED
await { then() {} };
return "unreachable";

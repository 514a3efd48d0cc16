// category: error-leaks
// expect: error JS_ERROR
// error-name: Error
// error-contains: outer
const inner = new Error("inner");
const outer = new Error("outer", { cause: inner });
inner.cause = outer;
outer.self = outer;
outer.list = [outer, inner];
throw outer;

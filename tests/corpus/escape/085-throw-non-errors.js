// category: error-leaks
// expect: error JS_ERROR
// error-contains: Uncaught
// A thrown proxy whose every trap throws: the host must describe it without leaking.
throw new Proxy({}, {
  get() { throw new Error("get"); },
  ownKeys() { throw new Error("ownKeys"); },
  getPrototypeOf() { throw new Error("proto"); },
  getOwnPropertyDescriptor() { throw new Error("gopd"); },
});

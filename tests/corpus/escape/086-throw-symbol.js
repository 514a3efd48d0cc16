// category: error-leaks
// expect: error JS_ERROR
// error-contains: Symbol(secret)
throw Symbol("secret");

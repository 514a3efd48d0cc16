// category: error-leaks
// expect: error JS_ERROR
// error-contains: truncated
// A thrown 6 MB string (not an Error): the reported message is cut to a bounded size.
throw "s".repeat(1024).repeat(6 * 1024);

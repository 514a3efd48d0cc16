// category: error-leaks
// expect: error JS_ERROR
// max-response-bytes: 2000000
// An uncaught error carrying large extra fields and a huge name.
const e = new Error("fields");
e.payload = "y".repeat(1024).repeat(4 * 1024);
e.rows = Array.from({ length: 20000 }, (_, i) => ({ i }));
e.name = "N".repeat(1024).repeat(3 * 1024);
throw e;

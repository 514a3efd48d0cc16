// category: error-leaks
// expect: error JS_ERROR
// max-response-bytes: 2000000
// An uncaught error with a 6 MB message: the error response must stay bounded like a result.
throw new Error("x".repeat(1024).repeat(6 * 1024));

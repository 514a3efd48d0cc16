// category: error-leaks
// expect: error SYNTAX_ERROR
// error-contains: write the U+FFFD as \uFFFD
// A lone surrogate escape and a backslash before U+FFFD in one string (the transpile fuzz
// target's finding): oxc's codegen panicked on it. Now a positioned SYNTAX_ERROR, and the
// server goes on serving.
const weird = ["a", "\ud800\�x"];
return weird;

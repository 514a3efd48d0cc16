// category: error-leaks
// expect: error SYNTAX_ERROR
const a = 1;
const b = ;

// category: error-leaks
// expect: error SYNTAX_ERROR
// error-contains: Invalid escape sequence
// After `<<` the TypeScript parser guesses type arguments and rewinds; oxc dropped the lexical
// error of the next token and would have run this as `a << "ZZ" << b` (the transpile fuzz
// target found the same with an escape in an identifier, printed as nothing).
const a = 1, b = 2;
return a << "\xZZ" << b;

// category: hostile-arguments
// expect: error JS_ERROR
// error-name: SyntaxError
// pg.help coerces its argument to a string: a throwing Symbol.toPrimitive surfaces as thrown.
pg.help({ [Symbol.toPrimitive]() { throw new SyntaxError("primitive refused"); } });

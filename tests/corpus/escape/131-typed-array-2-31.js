// category: exhaustion
// expect: error JS_ERROR
// error-name: RangeError
return new Uint8Array(2 ** 31).length;

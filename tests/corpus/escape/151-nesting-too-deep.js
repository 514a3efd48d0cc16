// category: exhaustion
// expect: error NESTING_TOO_DEEP
// flags: --code-max-depth 32
return [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]];

// category: host-surface
// expect: ok
// result: []
// Every global must be a known ECMAScript built-in or pg/console.
const allowed = new Set(("AggregateError Array ArrayBuffer BigInt BigInt64Array BigUint64Array " +
  "Boolean DataView Date Error EvalError Float16Array Float32Array Float64Array Function " +
  "Infinity Int16Array Int32Array Int8Array Iterator JSON Map Math NaN Number Object Promise " +
  "Proxy RangeError ReferenceError Reflect RegExp Set String Symbol SyntaxError TypeError " +
  "TypedArray URIError Uint16Array Uint32Array Uint8Array Uint8ClampedArray WeakMap WeakSet " +
  "console decodeURI decodeURIComponent encodeURI encodeURIComponent eval globalThis " +
  "isFinite isNaN parseFloat parseInt pg undefined Symbol(Symbol.toStringTag)").split(" "));
return Reflect.ownKeys(globalThis).map(String).filter((n) => !allowed.has(n));

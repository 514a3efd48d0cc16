// category: state-persistence
// expect: ok
// result: "set"
// Globals of every kind; the follow-up execution (run after every program) must see none.
globalThis.__leak = 1;
globalThis.leakedFn = function () { return "leaked"; };
Object.defineProperty(globalThis, "__hidden", { value: 1, enumerable: false, configurable: false });
globalThis[Symbol.for("leak")] = 1;
var declaredVar = 2;
return "set";

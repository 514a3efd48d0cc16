// category: state-persistence
// expect: ok
// result: "declared"
// Declarations at the top level live inside the wrapper function; try to hoist them out too.
function leakedDeclaration() { return 1; }
class LeakedClass {}
Object.assign(globalThis, { leakedDeclaration, LeakedClass });
Reflect.defineProperty(globalThis, "undefined2", { value: undefined, enumerable: true });
return "declared";

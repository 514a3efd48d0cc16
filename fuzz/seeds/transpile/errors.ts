import fs from "fs";
export const x = 1;
const y = ((((((1))))));
let z = { a: [1, 2, { b: `t${1 + `u${2}`}` }] };
function f(this: Window, ...args: number[]) { return arguments.length; }
label: for (const k in z) { continue label; }
return y +

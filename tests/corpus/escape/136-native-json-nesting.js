// category: exhaustion
// expect: error STACK_OVERFLOW|MEMORY_LIMIT|JS_ERROR|RECURSION_LIMIT|LOOP_LIMIT|INSTRUCTION_LIMIT
// Native recursion inside JSON.parse is not counted by JS budgets; the worker absorbs it.
return JSON.parse("[".repeat(1000).repeat(2000) + "]".repeat(1000).repeat(2000)).length;

// Compiles every tool schema read from stdin (a tools/list `tools` array) with AJV in strict
// mode (JSON Schema 2020-12, the standard formats of ajv-formats), as strict MCP clients do.
// Prints one line per rejected schema and exits 1 if there is any.
"use strict";
const Ajv2020 = require("ajv/dist/2020").default;
const addFormats = require("ajv-formats").default;

const tools = JSON.parse(require("fs").readFileSync(0, "utf8"));
let errors = 0;
let checked = 0;
for (const tool of tools) {
  for (const key of ["inputSchema", "outputSchema"]) {
    if (!tool[key]) continue;
    // A fresh instance per schema: one failure must not hide the next.
    const ajv = new Ajv2020({ strict: true, allErrors: true });
    addFormats(ajv);
    checked++;
    try {
      ajv.compile(tool[key]);
    } catch (e) {
      errors++;
      console.log(`${tool.name} ${key}: ${e.message}`);
    }
  }
}
console.log(`checked ${checked} schemas, ${errors} rejected`);
process.exit(errors ? 1 : 0);

// category: code-loading
// expect: error MODULE_SYNTAX
const fs = require("fs");
return fs.readFileSync("/etc/passwd", "utf8");

// category: code-loading
// expect: error MODULE_SYNTAX
// import() is rejected before anything runs.
const fs = await import("fs");
return typeof fs;

// Injected into the CommonJS bundles by scripts/build.mjs: import.meta.url of the running bundle
// (the executable passes the bundle's own path as __filename), as the ES module sources expect it.
export var import_meta_url = require("node:url").pathToFileURL(__filename).href

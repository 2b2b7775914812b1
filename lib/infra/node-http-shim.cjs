// node:http for the Lambda bundles, as a CommonJS module: see builtinAliases in bundling.ts.
// An ES module import of node:http makes Node build its ES module facade, which reads every export,
// and three of them (WebSocket, CloseEvent, MessageEvent) are getters that load undici: ~20-35 ms of
// a cold start for code that never uses them. esbuild reads a CommonJS module's exports lazily.
module.exports = process.getBuiltinModule('node:http');

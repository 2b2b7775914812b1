// Usage: node source-map-paths.mjs <bundle directory> <project root>
// See sourceMapPathsScript in bundling.ts for why. Plain JavaScript: it runs inside the bundling
// step, before (and without) any TypeScript loader.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';

const [bundleDir, projectRoot] = process.argv.slice(2);
if (!bundleDir || !projectRoot) throw new Error('usage: source-map-paths.mjs <bundle directory> <project root>');
for (const file of readdirSync(bundleDir).filter((name) => name.endsWith('.map'))) {
  const path = join(bundleDir, file);
  const map = JSON.parse(readFileSync(path, 'utf8'));
  map.sources = map.sources.map((source) => relative(projectRoot, resolve(bundleDir, source)).split(sep).join('/'));
  writeFileSync(path, JSON.stringify(map));
}

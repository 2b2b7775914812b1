/** `npm run openapi [-- <file>]`: writes the OpenAPI document (default openapi.json) and the event JSON Schemas. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { domainEventJsonSchemas } from '../lib/events/domain-events';
import { eventJsonSchemas } from '../lib/events/order-events';
import { buildOpenApiDocument } from '../lib/http/openapi';

const file = process.argv[2] ?? 'openapi.json';
writeFileSync(
  file,
  `${JSON.stringify(buildOpenApiDocument({ serverUrl: process.env.API_URL ?? 'http://127.0.0.1:3000' }), null, 2)}\n`,
);
console.log(`wrote ${file}`);
const dir = join('lib', 'events', 'schemas');
mkdirSync(dir, { recursive: true });
// What the order service may send us, and what we publish: one file per detail type.
for (const [detailType, schema] of Object.entries({ ...eventJsonSchemas(), ...domainEventJsonSchemas() })) {
  const path = join(dir, `${detailType}.schema.json`);
  writeFileSync(path, `${JSON.stringify(schema, null, 2)}\n`);
  console.log(`wrote ${path}`);
}

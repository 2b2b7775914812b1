import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildOpenApiDocument } from '../../lib/http/openapi';
import { webSocketContractMarkdown } from '../../lib/realtime/contract';
import { webSocketRouteList } from '../../lib/realtime/routes';

describe('the WebSocket contract in the docs', () => {
  it('is in the README exactly as the route and frame tables make it', () => {
    const readme = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');
    const copy = /<!-- websocket-contract[^>]*-->\n([\s\S]*?)\n<!-- \/websocket-contract -->/.exec(readme)?.[1];
    expect(copy).toBe(webSocketContractMarkdown());
  });

  it('is on the docs page, every route of the table included', () => {
    const description = String(buildOpenApiDocument({ serverUrl: 'http://localhost' }).info.description);
    expect(description).toContain(webSocketContractMarkdown());
    for (const route of webSocketRouteList) expect(description).toContain(`\`${route.routeKey}\``);
  });
});

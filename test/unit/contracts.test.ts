import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { domainEventJsonSchemas, domainEvents } from '../../lib/events/domain-events';
import { eventJsonSchemas, eventRuleList } from '../../lib/events/order-events';

it('publishes one JSON Schema per consumed event, identical to what the zod contracts generate', () => {
  const generated = eventJsonSchemas();
  expect(Object.keys(generated).sort()).toEqual(eventRuleList.map((r) => r.detailType).sort());
  for (const [detailType, schema] of Object.entries(generated)) {
    const published = JSON.parse(readFileSync(join('lib', 'events', 'schemas', `${detailType}.schema.json`), 'utf8'));
    expect(published, `${detailType}: run npm run openapi to regenerate`).toEqual(schema);
  }
});

it('publishes one JSON Schema per published event, identical to what the zod contracts generate', () => {
  const generated = domainEventJsonSchemas();
  expect(Object.keys(generated).sort()).toEqual(Object.keys(domainEvents).sort());
  for (const [detailType, schema] of Object.entries(generated)) {
    const published = JSON.parse(readFileSync(join('lib', 'events', 'schemas', `${detailType}.schema.json`), 'utf8'));
    expect(published, `${detailType}: run npm run openapi to regenerate`).toEqual(schema);
  }
});

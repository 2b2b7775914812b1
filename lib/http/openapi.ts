import * as z from 'zod/mini';
import { webSocketContractMarkdown } from '../realtime/contract';
import { type RouteDefinition, routeList } from './routes';
import { errorSchema, gatewayErrorSchema } from './schemas';

/**
 * The OpenAPI 3.1 document, generated from the route table and its zod schemas: nothing about
 * a route is written twice. Schemas with a `meta({ id })` become components.
 */
const errorDescriptions: Record<number, string> = {
  400: 'Invalid input (nothing was changed)',
  401: "Missing or invalid token (answered by API Gateway's JWT authorizer)",
  403: 'Not allowed (admin routes need the admin group)',
  404: 'Not found, or not visible to the caller (the bodies are identical)',
  409: 'Conflict, such as a closed conversation',
  413: 'Body too large',
  415: 'Body is not JSON',
  422: 'Unknown user ids',
  429: 'Rate limited; see Retry-After',
  500: 'Unexpected error',
  503: 'Database unavailable or resuming; see Retry-After (nothing was changed)',
};

const ref = (id: string) => ({ $ref: `#/components/schemas/${id}` });

function componentSchemas(): Record<string, unknown> {
  const out = z.toJSONSchema(z.globalRegistry, {
    target: 'draft-2020-12',
    io: 'output',
    unrepresentable: 'any',
    uri: (id) => `#/components/schemas/${id}`,
  }) as { schemas: Record<string, Record<string, unknown>> };
  const schemas: Record<string, unknown> = {};
  for (const [id, schema] of Object.entries(out.schemas)) {
    const { $schema: _drop, $id: _id, ...rest } = schema;
    schemas[id] = rest;
  }
  return schemas;
}

function inline(schema: z.ZodMiniType, io: 'input' | 'output'): Record<string, unknown> {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    io,
    unrepresentable: 'any',
    reused: 'inline',
  }) as Record<string, unknown>;
  return rest;
}

function schemaFor(schema: z.ZodMiniType, io: 'input' | 'output') {
  const id = z.globalRegistry.get(schema)?.id;
  return id ? ref(id) : inline(schema, io);
}

function parameters(route: RouteDefinition) {
  const list: unknown[] = [];
  for (const [location, schema] of [
    ['path', route.params],
    ['query', route.query],
  ] as const) {
    if (!schema) continue;
    // What the client sends (input): an instant's pattern, not the normalised UTC string it decodes to.
    const json = inline(schema, 'input') as { properties?: Record<string, unknown>; required?: string[] };
    for (const [name, property] of Object.entries(json.properties ?? {})) {
      const required =
        location === 'path' || ((json.required ?? []).includes(name) && !('default' in (property as object)));
      const { description, ...rest } = property as { description?: string };
      list.push({ name, in: location, required, ...(description ? { description } : {}), schema: rest });
    }
  }
  return list;
}

function operation(route: RouteDefinition) {
  const responses: Record<string, unknown> = {};
  for (const [status, response] of Object.entries(route.responses)) {
    responses[status] = response.schema
      ? {
          description: response.description,
          content: { 'application/json': { schema: schemaFor(response.schema, 'output') } },
        }
      : response.html
        ? { description: response.description, content: { 'text/html': { schema: { type: 'string' } } } }
        : { description: response.description };
  }
  // A public route has no authorizer, so the gateway never answers it 401.
  const gateway = route.access === 'public' ? [] : [401];
  for (const status of [...new Set([400, ...gateway, ...route.errors, 500, 503])].sort()) {
    const schema = status === 401 ? ref('GatewayError') : ref('Error');
    responses[String(status)] = {
      description: errorDescriptions[status] ?? 'Error',
      content: { 'application/json': { schema } },
    };
  }
  return {
    operationId: route.id.replace(/-(\w)/g, (_m, c: string) => c.toUpperCase()),
    summary: route.summary,
    tags: [route.tag],
    'x-access': route.access,
    ...(route.access === 'public' ? { security: [] } : {}),
    'x-rate-limit-class': route.rateLimit,
    parameters: parameters(route),
    ...(route.body
      ? { requestBody: { required: true, content: { 'application/json': { schema: schemaFor(route.body, 'input') } } } }
      : {}),
    responses,
  };
}

export function buildOpenApiDocument(options: { serverUrl: string }) {
  // Touch the error schemas so they are registered even if no route named them.
  void errorSchema;
  void gatewayErrorSchema;
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routeList) {
    paths[route.path] ??= {};
    paths[route.path]![route.method.toLowerCase()] = operation(route);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Order and support messaging API',
      version: '1.0.0',
      description: `Conversations tied to orders, general and support threads, read status and unread counts, and an admin view. Every route needs a Cognito access token but the one-click unsubscribe, whose link carries its own signed token.\n\n## Real-time: the WebSocket API\n\n${webSocketContractMarkdown()}`,
    },
    servers: [{ url: options.serverUrl }],
    security: [{ cognito: [] }],
    paths,
    components: {
      securitySchemes: { cognito: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      schemas: componentSchemas(),
    },
  };
}

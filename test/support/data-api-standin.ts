import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { rewritePlaceholders } from '../../lib/db/placeholders';

/**
 * A test-only stand-in for the Aurora Data API's rest-json operations, in front of a real
 * PostgreSQL. It types parameters the way the service does, so a query that fails on Aurora
 * fails here too:
 * - stringValue is varchar (so `uuid_column = :p` fails without a cast or a UUID typeHint),
 *   longValue bigint, doubleValue float8, booleanValue boolean, blobValue bytea, isNull NULL;
 * - typeHints UUID, TIMESTAMP, DATE, TIME, DECIMAL, JSON give those types;
 * - one statement per call (extended protocol), a 45 s statement timeout, a 1 MiB response cap;
 * - results are records of typed fields with columnMetadata; timestamps are UTC strings without
 *   a zone, int8 comes back as longValue (a JSON number, so past 2^53 it rounds, as on AWS);
 * - transactions through BeginTransaction/CommitTransaction/RollbackTransaction ids.
 * `resumingFor(ms)` makes it answer DatabaseResumingException, as a paused Serverless v2 cluster does.
 */
export interface DataApiStandIn {
  endpoint: string;
  calls: Record<string, number>;
  resumingFor(ms: number): void;
  close(): Promise<void>;
}

const RESPONSE_LIMIT_BYTES = 1024 * 1024;

const hintCasts: Record<string, string> = {
  UUID: 'uuid',
  TIMESTAMP: 'timestamp',
  DATE: 'date',
  TIME: 'time',
  DECIMAL: 'numeric',
  JSON: 'json',
};

interface SqlParameterJson {
  name?: string;
  typeHint?: string;
  value?: {
    stringValue?: string;
    longValue?: number;
    doubleValue?: number;
    booleanValue?: boolean;
    blobValue?: string;
    isNull?: boolean;
    arrayValue?: unknown;
  };
}

class DataApiError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

export async function startDataApiStandIn(connectionString: string, port = 0): Promise<DataApiStandIn> {
  const pool = new pg.Pool({
    connectionString,
    max: 20,
    options: '-c TimeZone=UTC -c statement_timeout=45000',
    // Every value arrives as PostgreSQL's text form; we type it ourselves below.
    types: { getTypeParser: () => (value: string) => value } as never,
  });
  // An idle connection dropped by the server (DROP DATABASE … FORCE at teardown) is not our error.
  pool.on('error', () => {});
  const transactions = new Map<string, pg.PoolClient>();
  const typeNames = new Map<number, string>();
  const calls: Record<string, number> = {};
  let resumingUntil = 0;

  async function typeName(client: pg.PoolClient | pg.Pool, oid: number): Promise<string> {
    let name = typeNames.get(oid);
    if (!name) {
      const { rows } = await client.query<{ typname: string }>('SELECT typname FROM pg_type WHERE oid = $1', [oid]);
      name = rows[0]?.typname ?? 'unknown';
      typeNames.set(oid, name);
    }
    return name;
  }

  async function execute(body: Record<string, unknown>) {
    const parameters = (body.parameters as SqlParameterJson[] | undefined) ?? [];
    const byName = new Map(parameters.map((p) => [p.name ?? '', p]));
    const values: unknown[] = [];
    const indexOf = new Map<string, number>();
    const text = rewritePlaceholders(String(body.sql ?? ''), (placeholder) => {
      if (placeholder.kind !== 'named') {
        throw new DataApiError('BadRequestException', 'ERROR: syntax error: positional parameters are not supported');
      }
      const parameter = byName.get(placeholder.name);
      if (!parameter) {
        throw new DataApiError('BadRequestException', `ERROR: No value specified for parameter: ${placeholder.name}`);
      }
      let index = indexOf.get(placeholder.name);
      if (index === undefined) {
        values.push(toPgValue(parameter));
        index = values.length;
        indexOf.set(placeholder.name, index);
      }
      return `($${index}${castFor(parameter)})`;
    });
    const transactionId = body.transactionId as string | undefined;
    const client = transactionId ? transactions.get(transactionId) : await pool.connect();
    if (!client) throw new DataApiError('NotFoundException', `Transaction ${transactionId} is not found`, 404);
    try {
      const result = await client.query({ text, values, rowMode: 'array', queryMode: 'extended' } as never);
      const fields = (result as pg.QueryResult).fields ?? [];
      // One at a time: a client runs one query at a time (pg 8 queues and warns; pg 9 refuses).
      const names: string[] = [];
      for (const f of fields) names.push(await typeName(client, f.dataTypeID));
      const records = ((result as pg.QueryResult).rows as unknown[][]).map((row) =>
        row.map((value, i) => toField(value as string | null, names[i]!)),
      );
      const isSelect = fields.length > 0;
      return {
        numberOfRecordsUpdated: isSelect ? 0 : ((result as pg.QueryResult).rowCount ?? 0),
        ...(isSelect ? { records } : {}),
        ...(body.includeResultMetadata && isSelect
          ? {
              columnMetadata: fields.map((f, i) => ({
                name: f.name,
                label: f.name,
                typeName: names[i],
                type: 0,
                nullable: 2,
              })),
            }
          : {}),
      };
    } catch (error) {
      if (error instanceof DataApiError) throw error;
      throw new DataApiError('BadRequestException', `ERROR: ${(error as Error).message}`);
    } finally {
      if (!transactionId) client.release();
    }
  }

  async function route(path: string, body: Record<string, unknown>): Promise<unknown> {
    if (Date.now() < resumingUntil) {
      throw new DataApiError(
        'DatabaseResumingException',
        'The Aurora DB instance db-standin is resuming after being auto-paused.',
      );
    }
    switch (path) {
      case '/Execute':
        return execute(body);
      case '/BeginTransaction': {
        const client = await pool.connect();
        await client.query('BEGIN');
        const transactionId = randomBytes(24).toString('base64');
        transactions.set(transactionId, client);
        return { transactionId };
      }
      case '/CommitTransaction':
      case '/RollbackTransaction': {
        const id = String(body.transactionId ?? '');
        const client = transactions.get(id);
        if (!client) throw new DataApiError('NotFoundException', `Transaction ${id} is not found`, 404);
        transactions.delete(id);
        const commit = path === '/CommitTransaction';
        try {
          await client.query(commit ? 'COMMIT' : 'ROLLBACK');
        } finally {
          client.release();
        }
        return { transactionStatus: commit ? 'Transaction Committed' : 'Rollback Complete' };
      }
      default:
        throw new DataApiError('UnknownOperationException', `Unknown operation ${path}`, 404);
    }
  }

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const path = (req.url ?? '').split('?')[0]!;
      calls[path] = (calls[path] ?? 0) + 1;
      try {
        const body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {};
        const out = JSON.stringify(await route(path, body));
        if (Buffer.byteLength(out) > RESPONSE_LIMIT_BYTES) {
          throw new DataApiError('BadRequestException', 'Database returned more than the allowed response size limit');
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(out);
      } catch (error) {
        const e =
          error instanceof DataApiError ? error : new DataApiError('InternalServerErrorException', String(error), 500);
        res
          .writeHead(e.status, { 'content-type': 'application/json', 'x-amzn-errortype': e.type })
          .end(JSON.stringify({ message: e.message }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const { port: actual } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${actual}`,
    calls,
    resumingFor(ms: number) {
      resumingUntil = Date.now() + ms;
    },
    async close() {
      for (const client of transactions.values()) client.release();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await pool.end();
    },
  };
}

function castFor(parameter: SqlParameterJson): string {
  const value = parameter.value ?? {};
  if (value.isNull) return '';
  if (parameter.typeHint && hintCasts[parameter.typeHint]) return `::${hintCasts[parameter.typeHint]}`;
  if (value.stringValue !== undefined) return '::varchar';
  if (value.longValue !== undefined) return '::bigint';
  if (value.doubleValue !== undefined) return '::float8';
  if (value.booleanValue !== undefined) return '::boolean';
  if (value.blobValue !== undefined) return '::bytea';
  throw new DataApiError('BadRequestException', 'Array parameters are not supported');
}

function toPgValue(parameter: SqlParameterJson): unknown {
  const value = parameter.value ?? {};
  if (value.isNull) return null;
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.longValue !== undefined) return String(value.longValue);
  if (value.doubleValue !== undefined) return String(value.doubleValue);
  if (value.booleanValue !== undefined) return value.booleanValue;
  if (value.blobValue !== undefined) return Buffer.from(value.blobValue, 'base64');
  return null;
}

function toField(value: string | null, typeName: string): Record<string, unknown> {
  if (value === null) return { isNull: true };
  switch (typeName) {
    case 'int2':
    case 'int4':
    case 'int8':
    case 'oid':
      return { longValue: Number(value) };
    case 'float4':
    case 'float8':
      return { doubleValue: Number(value) };
    case 'bool':
      return { booleanValue: value === 't' };
    case 'bytea':
      return { blobValue: Buffer.from(value.replace(/^\\x/, ''), 'hex').toString('base64') };
    case 'timestamptz':
      // The service converts zoned types to UTC and drops the zone.
      return { stringValue: value.replace(/\+00(:00)?$/, '') };
    default:
      return { stringValue: value };
  }
}

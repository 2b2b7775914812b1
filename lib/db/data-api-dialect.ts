import {
  BeginTransactionCommand,
  type ColumnMetadata,
  CommitTransactionCommand,
  ExecuteStatementCommand,
  type ExecuteStatementCommandOutput,
  type Field,
  type RDSDataClient,
  RollbackTransactionCommand,
  type SqlParameter,
} from '@aws-sdk/client-rds-data';
import {
  type CompiledQuery,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type QueryResult,
} from 'kysely';
import { rewritePlaceholders } from './placeholders';

/**
 * A Kysely dialect over the Aurora Data API's own commands on `RDSDataClient`.
 *
 * We own this rather than use `kysely-data-api` 2.0.0: that package pins `kysely ^0.27`, needs
 * the aggregated `RDSData` client (which bundles every command into each Lambda), sends bigints
 * through `longValue` (rounded past 2^53) and returns timestamps as zone-less strings. Here:
 * - parameters become `:p1, :p2, …`; strings go as `stringValue` (the service types them as
 *   varchar, so our SQL casts to uuid/jsonb explicitly), Dates as TIMESTAMP, objects as JSON,
 *   bigints as DECIMAL strings;
 * - results are converted to what node-postgres returns for the same column types, so the three
 *   back ends are interchangeable: timestamps → Date (the service sends UTC without a zone),
 *   int8/numeric → string, json/jsonb → parsed value.
 */
export interface DataApiDialectConfig {
  client: RDSDataClient;
  resourceArn: string;
  secretArn: string;
  database: string;
  /**
   * How long to keep retrying while the cluster resumes from auto-pause
   * (DatabaseResumingException: nothing ran, so a retry is safe). 0 disables.
   */
  resumeRetryMs?: number;
}

export class DataApiDialect implements Dialect {
  constructor(private readonly config: DataApiDialectConfig) {}
  createAdapter() {
    return new PostgresAdapter();
  }
  createDriver(): Driver {
    return new DataApiDriver(this.config);
  }
  createQueryCompiler() {
    return new PostgresQueryCompiler();
  }
  // biome-ignore lint/suspicious/noExplicitAny: the signature of Kysely's Dialect interface
  createIntrospector(db: Kysely<any>) {
    return new PostgresIntrospector(db);
  }
}

class DataApiDriver implements Driver {
  constructor(private readonly config: DataApiDialectConfig) {}
  async init(): Promise<void> {}
  async acquireConnection(): Promise<DatabaseConnection> {
    // Each call is stateless HTTPS; a "connection" only carries an open transaction id.
    return new DataApiConnection(this.config);
  }
  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await (connection as DataApiConnection).begin();
  }
  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await (connection as DataApiConnection).commit();
  }
  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await (connection as DataApiConnection).rollback();
  }
  async releaseConnection(): Promise<void> {}
  async destroy(): Promise<void> {}
}

class DataApiConnection implements DatabaseConnection {
  private transactionId: string | undefined;
  constructor(private readonly config: DataApiDialectConfig) {}

  /** Sends a command, retrying with backoff while the cluster is resuming, within the budget. */
  private async send<T>(command: { input: unknown }): Promise<T> {
    const deadline = Date.now() + (this.config.resumeRetryMs ?? 0);
    for (let delay = 250; ; delay = Math.min(delay * 2, 2000)) {
      try {
        return (await this.config.client.send(command as never)) as T;
      } catch (error) {
        const resuming = (error as Error).name === 'DatabaseResumingException';
        if (!resuming || Date.now() + delay > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  async begin(): Promise<void> {
    const { resourceArn, secretArn, database } = this.config;
    const out = await this.send<{ transactionId?: string }>(
      new BeginTransactionCommand({ resourceArn, secretArn, database }),
    );
    this.transactionId = out.transactionId;
  }

  async commit(): Promise<void> {
    const { resourceArn, secretArn } = this.config;
    const transactionId = this.takeTransaction();
    await this.send(new CommitTransactionCommand({ resourceArn, secretArn, transactionId }));
  }

  async rollback(): Promise<void> {
    const { resourceArn, secretArn } = this.config;
    const transactionId = this.takeTransaction();
    await this.send(new RollbackTransactionCommand({ resourceArn, secretArn, transactionId }));
  }

  async executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    const { resourceArn, secretArn, database } = this.config;
    const out = await this.send<ExecuteStatementCommandOutput>(
      new ExecuteStatementCommand({
        resourceArn,
        secretArn,
        database,
        transactionId: this.transactionId,
        includeResultMetadata: true,
        sql: toNamedPlaceholders(compiledQuery.sql),
        parameters: compiledQuery.parameters.map((value, i) => toSqlParameter(`p${i + 1}`, value)),
      }),
    );
    const rows = (out.records ?? []).map((record) => toRow(record, out.columnMetadata ?? [])) as R[];
    return { rows, numAffectedRows: BigInt(out.numberOfRecordsUpdated ?? 0) };
  }

  // biome-ignore lint/correctness/useYield: the interface asks for a stream; the Data API has none, so it throws before yielding
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('The Data API returns whole results; streaming is not supported');
  }

  private takeTransaction(): string {
    const id = this.transactionId;
    if (!id) throw new Error('No Data API transaction is open on this connection');
    this.transactionId = undefined;
    return id;
  }
}

export function toNamedPlaceholders(sql: string): string {
  return rewritePlaceholders(sql, (p) => (p.kind === 'positional' ? `:p${p.index}` : sql.slice(p.start, p.end)));
}

export function toSqlParameter(name: string, value: unknown): SqlParameter {
  if (value === null || value === undefined) return { name, value: { isNull: true } };
  if (typeof value === 'string') return { name, value: { stringValue: value } };
  if (typeof value === 'boolean') return { name, value: { booleanValue: value } };
  if (typeof value === 'number') {
    return Number.isSafeInteger(value)
      ? { name, value: { longValue: value } }
      : { name, value: { doubleValue: value } };
  }
  if (typeof value === 'bigint') return { name, value: { stringValue: value.toString() }, typeHint: 'DECIMAL' };
  if (value instanceof Date) return { name, value: { stringValue: formatTimestamp(value) }, typeHint: 'TIMESTAMP' };
  if (value instanceof Uint8Array) return { name, value: { blobValue: value } };
  return { name, value: { stringValue: JSON.stringify(value) }, typeHint: 'JSON' };
}

/** The Data API's TIMESTAMP format: `YYYY-MM-DD HH:MM:SS[.FFF]`, read as UTC. */
export function formatTimestamp(date: Date): string {
  return date.toISOString().replace('T', ' ').replace('Z', '');
}

function toRow(record: Field[], columns: ColumnMetadata[]): Record<string, unknown> {
  const row: Record<string, unknown> = {};
  record.forEach((field, i) => {
    const column = columns[i];
    row[column?.label ?? column?.name ?? `column${i}`] = fromField(field, column?.typeName ?? '');
  });
  return row;
}

function fromField(field: Field, typeName: string): unknown {
  if (field.isNull) return null;
  if (field.stringValue !== undefined) {
    const type = typeName.toLowerCase();
    if (type === 'timestamptz' || type === 'timestamp') return new Date(`${field.stringValue.replace(' ', 'T')}Z`);
    if (type === 'json' || type === 'jsonb') return JSON.parse(field.stringValue);
    return field.stringValue;
  }
  if (field.longValue !== undefined) {
    // node-postgres returns int8 as a string; keep the back ends alike.
    return typeName.toLowerCase() === 'int8' ? String(field.longValue) : field.longValue;
  }
  if (field.doubleValue !== undefined) return field.doubleValue;
  if (field.booleanValue !== undefined) return field.booleanValue;
  if (field.blobValue !== undefined) return field.blobValue;
  if (field.arrayValue !== undefined) return field.arrayValue;
  return null;
}

import type { CompiledQuery, DatabaseConnection, Dialect, Driver, QueryResult, TransactionSettings } from 'kysely';

/**
 * Counts what each request costs in round trips to the database: every statement, and every
 * BEGIN/COMMIT/ROLLBACK (on the Data API each of those is an HTTPS call of its own).
 * Tests assert these counts so that a regression to N+1 queries fails.
 */
export class StatementCounter {
  statements = 0;
  transactions = 0;
  readonly recent: string[] = [];

  get roundTrips(): number {
    return this.statements + this.transactions;
  }

  reset(): void {
    this.statements = 0;
    this.transactions = 0;
    this.recent.length = 0;
  }

  recordStatement(sql: string): void {
    this.statements += 1;
    if (this.recent.length >= 20) this.recent.shift();
    this.recent.push(sql);
  }
}

/** Wraps any dialect so that its driver reports to a counter. */
export function countingDialect(inner: Dialect, counter: StatementCounter): Dialect {
  return {
    createAdapter: () => inner.createAdapter(),
    createQueryCompiler: () => inner.createQueryCompiler(),
    createIntrospector: (db) => inner.createIntrospector(db),
    createDriver: () => new CountingDriver(inner.createDriver(), counter),
  };
}

class CountingDriver implements Driver {
  constructor(
    private readonly inner: Driver,
    private readonly counter: StatementCounter,
  ) {}
  init() {
    return this.inner.init();
  }
  async acquireConnection(): Promise<DatabaseConnection> {
    const connection = await this.inner.acquireConnection();
    const counter = this.counter;
    return {
      executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
        counter.recordStatement(query.sql);
        return connection.executeQuery<R>(query);
      },
      streamQuery<R>(query: CompiledQuery, chunkSize?: number) {
        counter.recordStatement(query.sql);
        return connection.streamQuery<R>(query, chunkSize);
      },
      // Kysely keeps the driver's own connection object for release; hand back the original.
      ...{ [innerConnection]: connection },
    } as DatabaseConnection;
  }
  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings) {
    this.counter.transactions += 1;
    return this.inner.beginTransaction(unwrap(connection), settings);
  }
  commitTransaction(connection: DatabaseConnection) {
    this.counter.transactions += 1;
    return this.inner.commitTransaction(unwrap(connection));
  }
  rollbackTransaction(connection: DatabaseConnection) {
    this.counter.transactions += 1;
    return this.inner.rollbackTransaction(unwrap(connection));
  }
  releaseConnection(connection: DatabaseConnection) {
    return this.inner.releaseConnection(unwrap(connection));
  }
  destroy() {
    return this.inner.destroy();
  }
}

const innerConnection = Symbol('innerConnection');

function unwrap(connection: DatabaseConnection): DatabaseConnection {
  return (connection as unknown as Record<symbol, DatabaseConnection>)[innerConnection] ?? connection;
}

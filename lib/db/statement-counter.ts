import { AsyncLocalStorage } from 'node:async_hooks';
import type {
  AbortableOperationOptions,
  CompiledQuery,
  DatabaseConnection,
  Dialect,
  Driver,
  QueryResult,
  TransactionSettings,
} from 'kysely';

/**
 * Counts what each request costs in round trips to the database: every statement, and every
 * BEGIN/COMMIT/ROLLBACK (on the Data API each of those is an HTTPS call of its own).
 * Tests assert these counts so that a regression to N+1 queries fails.
 */
export class StatementCounter {
  statements = 0;
  transactions = 0;

  get roundTrips(): number {
    return this.statements + this.transactions;
  }

  reset(): void {
    this.statements = 0;
    this.transactions = 0;
  }
}

/**
 * Work that AWS runs as functions of their own (the outbox relay, the digest sweep) but the local
 * stack runs in its process over the same database handle: run inside `uncounted.run(true, …)`,
 * its statements are not the request's, as they would not be in AWS.
 */
export const uncounted = new AsyncLocalStorage<boolean>();

export interface Interceptor {
  /** Runs instead of each statement; `execute` sends it (or another) to the real connection. */
  statement<R>(
    query: CompiledQuery,
    execute: (query: CompiledQuery) => Promise<QueryResult<R>>,
  ): Promise<QueryResult<R>>;
  /** Told of each BEGIN, COMMIT and ROLLBACK. */
  transaction?(): void;
}

/** Wraps any dialect so that every statement and transaction boundary passes through an interceptor. */
export function interceptingDialect(inner: Dialect, interceptor: Interceptor): Dialect {
  return {
    createAdapter: () => inner.createAdapter(),
    createQueryCompiler: () => inner.createQueryCompiler(),
    createIntrospector: (db) => inner.createIntrospector(db),
    createDriver: () => new InterceptingDriver(inner.createDriver(), interceptor),
  };
}

export function countingDialect(inner: Dialect, counter: StatementCounter): Dialect {
  return interceptingDialect(inner, {
    statement(query, execute) {
      if (!uncounted.getStore()) counter.statements += 1;
      return execute(query);
    },
    transaction() {
      if (!uncounted.getStore()) counter.transactions += 1;
    },
  });
}

/** Kysely hands our wrapper back for transactions and release; the inner driver needs its own connection. */
class InterceptedConnection implements DatabaseConnection {
  constructor(
    readonly inner: DatabaseConnection,
    private readonly interceptor: Interceptor,
  ) {}
  executeQuery<R>(query: CompiledQuery, options?: AbortableOperationOptions): Promise<QueryResult<R>> {
    return this.interceptor.statement(query, (q) => this.inner.executeQuery<R>(q, options));
  }
  streamQuery<R>(
    query: CompiledQuery,
    chunkSize: number,
    options?: AbortableOperationOptions,
  ): AsyncIterableIterator<QueryResult<R>> {
    return this.inner.streamQuery<R>(query, chunkSize, options);
  }
}

class InterceptingDriver implements Driver {
  constructor(
    private readonly inner: Driver,
    private readonly interceptor: Interceptor,
  ) {}
  init() {
    return this.inner.init();
  }
  async acquireConnection(): Promise<DatabaseConnection> {
    return new InterceptedConnection(await this.inner.acquireConnection(), this.interceptor);
  }
  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings) {
    this.interceptor.transaction?.();
    return this.inner.beginTransaction((connection as InterceptedConnection).inner, settings);
  }
  commitTransaction(connection: DatabaseConnection) {
    this.interceptor.transaction?.();
    return this.inner.commitTransaction((connection as InterceptedConnection).inner);
  }
  rollbackTransaction(connection: DatabaseConnection) {
    this.interceptor.transaction?.();
    return this.inner.rollbackTransaction((connection as InterceptedConnection).inner);
  }
  releaseConnection(connection: DatabaseConnection) {
    return this.inner.releaseConnection((connection as InterceptedConnection).inner);
  }
  destroy() {
    return this.inner.destroy();
  }
}

import { RDSDataClient } from '@aws-sdk/client-rds-data';
import { type Dialect, Kysely, PostgresDialect } from 'kysely';
import { DataApiDialect } from './data-api-dialect';
import type { Database } from './schema';
import { countingDialect, StatementCounter } from './statement-counter';

/** Which database the service talks to; chosen from the environment by lib/config.ts. */
export type DatabaseConfig =
  | {
      kind: 'data-api';
      resourceArn: string;
      secretArn: string;
      database: string;
      /** Overrides the service endpoint (the tests' stand-in); the SDK also reads AWS_ENDPOINT_URL_RDS_DATA. */
      endpoint?: string;
      resumeRetryMs?: number;
    }
  | { kind: 'postgres'; connectionString: string; poolSize?: number }
  | { kind: 'pglite'; dataDir?: string };

export interface DatabaseHandle {
  db: Kysely<Database>;
  counter: StatementCounter;
  config: DatabaseConfig;
  close(): Promise<void>;
}

export async function createDatabase(config: DatabaseConfig): Promise<DatabaseHandle> {
  const counter = new StatementCounter();
  const { dialect, close } = await createDialect(config);
  const db = new Kysely<Database>({ dialect: countingDialect(dialect, counter) });
  return {
    db,
    counter,
    config,
    async close() {
      await db.destroy();
      await close();
    },
  };
}

async function createDialect(config: DatabaseConfig): Promise<{ dialect: Dialect; close: () => Promise<void> }> {
  switch (config.kind) {
    case 'data-api': {
      // Our own retry handles resumes; the SDK's would retry other errors blindly.
      const client = new RDSDataClient({ maxAttempts: 1, ...(config.endpoint ? { endpoint: config.endpoint } : {}) });
      const { resourceArn, secretArn, database, resumeRetryMs } = config;
      return {
        dialect: new DataApiDialect({ client, resourceArn, secretArn, database, resumeRetryMs }),
        close: async () => client.destroy(),
      };
    }
    case 'postgres': {
      const { default: pg } = await import('pg');
      const pool = new pg.Pool({ connectionString: config.connectionString, max: config.poolSize ?? 10 });
      // An idle connection the server ends (a restart, a failover, DROP DATABASE … FORCE while the pool
      // is still closing) is discarded by the pool itself and the next query opens another; without a
      // listener the 'error' event would crash the process instead.
      pool.on('error', () => {});
      // Kysely destroys the pool it was given; nothing more to close.
      return { dialect: new PostgresDialect({ pool }), close: async () => {} };
    }
    case 'pglite': {
      const [{ PGlite, types }, { PGliteDialect }] = await Promise.all([
        import('@electric-sql/pglite'),
        import('kysely-pglite-dialect'),
      ]);
      if (config.dataDir) {
        const { mkdirSync } = await import('node:fs');
        mkdirSync(config.dataDir, { recursive: true });
      }
      // int8 and numeric stay strings, as node-postgres returns them, so no value past 2^53 rounds.
      const pglite = new PGlite({
        dataDir: config.dataDir,
        parsers: { [types.INT8]: (v: string) => v, [types.NUMERIC]: (v: string) => v },
      });
      await pglite.waitReady;
      return {
        dialect: new PGliteDialect(pglite),
        close: async () => {
          if (!pglite.closed) await pglite.close();
        },
      };
    }
  }
}

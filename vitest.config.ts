import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

const backend = process.env.TEST_BACKEND ?? 'pglite';

export default defineConfig({
  test: {
    globalSetup: ['test/support/global-setup.ts'],
    include: ['test/**/*.test.ts'],
    // Data API behaviour (resumes) needs the stand-in: those files run with that back end only.
    // The CDK tests do not touch a database: they run once, with the default back end.
    // The randomized concurrency suite needs a server that runs statements concurrently: PostgreSQL
    // itself or through the Data API stand-in, never PGlite.
    exclude: [
      ...(backend === 'data-api' ? [] : ['test/**/*.data-api.test.ts']),
      ...(backend === 'pglite' ? ['test/**/*.concurrency.test.ts'] : []),
      ...(backend === 'pglite' ? [] : ['test/infra/**']),
    ],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // The Data API path signs requests; the stand-in ignores the signature but the SDK needs keys.
    env: {
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_EC2_METADATA_DISABLED: 'true',
      // aws-cdk-lib caches asset fingerprints under the home directory: keep them in the project.
      CDK_HOME: join(import.meta.dirname, '.data', 'cdk-home'),
      HOME: join(import.meta.dirname, '.data', 'cdk-home'),
      // NodejsFunction runs esbuild through npx, whose debug logs would go to ~/.npm.
      npm_config_logs_dir: join(import.meta.dirname, '.data', 'npm-logs'),
      npm_config_update_notifier: 'false',
      // Request logs are checked by test/http/logging.test.ts; elsewhere they would drown the output.
      LOG_LEVEL: 'error',
    },
  },
});

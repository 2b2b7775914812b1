import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    globalSetup: ['test/support/global-setup.ts'],
    include: ['test/**/*.test.ts'],
    // Tests of Data API behaviour (resumes, response caps) need the stand-in, so run with that back end only.
    exclude: process.env.TEST_BACKEND === 'data-api' ? [] : ['test/**/*.data-api.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // The Data API path signs requests; the stand-in ignores the signature but the SDK needs keys.
    env: {
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_EC2_METADATA_DISABLED: 'true',
      // Request logs are checked by test/http/logging.test.ts; elsewhere they would drown the output.
      LOG_LEVEL: 'warn',
    },
  },
});

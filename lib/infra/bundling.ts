import { join } from 'node:path';

/**
 * How every Lambda is bundled, in one place: the CDK stack hands these to NodejsFunction, and the
 * benchmark runs esbuild with the same settings to measure bundle size and cold start.
 */
export const projectRoot = join(import.meta.dirname, '..', '..');

/**
 * Left out of the bundles:
 * - the AWS SDK v3, which the nodejs22.x runtime provides (bundling it adds ~300 KB to every
 *   function and ~40 ms to every cold start);
 * - what only the local stack loads (node-postgres, PGlite): in Lambda the Data API is always used.
 */
export const externalModules = ['@aws-sdk/*', '@smithy/*', 'pg', 'pg-native', '@electric-sql/pglite', 'kysely-pglite-dialect'];

export const esbuildTarget = 'node22';

/** Lets bundled CommonJS code call require() inside an ES module. */
export const esmRequireBanner = "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);";

export function functionEntry(folder: string, name: string): string {
  return join(projectRoot, 'functions', folder, `${name}.ts`);
}

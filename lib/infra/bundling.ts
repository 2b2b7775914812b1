import { join } from 'node:path';

/**
 * How every Lambda is bundled, in one place: the CDK stacks hand these to NodejsFunction, and the
 * benchmark runs esbuild with the same settings to measure bundle size and cold start.
 */
export const projectRoot = join(import.meta.dirname, '..', '..');

/** The Lambda runtime every function runs on (aws-lambda's Runtime.NODEJS_24_X). */
export const lambdaRuntimeName = 'nodejs24.x';

/**
 * Left out of the bundles:
 * - the AWS SDK v3, which the nodejs24.x runtime provides (bundling it adds ~300 KB to every
 *   function and ~40 ms to every cold start);
 * - what only the local stack loads (node-postgres, PGlite): in Lambda the Data API is always used.
 */
export const externalModules = [
  '@aws-sdk/*',
  '@smithy/*',
  'pg',
  'pg-native',
  '@electric-sql/pglite',
  'kysely-pglite-dialect',
];

/** Matches the runtime, so esbuild lowers nothing that Node 24 runs natively. */
export const esbuildTarget = 'node24';

/** Lets bundled CommonJS code call require() inside an ES module. */
export const esmRequireBanner =
  "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);";

export function functionEntry(folder: string, name: string): string {
  return join(projectRoot, 'functions', folder, `${name}.ts`);
}

/**
 * Run after esbuild on every bundle: rewrites the source map's `sources` from paths relative to the
 * bundling directory (which lies under the cloud assembly, wherever `cdk synth` put it) to paths
 * relative to the project root. The asset hash is a hash of the bundle's files, so without this a
 * different output directory (a CI checkout, a test's temporary directory) changed every function.
 */
export const sourceMapPathsScript = join(projectRoot, 'lib', 'infra', 'source-map-paths.mjs');

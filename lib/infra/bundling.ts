import { join } from 'node:path';
import type { BuildOptions } from 'esbuild';

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

/**
 * Imports of node:http (ours in the publisher, @middy/util's) bundled as reads of a CommonJS
 * module (node-http-shim.cjs) instead of ES module imports of the builtin. Node builds a builtin's
 * ES module facade by reading every export, and node:http's WebSocket, CloseEvent and MessageEvent
 * are getters that load undici: measured on one bundle, 34 ms of a 145 ms cold initialisation, for
 * code no function calls. No other builtin the bundles import has a getter that costs more than
 * 3 ms. Absolute paths, so that they resolve from any working directory; they hold for bundling
 * on this machine, as the stacks bundle (esbuild is a dev dependency), not inside the CDK's Docker
 * image, which sees the project under /asset-input.
 */
const nodeHttpShim = join(projectRoot, 'lib', 'infra', 'node-http-shim.cjs');
export const builtinAliases: Record<string, string> = { 'node:http': nodeHttpShim, http: nodeHttpShim };

/** Lets bundled CommonJS code call require() inside an ES module. */
export const esmRequireBanner =
  "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);";

export function functionEntry(folder: string, name: string): string {
  return join(projectRoot, 'functions', folder, `${name}.ts`);
}

/** What NodejsFunction hands esbuild for one function (source maps aside), for builds outside the CDK: the benchmark's. */
export function esbuildOptions(folder: string, name: string, outfile: string): BuildOptions {
  return {
    entryPoints: [functionEntry(folder, name)],
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'node',
    target: esbuildTarget,
    mainFields: ['module', 'main'],
    external: externalModules,
    alias: builtinAliases,
    banner: { js: esmRequireBanner },
    outfile,
    logLevel: 'silent',
  };
}

/**
 * Run after esbuild on every bundle: rewrites the source map's `sources` from paths relative to the
 * bundling directory (which lies under the cloud assembly, wherever `cdk synth` put it) to paths
 * relative to the project root. The asset hash is a hash of the bundle's files, so without this a
 * different output directory (a CI checkout, a test's temporary directory) changed every function.
 */
export const sourceMapPathsScript = join(projectRoot, 'lib', 'infra', 'source-map-paths.mjs');
